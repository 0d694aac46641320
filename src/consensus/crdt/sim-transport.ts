/**
 * An in-process simulated network implementing DocTransport, for tests and simulations:
 * gossip is delivered asynchronously and dropped with a seeded probability; streams are reliable
 * until the peers are partitioned or one goes offline, which aborts them. Frames larger than
 * MAX_FRAME_BYTES are refused, as a WebRTC data channel would.
 */
import { InvalidArgumentError, UnreachableError } from '../../errors.ts'
import { seededRng, type Rng } from '../../util/prng.ts'
import type { AbortOptions } from '../../util/abort.ts'
import { MAX_FRAME_BYTES } from './constants.ts'
import { joinParts } from './codec.ts'
import type { DocStream, DocTransport, PeerEvent, PeerId } from './types.ts'

export interface SimNetworkInit {
  rng?: Rng
  /** probability that one gossip delivery is lost (0..1) */
  dropRate?: number
}

export interface SimStats {
  gossipDelivered: number
  gossipDropped: number
  framesSent: number
  largestFrameBytes: number
  streamsOpened: number
}

type Handler = (stream: DocStream, from: PeerId) => void

/** the next turn of the event loop (setImmediate where there is one, as in Node) */
const nextTurn: (fn: () => void) => void = typeof globalThis.setImmediate === 'function'
  ? (fn) => { globalThis.setImmediate(fn) }
  : (fn) => { globalThis.setTimeout(fn, 0) }

class SimPeer implements DocTransport {
  readonly subscriptions = new Map<string, Set<(data: Uint8Array, from: PeerId) => void>>()
  readonly handlers = new Map<string, Handler>()
  readonly peerListeners = new Set<(e: PeerEvent) => void>()
  detached = false

  constructor (readonly peerId: PeerId, private readonly net: SimNetwork) {}

  async publish (topic: string, data: Uint8Array, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    if (!this.detached) this.net.deliverGossip(this.peerId, topic, data.slice())
  }

  subscribe (topic: string, handler: (data: Uint8Array, from: PeerId) => void): () => void {
    let set = this.subscriptions.get(topic)
    if (set == null) { set = new Set(); this.subscriptions.set(topic, set) }
    set.add(handler)
    return () => {
      set.delete(handler)
      if (set.size === 0 && this.subscriptions.get(topic) === set) this.subscriptions.delete(topic)
    }
  }

  async openStream (peer: PeerId, protocol: string, options?: AbortOptions): Promise<DocStream> {
    options?.signal?.throwIfAborted()
    return this.net.openStream(this, peer, protocol)
  }

  handle (protocol: string, handler: Handler): () => void {
    this.handlers.set(protocol, handler)
    return () => { if (this.handlers.get(protocol) === handler) this.handlers.delete(protocol) }
  }

  peers (): PeerId[] {
    return this.detached ? [] : this.net.reachableFrom(this.peerId)
  }

  onPeer (listener: (event: PeerEvent) => void): () => void {
    this.peerListeners.add(listener)
    return () => { this.peerListeners.delete(listener) }
  }
}

class SimStreamEnd implements DocStream {
  other!: SimStreamEnd
  private readonly inbox: Uint8Array[] = []
  private ended = false
  private failure: Error | undefined
  private waiter: (() => void) | undefined
  private closedLocal = false
  readonly maxFrameBytes = MAX_FRAME_BYTES

  constructor (private readonly net: SimNetwork, readonly a: PeerId, readonly b: PeerId) {}

  async send (parts: Uint8Array | readonly Uint8Array[], options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    if (this.failure != null) throw this.failure
    if (this.closedLocal) throw new InvalidArgumentError('stream closed for writing')
    const frame = parts instanceof Uint8Array ? parts : joinParts(parts)
    if (frame.byteLength > MAX_FRAME_BYTES) throw new InvalidArgumentError(`frame of ${frame.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`)
    this.net.noteFrame(frame.byteLength)
    const copy = frame.slice()
    this.net.later(() => { this.other.receive(copy) })
  }

  async close (): Promise<void> {
    if (this.closedLocal || this.failure != null) return
    this.closedLocal = true
    this.net.later(() => { this.other.end() })
  }

  abort (err: Error): void {
    this.fail(err)
    this.other.fail(err)
  }

  receive (frame: Uint8Array): void {
    if (this.failure != null || this.ended) return
    this.inbox.push(frame)
    this.wake()
  }

  end (): void {
    this.ended = true
    this.wake()
  }

  fail (err: Error): void {
    if (this.failure != null) return
    this.failure = err
    this.net.forgetStream(this)
    this.wake()
  }

  private wake (): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.inbox.length > 0) { yield this.inbox.shift()!; continue }
      if (this.failure != null) throw this.failure
      if (this.ended) return
      await new Promise<void>(resolve => { this.waiter = resolve })
    }
  }
}

export class SimNetwork {
  readonly rng: Rng
  dropRate: number
  readonly stats: SimStats = { gossipDelivered: 0, gossipDropped: 0, framesSent: 0, largestFrameBytes: 0, streamsOpened: 0 }
  private readonly peersById = new Map<PeerId, SimPeer>()
  private readonly online = new Set<PeerId>()
  private groups: Map<PeerId, number> | undefined
  private readonly streams = new Set<SimStreamEnd>()
  private pending = 0

  constructor (init: SimNetworkInit = {}) {
    this.rng = init.rng ?? seededRng(1)
    this.dropRate = init.dropRate ?? 0
  }

  /** (re)creates the transport of `peer` and puts it online; a previous transport is detached */
  connect (peer: PeerId): DocTransport {
    const old = this.peersById.get(peer)
    if (old != null) old.detached = true
    const before = this.reachability()
    const t = new SimPeer(peer, this)
    this.peersById.set(peer, t)
    this.online.add(peer)
    this.announce(before)
    return t
  }

  /** takes `peer` offline: its streams break and the others see it leave */
  disconnect (peer: PeerId): void {
    const before = this.reachability()
    this.online.delete(peer)
    this.breakStreams()
    this.announce(before)
  }

  isOnline (peer: PeerId): boolean {
    return this.online.has(peer)
  }

  /** only peers in the same group reach each other (peers in no group form one more group) */
  partition (groups: PeerId[][]): void {
    const before = this.reachability()
    this.groups = new Map()
    groups.forEach((g, i) => { for (const p of g) this.groups!.set(p, i) })
    this.breakStreams()
    this.announce(before)
  }

  heal (): void {
    const before = this.reachability()
    this.groups = undefined
    this.announce(before)
  }

  canReach (a: PeerId, b: PeerId): boolean {
    if (a === b || !this.online.has(a) || !this.online.has(b)) return false
    if (this.groups == null) return true
    return (this.groups.get(a) ?? -1) === (this.groups.get(b) ?? -1)
  }

  reachableFrom (peer: PeerId): PeerId[] {
    return [...this.online].filter(p => this.canReach(peer, p)).sort()
  }

  /** resolves once nothing is in flight for a few turns of the event loop */
  async settle (maxTurns = 100_000): Promise<void> {
    let quiet = 0
    for (let i = 0; i < maxTurns && quiet < 3; i++) {
      await new Promise<void>(resolve => { nextTurn(resolve) })
      quiet = this.pending === 0 ? quiet + 1 : 0
    }
  }

  /** @internal */
  later (fn: () => void): void {
    this.pending++
    nextTurn(() => {
      this.pending--
      fn()
    })
  }

  /** @internal */
  noteFrame (bytes: number): void {
    this.stats.framesSent++
    this.stats.largestFrameBytes = Math.max(this.stats.largestFrameBytes, bytes)
  }

  /** @internal */
  deliverGossip (from: PeerId, topic: string, data: Uint8Array): void {
    for (const [id, peer] of this.peersById) {
      if (!this.canReach(from, id) || !peer.subscriptions.has(topic)) continue
      if (this.dropRate > 0 && this.rng.next() < this.dropRate) { this.stats.gossipDropped++; continue }
      this.later(() => {
        if (peer.detached || !this.canReach(from, id)) return
        for (const h of [...(peer.subscriptions.get(topic) ?? [])]) {
          this.stats.gossipDelivered++
          h(data, from)
        }
      })
    }
  }

  /** @internal */
  openStream (local: SimPeer, remote: PeerId, protocol: string): DocStream {
    const target = this.peersById.get(remote)
    if (local.detached || target == null || !this.canReach(local.peerId, remote)) throw new UnreachableError(`peer ${remote} unreachable`)
    const handler = target.handlers.get(protocol)
    if (handler == null) throw new UnreachableError(`peer ${remote} does not speak ${protocol}`)
    const mine = new SimStreamEnd(this, local.peerId, remote)
    const theirs = new SimStreamEnd(this, remote, local.peerId)
    mine.other = theirs
    theirs.other = mine
    this.streams.add(mine)
    this.streams.add(theirs)
    this.stats.streamsOpened++
    this.later(() => {
      if (!this.canReach(local.peerId, remote) || target.detached) { mine.abort(new UnreachableError('connection lost')); return }
      handler(theirs, local.peerId)
    })
    return mine
  }

  /** @internal */
  forgetStream (s: SimStreamEnd): void {
    this.streams.delete(s)
  }

  private breakStreams (): void {
    for (const s of [...this.streams]) {
      if (!this.canReach(s.a, s.b)) s.abort(new UnreachableError('connection lost'))
    }
  }

  private reachability (): Set<string> {
    const pairs = new Set<string>()
    for (const a of this.online) for (const b of this.online) if (a !== b && this.canReach(a, b)) pairs.add(`${a}\u0000${b}`)
    return pairs
  }

  private announce (before: Set<string>): void {
    const after = this.reachability()
    const events: Array<[PeerId, PeerEvent]> = []
    for (const pair of before) {
      if (!after.has(pair)) { const [a, b] = pair.split('\u0000'); events.push([a, { type: 'leave', peer: b }]) }
    }
    for (const pair of after) {
      if (!before.has(pair)) { const [a, b] = pair.split('\u0000'); events.push([a, { type: 'join', peer: b }]) }
    }
    for (const [to, event] of events) {
      const peer = this.peersById.get(to)
      if (peer == null) continue
      this.later(() => { if (!peer.detached) for (const l of [...peer.peerListeners]) l(event) })
    }
  }
}
