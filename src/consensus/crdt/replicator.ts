/**
 * DocReplicator: Yjs documents shared by every peer that asks for the same id. Local edits are
 * gossiped on the doc's topic; peers that missed some catch up with the y-protocols exchange over
 * a stream (on join, on restart, and when the periodic state-vector digests differ). Every holder
 * persists the doc; the peer that asked for it recruits `replicas` more holders, which persist it
 * and acknowledge, so `flush` can wait for a write concern.
 */
import * as Y from 'yjs'
import { CapacityError, InvalidArgumentError, NotFoundError, NotStartedError, StorageError, UnreachableError, describeError } from '../../errors.ts'
import { throwIfAborted, type AbortOptions, raceSignal } from '../../util/abort.ts'
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.ts'
import { componentLogger, type ComponentLogger, type Logger } from '../../util/logger.ts'
import { systemRng, type Rng } from '../../util/prng.ts'
import type { Store } from '../../storage/types.ts'
import type { Telemetry } from '../../monitoring/types.ts'
import { decodeGossip, encodeGossip, GossipType, StateReason, validateDocId, type GossipMessage } from './codec.ts'
import * as C from './constants.ts'
import { HybridLogicalClock } from './hlc.ts'
import { docLogPrefix, HeldRegistry, type HeldMeta } from './held-registry.ts'
import type { YKeyValue } from './key-value.ts'
import { createCrdtMetrics, type CrdtMetrics } from './metrics.ts'
import { DocPersistence } from './persistence.ts'
import { selectReplicasByHash } from './placement.ts'
import { ReplicatedDoc, type DocContext } from './replicated-doc.ts'
import { SyncService } from './sync-service.ts'
import type { Conflict, ConflictOutcome, DocTransport, FlushOptions, HolderInfo, PeerEvent, PeerId, ReplicateOptions, SelectReplicas } from './types.ts'

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


/** events of a DocReplicator, dispatched as CustomEvents */
export interface DocReplicatorEvents {
  /** concurrent writes of a key under an lww or custom policy; resolve with handleConflict(detail.id) */
  'conflict:detected': CustomEvent<Conflict>
}

export class DocReplicator extends EventTarget {
  readonly peerId: PeerId
  private readonly transport: DocTransport
  private readonly store?: Store
  private readonly held?: HeldRegistry
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
  private readonly sync: SyncService
  private readonly ctx: DocContext
  private controller = new AbortController()
  private cleanups: Array<() => void> = []
  private timer: TimerHandle | undefined
  private started = false

  constructor (components: DocReplicatorComponents, init: DocReplicatorInit = {}) {
    super()
    this.transport = components.transport
    this.peerId = components.transport.peerId
    this.store = components.store
    this.clock = components.clock ?? systemClock
    this.rng = components.rng ?? systemRng
    this.log = componentLogger('crdt', components.logger)
    this.held = this.store == null ? undefined : new HeldRegistry(this.store, this.log)
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
      requestSync: (rdoc, peer, request) => { this.sync.request(rdoc, peer, request) },
      desiredReplicas: (rdoc) => this.desiredReplicas(rdoc),
      conflictDetected: (conflict) => { this.dispatchEvent(new CustomEvent('conflict:detected', { detail: conflict })) }
    }
    this.sync = new SyncService({
      transport: this.transport,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      cooldownMs: this.init.syncCooldownMs,
      timeoutMs: this.init.syncTimeoutMs,
      maxMessageBytes: this.init.maxDocBytes + 1024,
      host: {
        findDoc: (docId) => this.docs.get(docId),
        openReplica: async (docId, owner, signal) => await this.openDoc(docId, { role: 'replica', owner, replicas: 0 }, { signal }),
        ownerChanged: async (rdoc, owner, signal) => { rdoc.owner = owner; await this.saveHeld(rdoc, { signal }) }
      }
    })
  }

  /** serves the sync protocol, watches peers, reopens every doc held before a restart */
  async start (options?: AbortOptions): Promise<void> {
    if (this.started) return
    this.started = true
    this.controller = new AbortController()
    this.sync.start()
    this.cleanups.push(this.transport.onPeer((e) => { this.handlePeerEvent(e) }))
    this.timer = this.clock.setInterval(() => { this.antiEntropyRound() }, this.init.antiEntropyIntervalMs)
    for (const [docId, meta] of await this.held?.load(options) ?? []) {
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
    this.sync.stop()
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
    const catchUp = options.awaitSync === true || options.syncFrom != null
    // a doc about to catch up stays quiet until it has: a digest now would make every peer that
    // is ahead push the same state that the catch-up pulls
    const rdoc = await raceSignal(this.openDoc(stateId, { role: 'member', owner: this.peerId, replicas }, { ...options, quiet: catchUp }), options.signal)
    const wasReplica = rdoc.role !== 'member' || rdoc.replicas !== replicas || rdoc.owner !== this.peerId
    rdoc.role = 'member'
    rdoc.owner = this.peerId
    rdoc.replicas = replicas
    if (options.selectReplicas != null) rdoc.selectReplicas = options.selectReplicas
    if (options.conflictPolicy != null) rdoc.conflictPolicy = options.conflictPolicy
    if (wasReplica) await this.saveHeld(rdoc)
    this.updateDocGauges()
    if (catchUp) {
      try {
        await this.catchUp(rdoc, options.syncFrom ?? [], options.signal)
      } finally {
        this.publish(rdoc, rdoc.stateMessage(StateReason.Digest))
      }
    }
    this.ensureReplicas(rdoc)
    return rdoc.doc
  }

  /** syncs with the named peers and the selected holders; fails only if named peers all failed */
  private async catchUp (rdoc: ReplicatedDoc, named: PeerId[], signal?: AbortSignal): Promise<void> {
    const desired = this.desiredReplicas(rdoc)
    const peers = [...new Set([...named, ...desired])].filter(p => p !== this.peerId)
    const results = await Promise.allSettled(peers.map(async peer => {
      await this.sync.run(rdoc, peer, desired.includes(peer), signal)
      if (desired.includes(peer)) rdoc.recruited.add(peer)
    }))
    throwIfAborted(signal)
    const namedSet = new Set(named.filter(p => p !== this.peerId))
    if (namedSet.size > 0 && !peers.some((p, i) => namedSet.has(p) && results[i].status === 'fulfilled')) {
      throw new UnreachableError(`document ${rdoc.id}: could not sync with any of ${[...namedSet].join(', ')}`)
    }
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
    await this.sync.run(rdoc, peer, options.hold === true, options.signal)
  }

  /** stops replicating a doc on this peer; `purge` also deletes its stored updates */
  async release (doc: Y.Doc | string, options: AbortOptions & { purge?: boolean } = {}): Promise<void> {
    const rdoc = this.docFor(doc)
    this.unsubscribes.get(rdoc.id)?.()
    this.unsubscribes.delete(rdoc.id)
    this.docs.delete(rdoc.id)
    await rdoc.close()
    await this.held?.delete(rdoc.id, options)
    if (options.purge === true) await rdoc.persistence?.purge()
    this.updateDocGauges()
  }

  private docFor (doc: Y.Doc | string): ReplicatedDoc {
    const rdoc = typeof doc === 'string' ? this.docs.get(doc) : this.byDoc.get(doc)
    if (rdoc == null || rdoc.isClosed) throw new NotFoundError(`document ${typeof doc === 'string' ? doc : 'given'} is not replicated here`)
    return rdoc
  }

  /** `quiet`: a newly opened doc publishes no digest (the caller catches up first) */
  private async openDoc (docId: string, meta: HeldMeta, options: AbortOptions & { quiet?: boolean }): Promise<ReplicatedDoc> {
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

  private async createDoc (docId: string, meta: HeldMeta, options: AbortOptions & { quiet?: boolean }): Promise<ReplicatedDoc> {
    let rdoc: ReplicatedDoc | undefined
    const persistence = this.store == null
      ? undefined
      : new DocPersistence(this.store.sub(docLogPrefix(docId)), {
        log: this.log,
        compactAfterUpdates: this.init.compactAfterUpdates,
        compactAfterBytes: this.init.compactAfterBytes,
        onPersisted: () => { rdoc?.onPersisted() },
        snapshot: () => {
          if (rdoc == null) throw new StorageError(`document ${docId} not open yet`)
          return Y.encodeStateAsUpdate(rdoc.doc)
        }
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
    if (options.quiet !== true) this.publish(rdoc, rdoc.stateMessage(StateReason.Digest))
    if (meta.owner !== this.peerId) this.sync.request(rdoc, meta.owner, { force: true })
    return rdoc
  }

  private handleGossip (rdoc: ReplicatedDoc, data: Uint8Array, from: PeerId): void {
    if (!this.started || rdoc.isClosed || from === this.peerId) return
    let message: GossipMessage
    try {
      message = decodeGossip(data, this.init.maxGossipBytes)
      if (message.type === GossipType.Update || message.type === GossipType.Updates) {
        rdoc.applyRemote(message.type === GossipType.Update ? message.update : message.updates, from, 'gossip')
        const store = rdoc.doc.store
        if (store.pendingStructs != null || store.pendingDs != null) this.sync.request(rdoc, from, {})
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
    let chosen: PeerId[]
    try {
      chosen = select(rdoc.id, candidates, rdoc.replicas)
    } catch (err) {
      this.log.error('document %s: selectReplicas failed: %s', rdoc.id, describeError(err).message)
      return []
    }
    if (!Array.isArray(chosen)) return []
    return [...new Set(chosen)].filter(p => allowed.has(p)).slice(0, rdoc.replicas)
  }

  private ensureReplicas (rdoc: ReplicatedDoc): void {
    if (rdoc.role !== 'member') return
    for (const peer of this.desiredReplicas(rdoc)) {
      if (!rdoc.recruited.has(peer)) this.sync.request(rdoc, peer, { hold: true })
    }
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
        this.sync.request(rdoc, e.peer, { force: true, hold: desired })
      }
      this.publish(rdoc, rdoc.stateMessage(StateReason.Digest))
      this.ensureReplicas(rdoc)
    }
  }

  private antiEntropyRound (): void {
    if (!this.started) return
    this.sync.pruneCooldowns()
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
    await this.held?.save(rdoc.id, { role: rdoc.role, owner: rdoc.owner, replicas: rdoc.replicas }, options)
  }
}

export function createDocReplicator (components: DocReplicatorComponents, init?: DocReplicatorInit): DocReplicator {
  return new DocReplicator(components, init)
}
