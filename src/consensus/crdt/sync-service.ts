/**
 * Runs the catch-up exchanges of one replicator: outbound ones (requested by anti-entropy, peer
 * joins, replica recruitment and waiting flushes; at most one per doc and peer at a time, with a
 * cooldown, and a cap overall; at most MAX_SYNCS_PER_PEER streams open to one peer, the rest
 * queued) and inbound ones on `/agentmesh/sync/1.0.0`.
 */
import { setMaxListeners } from 'main-event'
import { CapacityError, InvalidArgumentError, NotFoundError, NotStartedError, UnauthorizedError, UnreachableError, describeError } from '../../errors.ts'
import { combineSignals, deferred, raceSignal, throwIfAborted, type AbortOptions } from '../../util/abort.ts'
import type { Clock } from '../../util/clock.ts'
import type { Logger } from '../../util/logger.ts'
import { SyncType } from './codec.ts'
import { MAX_CONCURRENT_SYNCS, MAX_SYNCS_PER_PEER, SYNC_PROTOCOL } from './constants.ts'
import type { CrdtMetrics } from './metrics.ts'
import { PeerSlots } from './peer-slots.ts'
import { policyName } from './policy.ts'
import type { ReplicatedDoc, SyncRequest } from './replicated-doc.ts'
import { refuseSync, runSyncExchange, sendSyncMessage, SyncMessageReader, type SyncTarget } from './sync-session.ts'
import type { DocStream, DocTransport, DocWriteGate, PeerId } from './types.ts'
import { admitRemoteUpdates } from './write-gate.ts'

/** what the sync service needs from its replicator */
export interface SyncHost {
  findDoc: (docId: string) => ReplicatedDoc | undefined
  /** opens a doc as a replica at a peer's request, under its conflict policy (may refuse, e.g. CapacityError) */
  openReplica: (docId: string, owner: PeerId, policy: string, signal: AbortSignal) => Promise<ReplicatedDoc>
  /** a member asked us to hold a doc we already replicate: it becomes the owner, its policy ours */
  holdRequested: (rdoc: ReplicatedDoc, owner: PeerId, policy: string, signal: AbortSignal) => Promise<void>
}

export interface SyncServiceInit {
  transport: DocTransport
  host: SyncHost
  clock: Clock
  log: Logger
  metrics: CrdtMetrics
  cooldownMs: number
  timeoutMs: number
  maxMessageBytes: number
  /** membership credentials: what a peer without the right may not change (default: everyone may) */
  writeGate?: DocWriteGate
}

export class SyncService {
  /** exchanges running per `doc\0peer`, both directions */
  private readonly active = new Map<string, number>()
  private activeTotal = 0
  private readonly lastSync = new Map<string, number>()
  private readonly streams = new Set<DocStream>()
  /** outbound exchanges per peer: a burst (one per doc at a join) goes out a few streams at a time */
  private readonly slots = new PeerSlots(MAX_SYNCS_PER_PEER)
  private controller = new AbortController()
  private running = false
  private unhandle: (() => void) | undefined

  constructor (private readonly init: SyncServiceInit) {}

  start (): void {
    if (this.running) return
    this.running = true
    this.controller = new AbortController()
    // every exchange, and every one queued for a peer's slot, listens to it: many at once is normal
    setMaxListeners(Infinity, this.controller.signal)
    this.unhandle = this.init.transport.handle(SYNC_PROTOCOL, (stream, from) => { void this.serve(stream, from) })
  }

  /** aborts every exchange in flight */
  stop (): void {
    if (!this.running) return
    this.running = false
    this.controller.abort()
    this.unhandle?.()
    for (const s of this.streams) s.abort(new NotStartedError('replicator stopped'))
    this.streams.clear()
    this.lastSync.clear()
  }

  /** starts an exchange in the background unless one runs, the cooldown holds, or the cap is reached */
  request (rdoc: ReplicatedDoc, peer: PeerId, request: SyncRequest): void {
    if (!this.running || peer === this.init.transport.peerId || rdoc.isClosed) return
    const key = `${rdoc.id}\u0000${peer}`
    if (this.active.has(key) || this.activeTotal >= MAX_CONCURRENT_SYNCS) return
    const now = this.init.clock.monotonic()
    if (request.force !== true && now - (this.lastSync.get(key) ?? -Infinity) < this.init.cooldownMs) return
    this.lastSync.set(key, now)
    this.run(rdoc, peer, request.hold === true).catch(() => {})
  }

  /** forgets cooldowns that have expired (bounded memory over many docs and peers) */
  pruneCooldowns (): void {
    const now = this.init.clock.monotonic()
    for (const [key, at] of this.lastSync) if (now - at >= this.init.cooldownMs) this.lastSync.delete(key)
  }

  /**
   * catches a doc up: one exchange with each named peer and each desired holder (asked to hold
   * it). Resolves once each has either failed or sent all it had and that is applied here (the
   * exchanges then finish in the background: the peer waits for our DONE and the close, we need
   * not). Rejects with UnreachableError when peers were named and none of them could be synced;
   * with a `quorum`, when fewer than that many could, and then a named peer that refused because it
   * does not hold the doc counts as synced (it holds none of it: a replica set's member never sent it).
   */
  async catchUp (rdoc: ReplicatedDoc, named: PeerId[], desired: PeerId[], options: AbortOptions & { quorum?: number } = {}): Promise<void> {
    const { signal } = options
    const self = this.init.transport.peerId
    const peers = [...new Set([...named, ...desired])].filter(p => p !== self)
    const results = await Promise.allSettled(peers.map(async peer => { await this.caughtUpWith(rdoc, peer, desired.includes(peer), signal) }))
    throwIfAborted(signal)
    const namedSet = new Set(named.filter(p => p !== self))
    if (namedSet.size === 0) return
    const quorum = options.quorum
    const needed = Math.max(1, quorum ?? 1)
    const reached = peers.filter((p, i) => {
      if (!namedSet.has(p)) return false
      const r = results[i]
      return r.status === 'fulfilled' || (quorum != null && r.reason instanceof NotFoundError)
    })
    if (reached.length < needed) {
      throw new UnreachableError(needed === 1
        ? `document ${rdoc.id}: could not sync with any of ${[...namedSet].join(', ')}`
        : `document ${rdoc.id}: synced with ${reached.length} of the ${needed} of ${[...namedSet].join(', ')} it needs`)
    }
  }

  /** runs an exchange with `peer`; resolves once our copy holds what the peer had, rejects if the exchange fails first */
  private async caughtUpWith (rdoc: ReplicatedDoc, peer: PeerId, hold: boolean, signal?: AbortSignal): Promise<void> {
    const caughtUp = deferred<void>()
    // a failure after the catch-up was already logged by run(); nobody else waits for it
    this.run(rdoc, peer, hold, { signal, onCaughtUp: () => { caughtUp.resolve() } }).then(() => { caughtUp.resolve() }, err => { caughtUp.reject(err) })
    await caughtUp.promise
  }

  /**
   * one exchange with `peer` now, resolving when it is over; `hold` asks the peer to become a
   * holder; `onCaughtUp` is called as soon as our copy holds what the peer had
   */
  async run (rdoc: ReplicatedDoc, peer: PeerId, hold: boolean, options: AbortOptions & { onCaughtUp?: () => void } = {}): Promise<void> {
    const { signal } = options
    if (!this.running) throw new NotStartedError('replicator not started')
    const key = `${rdoc.id}\u0000${peer}`
    this.enter(key)
    let release: (() => void) | undefined
    let stream: DocStream | undefined
    let stopTimer: (() => void) | undefined
    try {
      // queued behind the peer's other exchanges (the deadline counts from the stream's opening)
      release = await this.slots.acquire(peer, combineSignals([this.controller.signal, signal]))
      if (rdoc.isClosed) throw new NotStartedError(`document ${rdoc.id} was closed while its sync with ${peer} waited`)
      const s = combineSignals([this.controller.signal, signal], this.init.timeoutMs)
      stopTimer = this.init.metrics.syncSeconds.startTimer()
      stream = await this.init.transport.openStream(peer, SYNC_PROTOCOL, { signal: s })
      this.streams.add(stream)
      const reader = new SyncMessageReader(stream, this.init.maxMessageBytes)
      const policy = rdoc.role === 'member' ? policyName(rdoc.conflictPolicy) : ''
      await sendSyncMessage(stream, { type: SyncType.Open, docId: rdoc.id, hold, owner: rdoc.owner, policy }, { signal: s })
      await raceSignal(runSyncExchange(stream, reader, syncTarget(rdoc, peer, this.init.writeGate, options.onCaughtUp), { signal: s }), s)
      if (hold) rdoc.recruited.add(peer)
      this.init.metrics.syncs.inc(1, { outcome: 'ok' })
    } catch (err) {
      stream?.abort(err as Error)
      this.init.metrics.syncs.inc(1, { outcome: 'error' })
      this.init.log('document %s: sync with %s failed: %s', rdoc.id, peer, describeError(err).message)
      throw err
    } finally {
      stopTimer?.()
      if (stream != null) this.streams.delete(stream)
      release?.()
      this.leave(key)
    }
  }

  private async serve (stream: DocStream, from: PeerId): Promise<void> {
    if (!this.running) { stream.abort(new NotStartedError('replicator stopped')); return }
    if (this.streams.size >= 2 * MAX_CONCURRENT_SYNCS) {
      await refuseSync(stream, new CapacityError(`more than ${2 * MAX_CONCURRENT_SYNCS} syncs in flight`))
      return
    }
    this.streams.add(stream)
    const s = combineSignals([this.controller.signal], this.init.timeoutMs)
    let key: string | undefined
    try {
      const reader = new SyncMessageReader(stream, this.init.maxMessageBytes)
      const open = await raceSignal(reader.next(), s)
      if (open?.type !== SyncType.Open) throw new InvalidArgumentError('sync stream must start with OPEN')
      let rdoc = this.init.host.findDoc(open.docId)
      if (rdoc == null && !open.hold) {
        await refuseSync(stream, new NotFoundError(`document ${open.docId} not held here`), { signal: s })
        return
      }
      const owner = open.owner !== '' ? open.owner : from
      const gate = this.init.writeGate
      if (open.hold && gate !== undefined && !gate.allows(from, open.docId)) {
        gate.refuse(from, open.docId, 'have it held')
        await refuseSync(stream, new UnauthorizedError(`${from} may not have document ${open.docId} held (no valid credential for it)`), { signal: s })
        return
      }
      if (rdoc == null) {
        try {
          rdoc = await this.init.host.openReplica(open.docId, owner, open.policy ?? '', s)
        } catch (err) {
          await refuseSync(stream, err as Error, { signal: s })
          return
        }
      } else if (open.hold && rdoc.role === 'replica') {
        await this.init.host.holdRequested(rdoc, owner, open.policy ?? '', s)
      }
      key = `${rdoc.id}\u0000${from}`
      this.enter(key)
      this.lastSync.set(key, this.init.clock.monotonic())
      await raceSignal(runSyncExchange(stream, reader, syncTarget(rdoc, from, this.init.writeGate), { signal: s }), s)
      this.init.metrics.syncs.inc(1, { outcome: 'ok' })
    } catch (err) {
      // the peer learns why (its update was refused); anything else just ends the stream
      if (err instanceof UnauthorizedError) await refuseSync(stream, err, { signal: s })
      else stream.abort(err as Error)
      const { name, message } = describeError(err)
      this.init.metrics.syncs.inc(1, { outcome: 'error' })
      this.init.log('inbound sync from %s failed: %s: %s', from, name, message)
    } finally {
      this.streams.delete(stream)
      if (key != null) this.leave(key)
    }
  }

  private enter (key: string): void {
    this.active.set(key, (this.active.get(key) ?? 0) + 1)
    this.activeTotal++
  }

  private leave (key: string): void {
    const n = (this.active.get(key) ?? 1) - 1
    if (n <= 0) this.active.delete(key)
    else this.active.set(key, n)
    this.activeTotal--
  }
}

function syncTarget (rdoc: ReplicatedDoc, peer: PeerId, gate: DocWriteGate | undefined, caughtUp?: () => void): SyncTarget {
  return {
    doc: rdoc.doc,
    applyRemote: (update) => {
      admitRemoteUpdates(gate, rdoc.doc, rdoc.id, peer, update, 'sync')
      rdoc.applyRemote(update, peer, 'sync')
    },
    stateAsUpdate: (stateVector) => rdoc.stateAsUpdate(stateVector),
    caughtUp
  }
}
