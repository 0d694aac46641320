/**
 * The text form of gossipsub's `from` peer ids, cached. Gossipsub builds a new PeerId object for
 * every message, and its `toString()` (base58 of the multihash) costs about 10 us each time; the
 * few publishers a topic has map to the same few strings.
 */
import { ORDERING_MAX_SENDERS } from './constants.ts'

export interface PeerIdLike {
  toString: () => string
  toMultihash?: () => { bytes: Uint8Array }
}

export class PeerIdTexts {
  private readonly cache = new Map<string, string>()
  private readonly max: number

  constructor (max = ORDERING_MAX_SENDERS) {
    this.max = max
  }

  /** `peer.toString()`, from the cache when this multihash was seen before */
  textOf (peer: PeerIdLike): string {
    const bytes = peer.toMultihash?.().bytes
    if (bytes == null || bytes.length > 128) return peer.toString()
    // the whole multihash as a latin1 string: an exact key, far cheaper than base58
    const key = String.fromCharCode.apply(null, bytes as unknown as number[])
    let text = this.cache.get(key)
    if (text == null) {
      text = peer.toString()
      if (this.cache.size >= this.max) this.cache.clear()
      this.cache.set(key, text)
    }
    return text
  }
}
