/**
 * DocReplicator: Yjs documents shared by every peer that asks for the same id. Local edits are
 * gossiped on the doc's topic; peers that missed some catch up with the y-protocols exchange over
 * a stream (on join, on restart, and when the periodic state-vector digests differ). Every holder
 * persists the doc; the peer that asked for it recruits `replicas` more holders, which persist it
 * and acknowledge, so `flush` can wait for a write concern.
 */
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { CapacityError, InvalidArgumentError, NotFoundError, NotStartedError, describeError } from '../../errors.ts'
import { combineSignals, type AbortOptions } from '../../util/abort.ts'
import { raceRunning } from './race.ts'
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.ts'
import { componentLogger, type ComponentLogger, type Logger } from '../../util/logger.ts'
import { systemRng, type Rng } from '../../util/prng.ts'
import type { Store } from '../../storage/types.ts'
import type { Telemetry } from '../../monitoring/types.ts'
import { decodeGossip, encodeGossip, GossipType, StateReason, SyncType, validateDocId, type GossipMessage } from './codec.ts'
import * as C from './constants.ts'
import { HybridLogicalClock } from './hlc.ts'
import type { YKeyValue } from './key-value.ts'
import { createCrdtMetrics, type CrdtMetrics } from './metrics.ts'
import { DocPersistence } from './persistence.ts'
import { selectReplicasByHash } from './placement.ts'
import { ReplicatedDoc, type DocContext, type SyncRequest } from './replicated-doc.ts'
import { refuseSync, runSyncExchange, sendSyncMessage, SyncMessageReader, type SyncTarget } from './sync-session.ts'
import type { Conflict, ConflictOutcome, DocStream, DocTransport, FlushOptions, HolderInfo, PeerEvent, PeerId, ReplicateOptions, SelectReplicas } from './types.ts'

export interface DocReplicatorComponents {
  transport: DocTransport
  /** where every held doc's update log lives; without one nothing is persisted and no acks are sent */
  store?: Store
  telemetry?: Telemetry
  clock?: Clock
  rng?: Rng
  logger?: ComponentLogger
}

export interface DocReplicatorInit {
  /** mesh namespace, part of every topic (default 'default') */
  mesh?: string
  /** default holders besides the asking peer (DEFAULT_REPLICAS) */
  replicas?: number
  /** default placement hook (rendezvous hashing) */
  selectReplicas?: SelectReplicas
  antiEntropyIntervalMs?: number
  syncCooldownMs?: number
  syncTimeoutMs?: number
  maxDocs?: number
  maxUpdateBytes?: number
  maxDocBytes?: number
  maxGossipBytes?: number
  compactAfterUpdates?: number
  compactAfterBytes?: number
}

interface HeldMeta { role: 'member' | 'replica', owner: PeerId, replicas: number }

export class DocReplicator {
  readonly peerId: PeerId
  private readonly transport: DocTransport
  private readonly store?: Store
  private readonly clock: Clock
  private readonly rng: Rng
  private readonly log: Logger
  private readonly metrics: CrdtMetrics
  private readonly hlc: HybridLogicalClock
  private readonly init: Required<Omit<DocReplicatorInit, 'selectReplicas'>> & { selectReplicas: SelectReplicas }
  private readonly docs = new Map<string, ReplicatedDoc>()
  private readonly byDoc = new WeakMap<Y.Doc, ReplicatedDoc>()
  private readonly opening = new Map<string, Promise<ReplicatedDoc>>()
  private readonly unsubscribes = new Map<string, () => void>()
  private readonly active = new Set<string>()
  private readonly lastSync = new Map<string, number>()
  private readonly streams = new Set<DocStream>()
  private readonly ctx: DocContext
  private controller = new AbortController()
  private cleanups: Array<() => void> = []
  private timer: TimerHandle | undefined
  private started = false

  constructor (components: DocReplicatorComponents, init: DocReplicatorInit = {}) {
    this.transport = components.transport
    this.peerId = components.transport.peerId
    this.store = components.store
    this.clock = components.clock ?? systemClock
    this.rng = components.rng ?? systemRng
    this.log = componentLogger('crdt', components.logger)
    this.metrics = createCrdtMetrics(components.telemetry, { pending: () => this.pendingUpdates() })
    this.hlc = new HybridLogicalClock(this.clock, this.peerId)
    this.init = {
      mesh: init.mesh ?? 'default',
      replicas: init.replicas ?? C.DEFAULT_REPLICAS,
      selectReplicas: init.selectReplicas ?? selectReplicasByHash,
      antiEntropyIntervalMs: init.antiEntropyIntervalMs ?? C.ANTI_ENTROPY_INTERVAL_MS,
      syncCooldownMs: init.syncCooldownMs ?? C.SYNC_COOLDOWN_MS,
      syncTimeoutMs: init.syncTimeoutMs ?? C.SYNC_TIMEOUT_MS,
      maxDocs: init.maxDocs ?? C.MAX_DOCS,
      maxUpdateBytes: init.maxUpdateBytes ?? C.MAX_UPDATE_BYTES,
      maxDocBytes: init.maxDocBytes ?? C.MAX_DOC_BYTES,
      maxGossipBytes: Math.min(init.maxGossipBytes ?? C.MAX_GOSSIP_MESSAGE_BYTES, C.MAX_GOSSIP_MESSAGE_BYTES),
      compactAfterUpdates: init.compactAfterUpdates ?? C.COMPACT_AFTER_UPDATES,
      compactAfterBytes: init.compactAfterBytes ?? C.COMPACT_AFTER_BYTES
    }
    this.ctx = {
      selfId: this.peerId,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      hlc: this.hlc,
      limits: { maxUpdateBytes: this.init.maxUpdateBytes, maxDocBytes: this.init.maxDocBytes, maxGossipBytes: this.init.maxGossipBytes },
      publish: (rdoc, message) => { this.publish(rdoc, message) },
      requestSync: (rdoc, peer, request) => { this.requestSync(rdoc, peer, request) },
      desiredReplicas: (rdoc) => this.desiredReplicas(rdoc)
    }
  }

  /** serves the sync protocol, watches peers, reopens every doc held before a restart */
  async start (options?: AbortOptions): Promise<void> {
    if (this.started) return
    this.started = true
    this.controller = new AbortController()
    this.cleanups.push(this.transport.handle(C.SYNC_PROTOCOL, (stream, from) => { void this.serveSync(stream, from) }))
    this.cleanups.push(this.transport.onPeer((e) => { this.handlePeerEvent(e) }))
    this.timer = this.clock.setInterval(() => { this.antiEntropyRound() }, this.init.antiEntropyIntervalMs)
    for (const [docId, meta] of await this.loadHeld(options)) {
      await this.openDoc(docId, meta, {}).catch(err => { this.log.error('could not reopen %s: %s', docId, describeError(err).message) })
    }
  }

  /** stops every sync, timer and subscription; pending writes finish first */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.controller.abort()
    this.clock.clearInterval(this.timer)
    for (const c of this.cleanups.splice(0)) c()
    for (const s of this.streams) s.abort(new NotStartedError('replicator stopped'))
    this.streams.clear()
    for (const unsub of this.unsubscribes.values()) unsub()
    this.unsubscribes.clear()
    await Promise.allSettled([...this.opening.values()])
    await Promise.all([...this.docs.values()].map(async d => { await d.close() }))
    this.docs.clear()
  }

  /**
   * the Y.Doc for `stateId`, shared with every peer that asks for the same id: restored from
   * storage, caught up from peers, edits replicated and persisted. This peer becomes a member
   * and recruits `replicas` holders.
   */
  async replicateState (stateId: string, options: ReplicateOptions = {}): Promise<Y.Doc> {
    if (!this.started) throw new NotStartedError('replicator not started')
    try { validateDocId(stateId) } catch (err) { throw new InvalidArgumentError((err as Error).message) }
    const replicas = options.replicas ?? this.init.replicas
    if (!Number.isInteger(replicas) || replicas < 0) throw new InvalidArgumentError('replicas must be a non-negative integer')
    const rdoc = await raceRunning(this.openDoc(stateId, { role: 'member', owner: this.peerId, replicas }, options), options.signal)
    const wasReplica = rdoc.role !== 'member' || rdoc.replicas !== replicas || rdoc.owner !== this.peerId
    rdoc.role = 'member'
    rdoc.owner = this.peerId
    rdoc.replicas = replicas
    if (options.selectReplicas != null) rdoc.selectReplicas = options.selectReplicas
    if (options.conflictPolicy != null) rdoc.conflictPolicy = options.conflictPolicy
    if (wasReplica) await this.saveHeld(rdoc)
    this.updateDocGauges()
    this.ensureReplicas(rdoc)
    return rdoc.doc
  }

  /** the Y.Doc of a doc held here (as member or replica); NotFoundError otherwise */
  getDoc (docId: string): Y.Doc {
    return this.docFor(docId).doc
  }

  /** resolves once `minReplicas` other holders persisted every update this peer has for the doc */
  async flush (doc: Y.Doc | string, options?: FlushOptions): Promise<void> {
    await this.docFor(doc).flush(options)
  }

  /** a key-value map over the doc's array `name`, under the doc's conflict policy */
  keyValue<V = unknown> (doc: Y.Doc | string, name = 'state'): YKeyValue<V> {
    return this.docFor(doc).keyValue<V>(name)
  }

  /** conflicts recorded and not yet handled, for one doc or all */
  conflicts (docId?: string): Conflict[] {
    const docs = docId == null ? [...this.docs.values()] : [this.docFor(docId)]
    return docs.flatMap(d => [...d.conflicts.values()])
  }

  /** resolves a recorded conflict by its doc's policy and returns the outcome */
  handleConflict (conflictId: string): ConflictOutcome {
    for (const d of this.docs.values()) if (d.conflicts.has(conflictId)) return d.handleConflict(conflictId)
    throw new NotFoundError(`no conflict ${conflictId}`)
  }

  /** other peers' acknowledged persisted state for a doc */
  holders (doc: Y.Doc | string): HolderInfo[] {
    return [...this.docFor(doc).holders.values()]
  }

  docIds (): string[] {
    return [...this.docs.keys()]
  }

  /** runs one catch-up exchange with `peer` now (hold: ask it to become a holder) */
  async syncWith (doc: Y.Doc | string, peer: PeerId, options: AbortOptions & { hold?: boolean } = {}): Promise<void> {
    const rdoc = this.docFor(doc)
    await this.runOutboundSync(rdoc, peer, options.hold === true, options.signal)
  }

  /** stops replicating a doc on this peer; `purge` also deletes its stored updates */
  async release (doc: Y.Doc | string, options: AbortOptions & { purge?: boolean } = {}): Promise<void> {
    const rdoc = this.docFor(doc)
    this.unsubscribes.get(rdoc.id)?.()
    this.unsubscribes.delete(rdoc.id)
    this.docs.delete(rdoc.id)
    await rdoc.close()
    await this.store?.sub('crdt/held/').del(encodeURIComponent(rdoc.id), options)
    if (options.purge === true) await rdoc.persistence?.purge()
    this.updateDocGauges()
  }

  private docFor (doc: Y.Doc | string): ReplicatedDoc {
    const rdoc = typeof doc === 'string' ? this.docs.get(doc) : this.byDoc.get(doc)
    if (rdoc == null || rdoc.isClosed) throw new NotFoundError(`document ${typeof doc === 'string' ? doc : 'given'} is not replicated here`)
    return rdoc
  }

  private async openDoc (docId: string, meta: HeldMeta, options: AbortOptions): Promise<ReplicatedDoc> {
    const existing = this.docs.get(docId)
    if (existing != null) return existing
    let p = this.opening.get(docId)
    if (p == null) {
      if (this.docs.size + this.opening.size >= this.init.maxDocs) throw new CapacityError(`holding ${this.init.maxDocs} documents already`)
      p = this.createDoc(docId, meta, options).finally(() => { this.opening.delete(docId) })
      this.opening.set(docId, p)
    }
    return await p
  }

  private async createDoc (docId: string, meta: HeldMeta, options: AbortOptions): Promise<ReplicatedDoc> {
    let rdoc: ReplicatedDoc | undefined
    const persistence = this.store == null
      ? undefined
      : new DocPersistence(this.store.sub(`crdt/doc/${encodeURIComponent(docId)}/`), {
        log: this.log,
        compactAfterUpdates: this.init.compactAfterUpdates,
        compactAfterBytes: this.init.compactAfterBytes,
        onPersisted: () => { rdoc?.onPersisted() }
      })
    rdoc = new ReplicatedDoc({
      id: docId,
      topic: `agentmesh/${this.init.mesh}/v1/a/${docId}`,
      role: meta.role,
      owner: meta.owner,
      replicas: meta.replicas,
      persistence
    }, this.ctx)
    await rdoc.open(this.rng.int(0x100000000))
    if (!this.started) { await rdoc.close(); throw new NotStartedError('replicator stopped') }
    await this.saveHeld(rdoc, options)
    this.docs.set(docId, rdoc)
    this.byDoc.set(rdoc.doc, rdoc)
    const d = rdoc
    this.unsubscribes.set(docId, this.transport.subscribe(rdoc.topic, (data, from) => { this.handleGossip(d, data, from) }))
    this.updateDocGauges()
    this.publish(rdoc, rdoc.stateMessage(StateReason.Digest))
    if (meta.owner !== this.peerId) this.requestSync(rdoc, meta.owner, { force: true })
    return rdoc
  }

  private handleGossip (rdoc: ReplicatedDoc, data: Uint8Array, from: PeerId): void {
    if (!this.started || rdoc.isClosed || from === this.peerId) return
    let message: GossipMessage
    try {
      message = decodeGossip(data, this.init.maxGossipBytes)
      if (message.type === GossipType.Update) {
        rdoc.applyRemote(message.update, from, 'gossip')
        const store = rdoc.doc.store
        if (store.pendingStructs != null || store.pendingDs != null) this.requestSync(rdoc, from, {})
      } else {
        rdoc.handleState(from, message.reason, message.holder, message.stateVector, message.persisted, message.fingerprint)
      }
    } catch (err) {
      const { name, message: text } = describeError(err)
      this.metrics.invalidMessages.inc(1, { reason: name })
      this.log.error('document %s: refused gossip from %s: %s: %s', rdoc.id, from, name, text)
    }
  }

  private publish (rdoc: ReplicatedDoc, message: GossipMessage): void {
    if (!this.started) return
    this.transport.publish(rdoc.topic, encodeGossip(message), { signal: this.controller.signal }).catch(err => {
      this.log('document %s: publish failed: %s', rdoc.id, describeError(err).message)
    })
  }

  private desiredReplicas (rdoc: ReplicatedDoc): PeerId[] {
    const candidates = this.transport.peers().filter(p => p !== this.peerId)
    const select = rdoc.selectReplicas ?? this.init.selectReplicas
    const allowed = new Set(candidates)
    return select(rdoc.id, candidates, rdoc.replicas).filter(p => allowed.has(p)).slice(0, rdoc.replicas)
  }

  private ensureReplicas (rdoc: ReplicatedDoc): void {
    if (rdoc.role !== 'member') return
    for (const peer of this.desiredReplicas(rdoc)) {
      if (!rdoc.recruited.has(peer)) this.requestSync(rdoc, peer, { hold: true })
    }
  }

  private requestSync (rdoc: ReplicatedDoc, peer: PeerId, request: SyncRequest): void {
    if (!this.started || peer === this.peerId || rdoc.isClosed) return
    const key = `${rdoc.id}\u0000${peer}`
    if (this.active.has(key) || this.active.size >= C.MAX_CONCURRENT_SYNCS) return
    const now = this.clock.monotonic()
    if (request.force !== true && now - (this.lastSync.get(key) ?? -Infinity) < this.init.syncCooldownMs) return
    this.lastSync.set(key, now)
    this.runOutboundSync(rdoc, peer, request.hold === true).catch(() => {})
  }

  private async runOutboundSync (rdoc: ReplicatedDoc, peer: PeerId, hold: boolean, signal?: AbortSignal): Promise<void> {
    if (!this.started) throw new NotStartedError('replicator not started')
    const key = `${rdoc.id}\u0000${peer}`
    this.active.add(key)
    const s = combineSignals([this.controller.signal, signal], this.init.syncTimeoutMs)
    const stopTimer = this.metrics.syncSeconds.startTimer()
    let stream: DocStream | undefined
    try {
      stream = await this.transport.openStream(peer, C.SYNC_PROTOCOL, { signal: s })
      this.streams.add(stream)
      const reader = new SyncMessageReader(stream, this.init.maxDocBytes + 1024)
      await sendSyncMessage(stream, { type: SyncType.Open, docId: rdoc.id, hold, owner: rdoc.owner }, { signal: s })
      await raceRunning(runSyncExchange(stream, reader, this.syncTarget(rdoc, peer), { signal: s }), s)
      if (hold) rdoc.recruited.add(peer)
      this.metrics.syncs.inc(1, { outcome: 'ok' })
    } catch (err) {
      stream?.abort(err as Error)
      this.metrics.syncs.inc(1, { outcome: 'error' })
      this.log('document %s: sync with %s failed: %s', rdoc.id, peer, describeError(err).message)
      throw err
    } finally {
      stopTimer()
      if (stream != null) this.streams.delete(stream)
      this.active.delete(key)
    }
  }

  private async serveSync (stream: DocStream, from: PeerId): Promise<void> {
    if (!this.started) { stream.abort(new NotStartedError('replicator stopped')); return }
    this.streams.add(stream)
    const s = combineSignals([this.controller.signal], this.init.syncTimeoutMs)
    let key: string | undefined
    try {
      const reader = new SyncMessageReader(stream, this.init.maxDocBytes + 1024)
      const open = await raceRunning(reader.next(), s)
      if (open?.type !== SyncType.Open) throw new InvalidArgumentError('sync stream must start with OPEN')
      let rdoc = this.docs.get(open.docId)
      if (rdoc == null && !open.hold) {
        await refuseSync(stream, new NotFoundError(`document ${open.docId} not held here`), { signal: s })
        return
      }
      if (rdoc == null) {
        try {
          rdoc = await this.openDoc(open.docId, { role: 'replica', owner: open.owner || from, replicas: 0 }, { signal: s })
        } catch (err) {
          await refuseSync(stream, err as Error, { signal: s })
          return
        }
      } else if (open.hold && rdoc.role === 'replica' && rdoc.owner !== open.owner && open.owner !== '') {
        rdoc.owner = open.owner
        await this.saveHeld(rdoc, { signal: s })
      }
      key = `${rdoc.id}\u0000${from}`
      this.active.add(key)
      this.lastSync.set(key, this.clock.monotonic())
      await raceRunning(runSyncExchange(stream, reader, this.syncTarget(rdoc, from), { signal: s }), s)
      this.metrics.syncs.inc(1, { outcome: 'ok' })
    } catch (err) {
      stream.abort(err as Error)
      const { name, message } = describeError(err)
      this.metrics.syncs.inc(1, { outcome: 'error' })
      this.log('inbound sync from %s failed: %s: %s', from, name, message)
    } finally {
      this.streams.delete(stream)
      if (key != null) this.active.delete(key)
    }
  }

  private syncTarget (rdoc: ReplicatedDoc, peer: PeerId): SyncTarget {
    return { doc: rdoc.doc, applyRemote: (update) => { rdoc.applyRemote(update, peer, 'sync') } }
  }

  private handlePeerEvent (e: PeerEvent): void {
    if (!this.started) return
    for (const rdoc of this.docs.values()) {
      if (e.type === 'leave') {
        rdoc.recruited.delete(e.peer)
        this.ensureReplicas(rdoc)
        continue
      }
      const desired = rdoc.role === 'member' && this.desiredReplicas(rdoc).includes(e.peer)
      if (desired || e.peer === rdoc.owner || rdoc.holders.has(e.peer)) {
        this.requestSync(rdoc, e.peer, { force: true, hold: desired })
      }
      this.publish(rdoc, rdoc.stateMessage(StateReason.Digest))
      this.ensureReplicas(rdoc)
    }
  }

  private antiEntropyRound (): void {
    if (!this.started) return
    for (const rdoc of this.docs.values()) {
      this.publish(rdoc, rdoc.stateMessage(StateReason.Digest))
      this.ensureReplicas(rdoc)
    }
  }

  private pendingUpdates (): number {
    let n = 0
    for (const d of this.docs.values()) n += d.persistence?.pendingUpdates ?? 0
    return n
  }

  private updateDocGauges (): void {
    let members = 0
    for (const d of this.docs.values()) if (d.role === 'member') members++
    this.metrics.docsHeld.set(members, { role: 'member' })
    this.metrics.docsHeld.set(this.docs.size - members, { role: 'replica' })
  }

  private async saveHeld (rdoc: ReplicatedDoc, options?: AbortOptions): Promise<void> {
    if (this.store == null) return
    const value = encoding.encode(e => {
      encoding.writeVarUint(e, C.CRDT_WIRE_VERSION)
      encoding.writeVarString(e, rdoc.role)
      encoding.writeVarString(e, rdoc.owner)
      encoding.writeVarUint(e, rdoc.replicas)
    })
    await this.store.sub('crdt/held/').put(encodeURIComponent(rdoc.id), value, { sync: true, signal: options?.signal })
  }

  private async loadHeld (options?: AbortOptions): Promise<Array<[string, HeldMeta]>> {
    if (this.store == null) return []
    const out: Array<[string, HeldMeta]> = []
    for await (const [key, value] of this.store.sub('crdt/held/').entries()) {
      options?.signal?.throwIfAborted()
      try {
        const d = decoding.createDecoder(value)
        if (decoding.readVarUint(d) !== C.CRDT_WIRE_VERSION) throw new Error('unknown version')
        const role = decoding.readVarString(d) === 'member' ? 'member' : 'replica'
        out.push([decodeURIComponent(key), { role, owner: decoding.readVarString(d), replicas: decoding.readVarUint(d) }])
      } catch (err) {
        this.log.error('skipping unreadable held-doc record %s: %s', key, describeError(err).message)
      }
    }
    return out
  }
}

export function createDocReplicator (components: DocReplicatorComponents, init?: DocReplicatorInit): DocReplicator {
  return new DocReplicator(components, init)
}
