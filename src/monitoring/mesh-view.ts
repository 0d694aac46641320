/**
 * The whole mesh as seen from one peer: the newest snapshot received from each peer, forgotten
 * when it has not been refreshed within the TTL. What a dashboard renders.
 */
import { InvalidMessageError } from '../errors.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import { MAX_MESH_VIEW_PEERS, SNAPSHOT_TTL_MS } from './constants.ts'
import { TypedEventEmitter } from './events.ts'
import { decodeSnapshot, validateSnapshot } from './snapshot.ts'
import type { MeshSnapshot, SnapshotCodecOptions } from './snapshot.ts'

export interface MeshViewEvents extends Record<string, unknown> {
  /** a newer snapshot from a peer was taken in */
  'snapshot:updated': MeshSnapshot
  /** a peer's snapshot expired (peer id) */
  'snapshot:expired': string
}

export interface MeshViewInit {
  clock: Clock
  /** forget a peer not heard from for this long (default SNAPSHOT_TTL_MS) */
  ttlMs?: number
  maxPeers?: number
  maxBytes?: number
}

export interface IngestOptions {
  /** the peer the bytes came from (e.g. the gossipsub message's signer): must match snapshot.peerId */
  from?: string
}

export class MeshView extends TypedEventEmitter<MeshViewEvents> {
  private readonly clock: Clock
  private readonly ttlMs: number
  private readonly maxPeers: number
  private readonly codec: SnapshotCodecOptions
  private readonly entries = new Map<string, { snapshot: MeshSnapshot, receivedAt: number }>()
  private timer?: TimerHandle

  constructor (init: MeshViewInit) {
    super()
    this.clock = init.clock
    this.ttlMs = init.ttlMs ?? SNAPSHOT_TTL_MS
    this.maxPeers = init.maxPeers ?? MAX_MESH_VIEW_PEERS
    this.codec = init.maxBytes != null ? { maxBytes: init.maxBytes } : {}
  }

  /** sweeps expired peers on an interval (reads also skip them without it) */
  start (): void {
    if (this.timer != null) return
    this.timer = this.clock.setInterval(() => { this.prune() }, Math.max(1000, Math.floor(this.ttlMs / 2)))
  }

  stop (): void {
    this.clock.clearInterval(this.timer)
    this.timer = undefined
  }

  /**
   * Takes in a snapshot (bytes from the wire, or a decoded one). Returns true when it replaced
   * what we had for that peer, false when it was not newer. Throws the codec's typed errors for
   * bad input, InvalidMessageError when `from` does not match the snapshot's peer.
   */
  ingest (input: Uint8Array | MeshSnapshot, options: IngestOptions = {}): boolean {
    const snapshot = input instanceof Uint8Array ? decodeSnapshot(input, this.codec) : validateSnapshot(input)
    if (options.from != null && options.from !== snapshot.peerId) {
      throw new InvalidMessageError(`snapshot of ${snapshot.peerId} relayed as from ${options.from}`)
    }
    const now = this.clock.now()
    const prev = this.entries.get(snapshot.peerId)
    if (prev != null && now - prev.receivedAt < this.ttlMs) {
      const newer = snapshot.time > prev.snapshot.time || (snapshot.time === prev.snapshot.time && snapshot.seq > prev.snapshot.seq)
      if (!newer) return false
    }
    if (prev == null && this.entries.size >= this.maxPeers) this.evictOldest()
    this.entries.delete(snapshot.peerId)
    this.entries.set(snapshot.peerId, { snapshot, receivedAt: now })
    this.safeDispatchEvent('snapshot:updated', snapshot)
    return true
  }

  get (peerId: string): MeshSnapshot | undefined {
    const e = this.entries.get(peerId)
    if (e == null || this.clock.now() - e.receivedAt >= this.ttlMs) return undefined
    return e.snapshot
  }

  /** the live snapshots, by peer id order */
  snapshots (): MeshSnapshot[] {
    const now = this.clock.now()
    return [...this.entries.values()]
      .filter(e => now - e.receivedAt < this.ttlMs)
      .map(e => e.snapshot)
      .sort((a, b) => a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
  }

  get size (): number {
    return this.snapshots().length
  }

  delete (peerId: string): boolean {
    return this.entries.delete(peerId)
  }

  /** forgets expired peers and returns their ids */
  prune (): string[] {
    const now = this.clock.now()
    const expired: string[] = []
    for (const [peerId, e] of this.entries) {
      if (now - e.receivedAt >= this.ttlMs) expired.push(peerId)
    }
    for (const peerId of expired) {
      this.entries.delete(peerId)
      this.safeDispatchEvent('snapshot:expired', peerId)
    }
    return expired
  }

  private evictOldest (): void {
    // entries are re-inserted on every update, so the first one is the least recently received
    const first = this.entries.keys().next()
    if (first.done !== true) this.entries.delete(first.value)
  }
}
