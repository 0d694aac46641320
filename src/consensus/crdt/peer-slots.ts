/**
 * At most `limit` outbound sync exchanges with one peer at a time; the others wait their turn, in
 * the order they asked. Without it a peer that just connected was sent one stream per doc at
 * once, and libp2p's muxer at the far end aborts the whole connection when more than 10 streams
 * arrive before its side of the connection is set up (`maxEarlyStreams`; that side lags on a
 * loaded machine): a joining peer was cut off by the docs it was to hold, then taken for failed.
 */
import { InvalidArgumentError } from '../../errors.ts'
import { abortReason, throwIfAborted } from '../../util/abort.ts'
import type { PeerId } from './types.ts'

interface PeerQueue {
  running: number
  waiting: Array<() => void>
}

export class PeerSlots {
  private readonly peers = new Map<PeerId, PeerQueue>()

  constructor (readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`a peer needs at least one sync slot, not ${limit}`)
  }

  /** exchanges running with `peer` now */
  running (peer: PeerId): number {
    return this.peers.get(peer)?.running ?? 0
  }

  /** exchanges waiting for a slot with `peer` */
  waiting (peer: PeerId): number {
    return this.peers.get(peer)?.waiting.length ?? 0
  }

  /**
   * resolves with the function that gives the slot back (call it exactly once) as soon as one of
   * `peer`'s slots is free; rejects, holding none, when `signal` fires first
   */
  async acquire (peer: PeerId, signal?: AbortSignal): Promise<() => void> {
    throwIfAborted(signal)
    let q = this.peers.get(peer)
    if (q == null) {
      q = { running: 0, waiting: [] }
      this.peers.set(peer, q)
    }
    const queue = q
    if (queue.running < this.limit) {
      queue.running++
      return this.releaser(peer, queue)
    }
    return await new Promise<() => void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = queue.waiting.indexOf(grant)
        if (i >= 0) queue.waiting.splice(i, 1)
        this.forgetIdle(peer, queue)
        reject(abortReason(signal!))
      }
      // handed a slot by a release (running already counts it): nothing can abort it any more
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort)
        resolve(this.releaser(peer, queue))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      queue.waiting.push(grant)
    })
  }

  private releaser (peer: PeerId, queue: PeerQueue): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = queue.waiting.shift()
      // the slot goes straight to the next in line
      if (next != null) { next(); return }
      queue.running--
      this.forgetIdle(peer, queue)
    }
  }

  private forgetIdle (peer: PeerId, queue: PeerQueue): void {
    if (queue.running === 0 && queue.waiting.length === 0 && this.peers.get(peer) === queue) this.peers.delete(peer)
  }
}
