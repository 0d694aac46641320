/**
 * DocReplicator: Yjs documents shared by every peer that asks for the same id. Local edits are
 * gossiped on the doc's topic; peers that missed some catch up with the y-protocols exchange over
 * a stream (on join, on restart, and when the periodic state-vector digests differ). Every holder
 * persists the doc; the peer that asked for it recruits `replicas` more holders, which persist it
 * and acknowledge, so `flush` can wait for a write concern.
 */
import * as Y from 'yjs'
import { CapacityError, InvalidArgumentError, NotFoundError, NotStartedError, StorageError, describeError } from '../../errors.ts'
import { type AbortOptions, raceSignal } from '../../util/abort.ts'
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.ts'
import { componentLogger, type Logger } from '../../util/logger.ts'
import { systemRng, type Rng } from '../../util/prng.ts'
import type { Store } from '../../storage/types.ts'
import { syncLagRule, type AlertRule } from '../../monitoring/index.ts'
import { encodeGossip, StateReason, validateDocId, type GossipMessage } from './codec.ts'
import { antiEntropyRound, handleDocGossip, reactToPeer, type DocGossipRoutes } from './doc-gossip.ts'
import { resolveInit, type DocReplicatorComponents, type DocReplicatorInit, type ResolvedInit } from './config.ts'
import { HybridLogicalClock } from '../../util/hlc.ts'
import { docLogPrefix, HeldRegistry, type HeldMeta } from './held-registry.ts'
import type { YKeyValue } from './key-value.ts'
import { createCrdtMetrics, type CrdtMetrics } from './metrics.ts'
import { DocPersistence } from './persistence.ts'
import { policyFromName, policyName, storablePolicyName, validatePolicyName, type ConflictResolver } from './policy.ts'
import { ReplicaPlacement } from './replica-placement.ts'
import { ReplicatedDoc, type DocContext } from './replicated-doc.ts'
import { DocRetirer } from './retirer.ts'
import { successorOf } from './retirement.ts'
import { SyncService } from './sync-service.ts'
import type { Conflict, ConflictOutcome, ConflictPolicy, DocTransport, FlushOptions, HolderInfo, PeerId, ReplicateOptions } from './types.ts'

export type { DocReplicatorComponents, DocReplicatorInit } from './config.ts'

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
  private readonly init: ResolvedInit
  private readonly resolvers: Map<string, ConflictResolver>
  private readonly placement: ReplicaPlacement
  private readonly docs = new Map<string, ReplicatedDoc>()
  private readonly byDoc = new WeakMap<Y.Doc, ReplicatedDoc>()
  private readonly opening = new Map<string, Promise<ReplicatedDoc>>()
  private readonly unsubscribes = new Map<string, () => void>()
  private readonly retirer: DocRetirer
  private readonly sync: SyncService
  private readonly gossipRoutes: DocGossipRoutes
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
    this.metrics = createCrdtMetrics(components.telemetry, { pending: () => this.pendingUpdates(), lagSeconds: () => this.syncLagSeconds() })
    this.hlc = new HybridLogicalClock(this.clock)
    this.init = resolveInit(init)
    this.resolvers = new Map(Object.entries(init.conflictResolvers ?? {}))
    this.placement = new ReplicaPlacement({
      selfId: this.peerId,
      log: this.log,
      selectReplicas: this.init.selectReplicas,
      peers: () => this.transport.peers(),
      ...(components.writeGate !== undefined ? { mayHold: (peer: PeerId, docId: string) => components.writeGate!.allows(peer, docId) } : {}),
      requestSync: (rdoc, peer, request) => { this.sync.request(rdoc, peer, request) },
      publish: (rdoc, message) => { this.publish(rdoc, message) },
      release: async (rdoc, reason) => {
        this.log('document %s: released, %s', rdoc.id, reason)
        await this.release(rdoc.doc, { purge: true })
      }
    })
    this.retirer = new DocRetirer({
      selfId: this.peerId,
      clock: this.clock,
      log: this.log,
      isHeld: (rdoc) => this.docs.get(rdoc.id) === rdoc,
      releaseAndPurge: async (rdoc) => { await this.release(rdoc.doc, { purge: true }) }
    })
    this.ctx = {
      selfId: this.peerId,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      hlc: this.hlc,
      limits: { maxUpdateBytes: this.init.maxUpdateBytes, maxDocBytes: this.init.maxDocBytes, maxGossipBytes: this.init.maxGossipBytes },
      publish: (rdoc, message) => { this.publish(rdoc, message) },
      requestSync: (rdoc, peer, request) => { this.sync.request(rdoc, peer, request) },
      desiredReplicas: (rdoc) => this.placement.desired(rdoc),
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
      ...(components.writeGate !== undefined ? { writeGate: components.writeGate } : {}),
      host: {
        findDoc: (docId) => this.docs.get(docId),
        openReplica: async (docId, owner, policy, signal) => await this.openDoc(docId, { role: 'replica', owner, replicas: 0, policy: storablePolicyName(policy) }, { signal }),
        holdRequested: async (rdoc, owner, policy, signal) => {
          const name = storablePolicyName(policy)
          if (rdoc.owner === owner && (name == null || name === policyName(rdoc.conflictPolicy))) return
          rdoc.owner = owner
          if (name != null) rdoc.setConflictPolicy(policyFromName(name, this.resolvers))
          await this.saveHeld(rdoc, { signal })
        }
      }
    })
    this.gossipRoutes = {
      maxGossipBytes: this.init.maxGossipBytes,
      ...(components.writeGate !== undefined ? { writeGate: components.writeGate } : {}),
      sync: this.sync,
      placement: this.placement,
      metrics: this.metrics,
      log: this.log,
      publish: (rdoc, message) => { this.publish(rdoc, message) }
    }
  }

  /** serves the sync protocol, watches peers, reopens every doc held before a restart */
  async start (options?: AbortOptions): Promise<void> {
    if (this.started) return
    this.started = true
    this.controller = new AbortController()
    this.sync.start()
    this.cleanups.push(this.transport.onPeer((e) => { if (this.started) reactToPeer(this.gossipRoutes, this.docs.values(), e) }))
    this.timer = this.clock.setInterval(() => { if (this.started) antiEntropyRound(this.gossipRoutes, this.docs.values()) }, this.init.antiEntropyIntervalMs)
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
    this.retirer.stop()
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
    if (options.conflictPolicy != null) this.registerPolicy(options.conflictPolicy)
    const policy = options.conflictPolicy == null ? undefined : policyName(options.conflictPolicy)
    const rdoc = await raceSignal(this.openDoc(stateId, { role: 'member', owner: this.peerId, replicas, policy }, { ...options, quiet: catchUp }), options.signal)
    const changed = rdoc.role !== 'member' || rdoc.replicas !== replicas || rdoc.owner !== this.peerId ||
      (policy != null && policy !== policyName(rdoc.conflictPolicy))
    rdoc.role = 'member'
    rdoc.owner = this.peerId
    rdoc.replicas = replicas
    if (options.selectReplicas != null) rdoc.selectReplicas = options.selectReplicas
    if (options.conflictPolicy != null) rdoc.setConflictPolicy(options.conflictPolicy)
    if (changed) await this.saveHeld(rdoc)
    this.updateDocGauges()
    if (catchUp) {
      try {
        await this.sync.catchUp(rdoc, options.syncFrom ?? [], this.placement.desired(rdoc), { ...(options.syncQuorum != null ? { quorum: options.syncQuorum } : {}), ...(options.signal != null ? { signal: options.signal } : {}) })
      } finally {
        this.publish(rdoc, rdoc.stateMessage(StateReason.Digest))
      }
    }
    this.placement.ensure(rdoc)
    return rdoc.doc
  }

  /**
   * a custom conflict policy's resolver, by name: docs stored under that policy (restored after a
   * restart, or held as replicas) use it from now on
   */
  registerConflictResolver (name: string, resolve: ConflictResolver): void {
    this.registerPolicy({ name, resolve })
  }

  private registerPolicy (policy: ConflictPolicy): void {
    const name = policyName(policy)
    try { validatePolicyName(name) } catch (err) { throw new InvalidArgumentError((err as Error).message) }
    if (typeof policy !== 'object') return
    if (typeof policy.resolve !== 'function') throw new InvalidArgumentError('a custom conflict policy needs a resolve function')
    this.resolvers.set(policy.name ?? 'custom', policy.resolve)
    for (const d of this.docs.values()) if (policyName(d.conflictPolicy) === name) d.setConflictPolicy(policyFromName(name, this.resolvers))
  }

  /** the alert rules over this replicator's state, for a MonitoringSystem's addRule */
  alertRules (): AlertRule[] {
    return [syncLagRule({ lagSeconds: () => this.syncLagSeconds() })]
  }

  /** the longest any held doc has lacked updates a peer showed it has, in seconds (feeds syncLagRule) */
  syncLagSeconds (): number {
    let max = 0
    for (const d of this.docs.values()) max = Math.max(max, d.syncLagSeconds())
    return max
  }

  /** the Y.Doc of a doc held here (as member or replica); NotFoundError otherwise */
  getDoc (docId: string): Y.Doc {
    return this.docFor(docId).doc
  }

  /** the peers this replicator can reach now (candidates for holding docs) */
  peers (): PeerId[] {
    return this.transport.peers()
  }

  /** how many holders besides this peer the doc is placed on */
  replicasOf (doc: Y.Doc | string): number {
    return this.docFor(doc).replicas
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
    await this.sync.run(rdoc, peer, options.hold === true, { signal: options.signal })
  }

  /**
   * Retires a doc this peer replaced with `successor` (a compacted copy the caller already brought
   * to its write concern): marks it with the successor's id, waits up to RETIRE_WAIT_MS for its
   * other holders to take the mark (each drops the doc when the mark arrives), then drops it here
   * with its stored log. A peer that opens the old id later reads the mark (`successorOf`).
   * `epoch`: the writer's epoch the mark carries (writer fences judge it, retirement.ts).
   */
  async retire (doc: Y.Doc | string, successor: string, options: AbortOptions & { epoch?: number } = {}): Promise<void> {
    try { validateDocId(successor) } catch (err) { throw new InvalidArgumentError((err as Error).message) }
    await this.retirer.retire(this.docFor(doc), successor, options)
  }

  /** the id of the doc that replaced `doc` (its retirement mark), undefined while it is current; a Y.Doc is read even once dropped */
  successorOf (doc: Y.Doc | string): string | undefined {
    return successorOf(typeof doc === 'string' ? this.docFor(doc).doc : doc)
  }

  /** stops replicating a doc on this peer; `purge` also deletes its stored updates */
  async release (doc: Y.Doc | string, options: AbortOptions & { purge?: boolean } = {}): Promise<void> {
    const rdoc = this.docFor(doc)
    this.retirer.unwatch(rdoc.id)
    // the other holders stop counting this peer (and its member stops recruiting it)
    this.publish(rdoc, rdoc.stateMessage(StateReason.Released))
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
          return rdoc.heldFullState()
        }
      })
    rdoc = new ReplicatedDoc({
      id: docId,
      topic: `agentmesh/${this.init.mesh}/v1/a/${docId}`,
      role: meta.role,
      owner: meta.owner,
      replicas: meta.replicas,
      conflictPolicy: policyFromName(meta.policy ?? 'crdt', this.resolvers),
      persistence
    }, this.ctx)
    await rdoc.open(this.rng.int(0x100000000))
    if (!this.started) { await rdoc.close(); throw new NotStartedError('replicator stopped') }
    await this.saveHeld(rdoc, options)
    this.docs.set(docId, rdoc)
    this.byDoc.set(rdoc.doc, rdoc)
    const d = rdoc
    this.unsubscribes.set(docId, this.transport.subscribe(rdoc.topic, (data, from) => { this.handleGossip(d, data, from) }))
    this.retirer.watch(rdoc)
    this.updateDocGauges()
    if (options.quiet !== true) this.publish(rdoc, rdoc.stateMessage(StateReason.Digest))
    if (meta.owner !== this.peerId) this.sync.request(rdoc, meta.owner, { force: true })
    return rdoc
  }

  private handleGossip (rdoc: ReplicatedDoc, data: Uint8Array, from: PeerId): void {
    if (!this.started || rdoc.isClosed || from === this.peerId) return
    handleDocGossip(this.gossipRoutes, rdoc, data, from)
  }

  private publish (rdoc: ReplicatedDoc, message: GossipMessage): void {
    if (!this.started) return
    this.transport.publish(rdoc.topic, encodeGossip(message), { signal: this.controller.signal }).catch(err => {
      this.log('document %s: publish failed: %s', rdoc.id, describeError(err).message)
    })
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
    await this.held?.save(rdoc.id, { role: rdoc.role, owner: rdoc.owner, replicas: rdoc.replicas, policy: policyName(rdoc.conflictPolicy) }, options)
  }
}

export function createDocReplicator (components: DocReplicatorComponents, init?: DocReplicatorInit): DocReplicator {
  return new DocReplicator(components, init)
}
