/**
 * One replicated document on this peer: the Y.Doc, its durable update log, what every other
 * holder acknowledged as persisted, the flush waiters, and the key-value maps with their recorded
 * conflicts. Networking is delegated to the replicator through `DocContext`.
 */
import * as Y from 'yjs'
import { InvalidMessageError, MessageTooLargeError, NotStartedError, StorageError } from '../../errors.ts'
import { combineSignals, deferred, throwIfAborted, raceSignal } from '../../util/abort.ts'
import type { Clock, TimerHandle } from '../../util/clock.ts'
import type { Logger } from '../../util/logger.ts'
import { GossipType, HolderRole, StateReason, type GossipMessage } from './codec.ts'
import { DIRECT_PERSIST_MIN_BYTES, FLUSH_RESYNC_INTERVAL_MS, FLUSH_TIMEOUT_MS, FULL_STATE_KEEP_MS } from './constants.ts'
import { DocConflicts } from './doc-conflicts.ts'
import type { HybridLogicalClock } from '../../util/hlc.ts'
import type { YKeyValue } from './key-value.ts'
import type { CrdtMetrics } from './metrics.ts'
import { packUpdates } from './outbox.ts'
import type { DocPersistence } from './persistence.ts'
import type { Conflict, ConflictOutcome, ConflictPolicy, FlushOptions, HolderInfo, PeerId, SelectReplicas } from './types.ts'
import { covers, decodeStateVectorSafe, docFingerprint, missingCount, type StateVector } from './vectors.ts'
import { SyncLagTracker } from './sync-lag.ts'

export type StateMessage = Extract<GossipMessage, { type: GossipType.State }>

/** transaction origin of updates received from a peer: never re-broadcast */
export class RemoteOrigin {
  constructor (readonly peer: PeerId, readonly path: 'gossip' | 'sync') {}
}

/** transaction origin of updates restored from the local update log: neither sent nor re-stored */
export const STORE_ORIGIN = Symbol.for('agentmesh:crdt:store')

export interface DocLimits {
  maxUpdateBytes: number
  maxDocBytes: number
  maxGossipBytes: number
}

export interface SyncRequest {
  /** ignore the per-peer cooldown */
  force?: boolean
  /** ask the peer to become a holder */
  hold?: boolean
}

export interface DocContext {
  selfId: PeerId
  clock: Clock
  log: Logger
  metrics: CrdtMetrics
  limits: DocLimits
  hlc: HybridLogicalClock
  publish: (rdoc: ReplicatedDoc, message: GossipMessage) => void
  requestSync: (rdoc: ReplicatedDoc, peer: PeerId, request: SyncRequest) => void
  /** the holders this peer wants for the doc, among connected peers */
  desiredReplicas: (rdoc: ReplicatedDoc) => PeerId[]
  /** a key-value map of this doc saw concurrent writes (lww and custom policies) */
  conflictDetected: (conflict: Conflict) => void
}

export interface ReplicatedDocInit {
  id: string
  topic: string
  role: 'member' | 'replica'
  owner: PeerId
  replicas: number
  selectReplicas?: SelectReplicas
  conflictPolicy?: ConflictPolicy
  persistence?: DocPersistence
}

interface FlushWaiter {
  target: StateVector
  minReplicas: number
  among: ReadonlySet<PeerId> | undefined
  done: ReturnType<typeof deferred<void>>
}

export class ReplicatedDoc {
  readonly id: string
  readonly topic: string
  readonly doc: Y.Doc
  role: 'member' | 'replica'
  owner: PeerId
  replicas: number
  selectReplicas?: SelectReplicas
  readonly persistence?: DocPersistence
  /** other peers' last acknowledged persisted state */
  readonly holders = new Map<PeerId, HolderInfo>()
  /** peers that accepted to hold this doc at our request */
  readonly recruited = new Set<PeerId>()
  private readonly conflictState: DocConflicts
  private readonly waiters = new Set<FlushWaiter>()
  private readonly lag = new SyncLagTracker()
  private sizeEstimate = 0
  private cachedFingerprint: number | undefined
  /** the doc's whole encoding while the doc is unchanged: held weakly, and strongly while late joiners ask for it */
  private fullState: WeakRef<Uint8Array> | undefined
  private fullStateHeld: Uint8Array | undefined
  private fullStateServedAt = 0
  private outbox: Uint8Array[] = []
  private closed = false
  private readonly onUpdate: (update: Uint8Array, origin: unknown) => void

  constructor (init: ReplicatedDocInit, private readonly ctx: DocContext) {
    this.id = init.id
    this.topic = init.topic
    this.role = init.role
    this.owner = init.owner
    this.replicas = init.replicas
    this.selectReplicas = init.selectReplicas
    this.persistence = init.persistence
    this.doc = new Y.Doc({ gc: true })
    this.conflictState = new DocConflicts({
      docId: this.id,
      doc: this.doc,
      policy: init.conflictPolicy ?? 'crdt',
      hlc: ctx.hlc,
      peer: ctx.selfId,
      log: ctx.log,
      detected: (conflict) => { ctx.conflictDetected(conflict) }
    })
    this.onUpdate = (update, origin) => { this.handleDocUpdate(update, origin) }
  }

  /** restores the stored updates into the doc, then starts tracking local edits */
  async open (clientId: number): Promise<void> {
    this.doc.clientID = clientId
    const stored = await this.persistence?.loadUpdates() ?? []
    if (stored.length > 0) {
      try {
        // one transaction, one update event; linear where Y.mergeUpdates is quadratic in the count
        this.doc.transact(() => { for (const u of stored) Y.applyUpdate(this.doc, u) }, STORE_ORIGIN)
      } catch (err) {
        throw new StorageError(`stored updates of ${this.id} could not be applied`, { cause: err })
      }
      this.persistence?.markPersisted(Y.encodeStateVector(this.doc))
    }
    this.encodeFullState()
    this.doc.on('update', this.onUpdate)
  }

  get isClosed (): boolean {
    return this.closed
  }

  /** approximate encoded size (exact after open and after each check that came near the limit) */
  get approximateBytes (): number {
    return this.sizeEstimate
  }

  /**
   * applies updates from a peer, several in one transaction (one update event, one log entry);
   * throws MessageTooLargeError / InvalidMessageError
   */
  applyRemote (updates: Uint8Array | Uint8Array[], peer: PeerId, path: 'gossip' | 'sync'): void {
    const list = Array.isArray(updates) ? updates : [updates]
    const { maxUpdateBytes } = this.ctx.limits
    let bytes = 0
    for (const u of list) {
      if (u.byteLength > maxUpdateBytes) throw new MessageTooLargeError(`update of ${u.byteLength} bytes exceeds ${maxUpdateBytes}`)
      bytes += u.byteLength
    }
    if (!this.fitsDocLimit(bytes)) throw new MessageTooLargeError(`document ${this.id} would exceed ${this.ctx.limits.maxDocBytes} bytes`)
    const origin = new RemoteOrigin(peer, path)
    try {
      if (list.length > 1) this.doc.transact(() => { for (const u of list) Y.applyUpdate(this.doc, u) }, origin)
      else if (bytes >= DIRECT_PERSIST_MIN_BYTES && this.doc._transaction == null) this.applyAsReceived(list[0], origin)
      else Y.applyUpdate(this.doc, list[0], origin)
    } catch (err) {
      throw new InvalidMessageError('update could not be applied', { cause: err })
    }
    this.ctx.metrics.updatesIn.inc(list.length, { path })
  }

  /**
   * applies a big update and persists it as received: Yjs does not re-encode what the transaction
   * changed for our 'update' handler (a second pass over megabytes). What was pending in it is
   * stored too, where Yjs' own update event would leave it out.
   */
  private applyAsReceived (update: Uint8Array, origin: RemoteOrigin): void {
    let changed = false
    const onAfterTransaction = (tr: Y.Transaction): void => {
      changed = tr.deleteSet.clients.size > 0 || [...tr.afterState].some(([client, clock]) => tr.beforeState.get(client) !== clock) ||
        this.doc.store.pendingStructs != null
    }
    this.doc.off('update', this.onUpdate)
    this.doc.on('afterTransaction', onAfterTransaction)
    try {
      Y.applyUpdate(this.doc, update, origin)
    } finally {
      this.doc.off('afterTransaction', onAfterTransaction)
      this.doc.on('update', this.onUpdate)
    }
    if (changed) this.handleDocUpdate(update, origin)
  }

  /**
   * what a peer at `stateVector` lacks, as one update; for a peer that has nothing (a late joiner)
   * the doc's whole encoding, reused until the doc changes
   */
  stateAsUpdate (stateVector: Uint8Array): Uint8Array {
    const remote = decodeStateVectorSafe(stateVector)
    if (remote.size > 0) return Y.encodeStateAsUpdate(this.doc, stateVector)
    // late joiners come in bursts (peers restarting): the next one within FULL_STATE_KEEP_MS gets
    // the same bytes instead of a fresh pass over the whole doc
    return this.heldFullState()
  }

  /**
   * the doc's whole encoding, held strongly until the doc changes or FULL_STATE_KEEP_MS pass
   * without another call: for late joiners, and for compaction, which encodes a doc right after
   * a burst of writes, when a late joiner is likeliest to need the same bytes
   */
  heldFullState (): Uint8Array {
    this.fullStateHeld = this.encodeFullState()
    this.fullStateServedAt = this.ctx.clock.monotonic()
    return this.fullStateHeld
  }

  /**
   * `Y.encodeStateAsUpdate(doc)`, kept until the doc changes: compaction and late joiners share
   * one encoding. Held weakly (an idle doc keeps no second copy alive), and strongly for
   * FULL_STATE_KEEP_MS after heldFullState (a collection must not make the next late joiner pay).
   */
  encodeFullState (): Uint8Array {
    const cached = this.fullStateHeld ?? this.fullState?.deref()
    if (cached != null) return cached
    const update = Y.encodeStateAsUpdate(this.doc)
    this.ctx.metrics.fullStateEncodes.inc()
    this.fullState = new WeakRef(update)
    this.sizeEstimate = update.byteLength
    this.ctx.metrics.docBytes.set(this.sizeEstimate, { doc: this.id })
    return update
  }

  /** lets go of the strong hold on the doc's encoding once nothing asked for it in FULL_STATE_KEEP_MS */
  releaseIdleEncoding (): void {
    if (this.fullStateHeld != null && this.ctx.clock.monotonic() - this.fullStateServedAt >= FULL_STATE_KEEP_MS) this.fullStateHeld = undefined
  }

  /** a STATE message from a peer: record its ack, and sync with it when our states differ */
  handleState (from: PeerId, m: StateMessage): void {
    const remote = decodeStateVectorSafe(m.stateVector)
    const now = this.ctx.clock.now()
    if (m.holder) {
      const role = m.role === HolderRole.Member ? 'member' : m.role === HolderRole.Replica ? 'replica' : undefined
      this.holders.set(from, { peer: from, acked: decodeStateVectorSafe(m.persisted), lastSeen: now, role })
      this.checkWaiters()
    }
    const lacking = this.lag.observeRemote(this.doc, remote, now)
    if (m.reason === StateReason.Ack) return
    const local = Y.decodeStateVector(Y.encodeStateVector(this.doc))
    if (!lacking && covers(remote, local) && m.fingerprint === this.fingerprint()) return
    if (lacking) this.ctx.metrics.syncLagOps.observe(missingCount(local, remote))
    this.ctx.requestSync(this, from, { force: m.reason === StateReason.Announce })
  }

  /** this peer's STATE message */
  stateMessage (reason: StateReason): StateMessage {
    const sv = Y.encodeStateVector(this.doc)
    const persisted = this.persistence?.persistedStateVector ?? new Uint8Array([0])
    return {
      type: GossipType.State,
      reason,
      holder: this.persistence != null && reason !== StateReason.Released,
      stateVector: sv,
      persisted,
      fingerprint: this.fingerprint(),
      role: this.role === 'member' ? HolderRole.Member : HolderRole.Replica
    }
  }

  /** seconds this doc has lacked updates a peer showed it has (0 when it lacks nothing known) */
  syncLagSeconds (): number {
    return this.lag.seconds(this.ctx.clock.now())
  }

  get conflictPolicy (): ConflictPolicy {
    return this.conflictState.policy
  }

  /** recorded conflicts of the doc's key-value maps, not yet handled */
  get conflicts (): ReadonlyMap<string, Conflict> {
    return this.conflictState.recorded
  }

  /** the conflict policy; key-value maps made under another one are destroyed (get new ones) */
  setConflictPolicy (policy: ConflictPolicy): void {
    this.conflictState.setPolicy(policy)
  }

  /** the doc's key-value map `name` under its conflict policy */
  keyValue<V = unknown> (name: string): YKeyValue<V> {
    return this.conflictState.keyValue<V>(name)
  }

  /** resolves a recorded conflict by the doc's policy */
  handleConflict (conflictId: string): ConflictOutcome {
    return this.conflictState.handle(conflictId)
  }

  /** docFingerprint, recomputed only after the doc changed */
  fingerprint (): number {
    this.cachedFingerprint ??= docFingerprint(this.doc)
    return this.cachedFingerprint
  }

  /** resolves once `minReplicas` other holders persisted everything this doc holds now */
  async flush (options: FlushOptions = {}): Promise<void> {
    if (this.closed) throw new NotStartedError(`document ${this.id} is closed`)
    throwIfAborted(options.signal)
    const minReplicas = options.minReplicas ?? 1
    const signal = combineSignals([options.signal], options.signal == null ? FLUSH_TIMEOUT_MS : undefined)
    if (!this.fitsDocLimit(0)) throw new MessageTooLargeError(`document ${this.id} exceeds ${this.ctx.limits.maxDocBytes} bytes`)
    const stopTimer = this.ctx.metrics.flushSeconds.startTimer()
    const target = Y.decodeStateVector(Y.encodeStateVector(this.doc))
    await raceSignal(this.persistence?.idle() ?? Promise.resolve(), signal)
    const among = options.among != null ? new Set(options.among) : undefined
    if (minReplicas <= 0 || this.countCovering(target, among) >= minReplicas) { stopTimer(); return }
    const waiter: FlushWaiter = { target, minReplicas, among, done: deferred<void>() }
    this.waiters.add(waiter)
    let timer: TimerHandle | undefined
    try {
      timer = this.ctx.clock.setInterval(() => { this.resyncLaggingHolders(target) }, FLUSH_RESYNC_INTERVAL_MS)
      await raceSignal(waiter.done.promise, signal)
      stopTimer()
    } finally {
      this.ctx.clock.clearInterval(timer)
      this.waiters.delete(waiter)
    }
  }

  /** stops tracking; waiting flushes reject; pending writes finish */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.fullStateHeld = undefined
    this.doc.off('update', this.onUpdate)
    this.conflictState.destroy()
    // a closed document's size series goes with it (agents come and go; their series must not stay)
    this.ctx.metrics.docBytes.remove?.({ doc: this.id })
    for (const w of this.waiters) w.done.reject(new NotStartedError(`document ${this.id} closed`))
    await this.persistence?.idle()
  }

  private handleDocUpdate (update: Uint8Array, origin: unknown): void {
    this.cachedFingerprint = undefined
    this.fullState = undefined
    this.fullStateHeld = undefined
    this.lag.update(this.doc, this.ctx.clock.now())
    this.sizeEstimate += update.byteLength
    this.ctx.metrics.docBytes.set(this.sizeEstimate, { doc: this.id })
    if (origin === STORE_ORIGIN) return
    if (!(origin instanceof RemoteOrigin)) this.publishLocalUpdate(update)
    if (this.persistence != null) {
      this.persistence.append(update, Y.encodeStateVector(this.doc)).catch(err => {
        this.ctx.log.error('document %s: update not persisted: %s', this.id, (err as Error)?.message)
      })
    }
  }

  /** local updates are coalesced per turn: a burst of edits leaves as few gossip messages (packUpdates) */
  private publishLocalUpdate (update: Uint8Array): void {
    this.outbox.push(update)
    if (this.outbox.length > 1) return
    queueMicrotask(() => { this.flushOutbox() })
  }

  private flushOutbox (): void {
    const updates = this.outbox
    this.outbox = []
    if (updates.length === 0 || this.closed) return
    if (!this.fitsDocLimit(0)) {
      this.ctx.log.error('document %s exceeds %d bytes; flush will refuse', this.id, this.ctx.limits.maxDocBytes)
    }
    const messages = packUpdates(updates, this.ctx.limits.maxGossipBytes)
    if (messages == null) {
      // too big for gossip: announce, holders pull it over a (chunked) sync stream
      this.ctx.publish(this, this.stateMessage(StateReason.Announce))
      this.ctx.metrics.updatesOut.inc(updates.length, { path: 'announce' })
      return
    }
    for (const m of messages) this.ctx.publish(this, m)
    this.ctx.metrics.updatesOut.inc(updates.length, { path: 'gossip' })
  }

  /** called after each durable write: acknowledge it to the other holders */
  onPersisted (): void {
    if (!this.closed) this.ctx.publish(this, this.stateMessage(StateReason.Ack))
  }

  private fitsDocLimit (extra: number): boolean {
    const max = this.ctx.limits.maxDocBytes
    if (this.sizeEstimate + extra <= max) return true
    this.encodeFullState()
    return this.sizeEstimate + extra <= max
  }

  private countCovering (target: StateVector, among?: ReadonlySet<PeerId>): number {
    let n = 0
    for (const [peer, h] of this.holders) if (peer !== this.ctx.selfId && (among == null || among.has(peer)) && covers(h.acked, target)) n++
    return n
  }

  private checkWaiters (): void {
    for (const w of this.waiters) if (this.countCovering(w.target, w.among) >= w.minReplicas) w.done.resolve()
  }

  private resyncLaggingHolders (target: StateVector): void {
    const desired = this.role === 'member' ? this.ctx.desiredReplicas(this) : []
    const peers = new Set<PeerId>([...desired, ...this.holders.keys()])
    for (const peer of peers) {
      const h = this.holders.get(peer)
      if (h != null && covers(h.acked, target)) continue
      this.ctx.requestSync(this, peer, { force: true, hold: desired.includes(peer) })
    }
  }
}
