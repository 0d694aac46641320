/**
 * An agent's replicated state, kept bounded. Yjs keeps every overwritten or deleted entry as a
 * tombstone, so a doc that takes a write per turn grows with every turn (~20 bytes encoded, ~0.5 KB
 * of heap per counter turn) for as long as it lives. Here the state lives in a *generation* doc
 * that is replaced by a compacted copy from time to time:
 *
 * - `agent/<id>` (the root) holds only a pointer, `meta.doc`, to the current generation
 *   `agent/<id>/g<n>-<nonce>`. A root without a pointer is itself the generation (new agents, and
 *   state written before generations existed).
 * - The owner compacts at activation under a new epoch and every STATE_COMPACT_CHECK_TURNS turns,
 *   when the generation's encoding has grown past its live content (STATE_COMPACT_MIN_GARBAGE_BYTES
 *   and twice the live JSON): it copies the live state and the reply records still inside the dedup
 *   window into a fresh doc, brings that to the write concern, points the root at it and brings the
 *   root to the write concern, and only then retires the old generation (a mark naming its
 *   successor; replicas drop it when the mark reaches them). Turns wait for the switch, and state
 *   written outside turns (spawned tasks) while the copy is being flushed is replayed onto the new
 *   generation, so no acknowledged write is left behind in the old one.
 * - A new owner reads the root, follows the pointer, and follows retirement marks from there (its
 *   copy of the root may lag the switch). A generation doc that no reachable peer holds is never
 *   taken for empty state: the activation fails with UnreachableError and is retried, as for any
 *   state that is not reachable.
 *
 * - An activation under an epoch fences the root and the generation once caught up (fences.ts):
 *   what a deposed owner writes later, which this activation did not take over, is hidden on every
 *   replica, so a superseded turn never shows beside its re-run here.
 *
 * - A failover activation catches up from a read quorum of the agent's replica set, recorded in
 *   its placement, and then records its own (state-replicas.ts); a reply waits for members of it.
 *
 * Every generation of one agent has the same replicas (the recorded set, or picked by the root's
 * id), so the peers that catch a new owner up on the root are the ones holding the generation too.
 */
import * as Y from 'yjs'
import { fenceDoc, selectReplicasByHash, successorOf, type SelectReplicas } from '../consensus/crdt/index.ts'
import { UnreachableError, describeError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import { linkSignals } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import { systemRng, type Rng } from '../util/prng.ts'
import {
  DEDUP_WINDOW_MS, REPLIES_MAP_NAME, STATE_COMPACT_CHECK_TURNS, STATE_COMPACT_MIN_GARBAGE_BYTES, STATE_COMPACT_TIMEOUT_MS,
  STATE_DOC_PREFIX, STATE_GENERATION_MAX_HOPS, STATE_MAP_NAME, STATE_META_MAP_NAME
} from './constants.ts'
import { liveReplyRecords } from './reply-records.ts'
import { AgentReplicas, type ReplicaSet } from './state-replicas.ts'
import { POINTER_KEY, ROOT_KEY, generationNumber, isGenerationOf, metaValue, pointerOf } from './generation-ids.ts'
import type { AgentState } from './types.ts'
import { SwitchableState, type EpochState } from './switchable-state.ts'

export { SwitchableState, markForSettle, type EpochState, type SettleMark } from './switchable-state.ts'

/**
 * the map of `name` in `doc`, its writes from now on under `epoch` (when given): a deposed owner's
 * late write then loses to what the next owner wrote, whichever way the docs merge
 */
function epochMap (docs: AgentDocs, doc: Y.Doc, name: string, epoch: number | undefined): EpochState {
  const kv = docs.keyValue(doc, name)
  if (epoch !== undefined) kv.writerEpoch = epoch
  return kv
}

/** what the CRDT layer gives the agents (DocReplicator fits) */
export interface AgentDocs {
  replicateState: (id: string, options?: AbortOptions & { syncFrom?: string[], awaitSync?: boolean, selectReplicas?: SelectReplicas }) => Promise<Y.Doc>
  /**
   * a doc's key-value map; `writerEpoch`, once set, goes with this peer's writes, and where two
   * writes of a key conflict the higher epoch's is kept (YKeyValue)
   */
  keyValue: (doc: Y.Doc, name?: string) => EpochState
  flush: (doc: Y.Doc | string, options?: AbortOptions & { minReplicas?: number, among?: readonly string[] }) => Promise<void>
  getDoc: (id: string) => Y.Doc
  syncWith: (doc: Y.Doc | string, peer: string, options?: AbortOptions & { hold?: boolean }) => Promise<void>
  /** other peers known to hold the doc, with what they acknowledged */
  holders: (doc: Y.Doc | string) => Array<{ peer: string }>
  /** marks a doc replaced by `successor` and drops it here (every other holder drops it on the mark) */
  retire: (doc: Y.Doc | string, successor: string, options?: AbortOptions & { epoch?: number }) => Promise<void>
  release: (doc: Y.Doc | string, options?: AbortOptions & { purge?: boolean }) => Promise<void>
  /** the docs held here */
  docIds: () => string[]
  /** peers reachable now */
  peers: () => string[]
  /** holders besides this peer a doc is placed on */
  replicasOf: (doc: Y.Doc | string) => number
}

export const stateDocId = (agentId: string): string => `${STATE_DOC_PREFIX}${agentId}`


export interface AgentStateDocsInit {
  docs: AgentDocs
  /** a peer the membership does not consider failed or suspect: only those hold or feed agent state */
  healthy: (peer: string) => boolean
  /** replicas that must hold the state before a reply (and before a compaction switches over) */
  writeConcern: () => number
  clock: Clock
  log: Logger
  rng?: Rng
  /** turns between two looks at whether the generation is worth compacting */
  compactCheckTurns?: number
  /** a generation is compacted once its encoding exceeds this and twice its live JSON */
  compactMinGarbageBytes?: number
  /** reply records older than this are not carried into a new generation */
  replyWindowMs?: number
  /**
   * replica sets (state-replicas.ts): this peer's id and how a set is recorded in the agent's
   * placement. Without them, a reply waits for any holders and a new owner catches up from the
   * holders it picks (tests of the docs alone)
   */
  replicaSets?: {
    self: string
    record: (agentId: string, epoch: number, set: ReplicaSet, options: AbortOptions) => Promise<void>
    /** a peer declared failed or gone (default: not healthy) */
    lost?: (peer: string) => boolean
  }
}

export interface OpenedState {
  state: AgentState
  replies: AgentState
}

interface Entry {
  agentId: string
  rootId: string
  root: Y.Doc
  meta: AgentState
  gen: Y.Doc
  genId: string
  state: SwitchableState
  replies: SwitchableState
  turns: number
  /** the root's pointer changed and is not yet known to be at the write concern */
  rootPending: boolean
  /** replaced generations to retire once the root's pointer is at the write concern */
  retiring: Array<{ doc: Y.Doc, successor: string }>
  selectReplicas: SelectReplicas
  /** the owner's placement epoch, stamped on its state writes */
  epoch: number | undefined
  /** the replica set its acknowledged state is counted over (undefined: any holders count) */
  replicas: AgentReplicas | undefined
}

export class AgentStateDocs {
  private readonly init: AgentStateDocsInit
  private readonly rng: Rng
  private readonly entries = new Map<string, Entry>()
  private readonly checkTurns: number
  private readonly minGarbageBytes: number

  constructor (init: AgentStateDocsInit) {
    this.init = init
    this.rng = init.rng ?? systemRng
    this.checkTurns = init.compactCheckTurns ?? STATE_COMPACT_CHECK_TURNS
    this.minGarbageBytes = init.compactMinGarbageBytes ?? STATE_COMPACT_MIN_GARBAGE_BYTES
  }

  /** the id of the doc holding the agent's state now (undefined: not opened here) */
  currentDocId (agentId: string): string | undefined {
    return this.entries.get(agentId)?.genId
  }

  /**
   * Opens the agent's state for an activation: the root caught up (from `syncFrom` and the
   * replicas, unless `fresh`), its pointer and any retirement marks followed; then, under a new
   * epoch, the generation is compacted if it is worth it.
   */
  async open (agentId: string, options: AbortOptions & { fresh?: boolean, syncFrom?: string[], compact?: boolean, epoch?: number, replicaSet?: ReplicaSet } = {}): Promise<OpenedState> {
    const { docs } = this.init
    const rootId = stateDocId(agentId)
    const epoch = options.epoch
    const sets = this.init.replicaSets
    const replicas = sets != null && epoch !== undefined
      ? new AgentReplicas({ ...sets, docs, healthy: this.init.healthy, writeConcern: this.init.writeConcern, log: this.init.log }, agentId, rootId, epoch, options.replicaSet)
      : undefined
    // every generation of the agent gets the root's replicas: they also catch a new owner up on it
    const selectReplicas: SelectReplicas = replicas?.selectReplicas ?? ((_docId, candidates, count) => selectReplicasByHash(rootId, candidates.filter(this.init.healthy), count))
    const syncFrom = options.syncFrom ?? []
    // a migration catches up from the owner it replaces; a failover from a read quorum of the
    // recorded replica set (UnreachableError here when too few are reachable), or else from the
    // holders it picks
    const quorum = syncFrom.length > 0 || options.fresh === true ? undefined : replicas?.catchUp()
    const catchUp = syncFrom.length > 0 ? { syncFrom } : quorum ?? { awaitSync: options.fresh !== true }
    const signal = options.signal != null ? { signal: options.signal } : {}
    const root = await docs.replicateState(rootId, { ...signal, selectReplicas, ...catchUp })
    const meta = epochMap(docs, root, STATE_META_MAP_NAME, epoch)
    let gen = root
    let genId = rootId
    let next = pointerOf(meta, rootId)
    for (let hops = 0; next !== undefined; hops++) {
      if (hops >= STATE_GENERATION_MAX_HOPS) throw new UnreachableError(`agent ${agentId}: more than ${STATE_GENERATION_MAX_HOPS} state generations to follow`)
      const doc = await docs.replicateState(next, { ...signal, selectReplicas, ...(syncFrom.length > 0 ? { syncFrom } : quorum ?? { awaitSync: true }) })
      // read from the Y.Doc itself: a retired generation is dropped by the replicator once it is seen
      if (metaValue(doc, ROOT_KEY) !== rootId) {
        // nobody reachable holds it (an empty doc is not the agent's state): fail, to be retried
        await docs.release(doc, { purge: true }).catch(() => {})
        throw new UnreachableError(`agent ${agentId}: state generation ${next} is held by no reachable peer`, { details: { agentId, doc: next } })
      }
      if (gen !== root) await this.dropStale(gen, genId)
      gen = doc
      genId = next
      next = successorOf(doc)
    }
    let rootPending = false
    if (gen !== root && pointerOf(meta, rootId) !== genId) {
      // this copy of the root lagged a switch (found through retirement marks): it catches up too
      meta.set(POINTER_KEY, genId)
      rootPending = true
    }
    if (epoch !== undefined) {
      // the fence (docs/crdt.md): what earlier owners wrote that this activation did not take over
      // (a deposed owner's late turn) is hidden on every replica, whichever keys it wrote. The
      // root's goes out with the first turn's commit, like the generation's
      if (fenceDoc(root, epoch)) rootPending = true
      if (gen !== root) fenceDoc(gen, epoch)
    }
    // generations this peer held as a replica and that were replaced since (their mark missed it)
    for (const id of docs.docIds()) {
      // (while the root is the generation, any generation held here is newer: a compaction's orphan)
      if (gen === root || id === genId || !isGenerationOf(id, rootId) || generationNumber(id) > generationNumber(genId)) continue
      let held: Y.Doc | undefined
      try { held = docs.getDoc(id) } catch {}
      // an agent id may itself look like a generation suffix: only a doc naming this root is one
      if (held != null && metaValue(held, ROOT_KEY) === rootId) await this.dropStale(held, id)
    }
    const entry: Entry = {
      agentId,
      rootId,
      root,
      meta,
      gen,
      genId,
      state: new SwitchableState(epochMap(docs, gen, STATE_MAP_NAME, epoch)),
      replies: new SwitchableState(epochMap(docs, gen, REPLIES_MAP_NAME, epoch)),
      turns: 0,
      rootPending,
      retiring: [],
      selectReplicas,
      epoch,
      replicas
    }
    this.entries.set(agentId, entry)
    if (replicas != null) {
      // this owner's own set, recorded once what it took over (and its fence) is held by it
      replicas.bind(() => [entry.gen, ...(entry.gen !== entry.root ? [entry.root] : [])])
      await replicas.adopt(signal)
    }
    if (options.compact === true && (this.keptInRoot(entry) || (options.fresh !== true && this.worthCompacting(entry)))) await this.compactBounded(entry, options.signal)
    return { state: entry.state, replies: entry.replies }
  }

  /**
   * After a turn (or hook): its changes, and a root pointer that changed, are held by the write
   * concern; replaced generations are retired; every STATE_COMPACT_CHECK_TURNS turns the
   * generation is compacted if it is worth it.
   */
  async commit (agentId: string, options: AbortOptions = {}): Promise<void> {
    await this.flush(agentId, options)
    const e = this.entries.get(agentId)
    if (e == null) return
    if (e.retiring.length > 0) await this.retireReplaced(e, options.signal)
    e.turns++
    if (e.turns % this.checkTurns === 0 && (this.keptInRoot(e) || this.worthCompacting(e))) await this.compactBounded(e, options.signal)
  }

  /** waits until the agent's state written so far (and a changed root pointer) is held by the write concern */
  async flush (agentId: string, options: AbortOptions = {}): Promise<void> {
    const e = this.entries.get(agentId)
    if (e == null) {
      const replicas = this.init.writeConcern()
      if (replicas > 0) await this.init.docs.flush(stateDocId(agentId), { minReplicas: replicas, ...(options.signal != null ? { signal: options.signal } : {}) })
      return
    }
    await this.flushDocs(e, e.rootPending ? [e.gen, e.root] : [e.gen], options.signal)
    e.rootPending = false
  }

  /** `docs` held by the write concern: over the agent's replica set when it has one */
  private async flushDocs (e: Entry, docs: Y.Doc[], signal?: AbortSignal): Promise<void> {
    const opts = signal != null ? { signal } : {}
    if (e.replicas != null) { await e.replicas.flush(docs, opts); return }
    const replicas = this.init.writeConcern()
    if (replicas > 0) for (const doc of docs) await this.init.docs.flush(doc, { ...opts, minReplicas: replicas })
  }

  /**
   * On a peer that does not run the agent: catches its copy of the state up from `peer` (taking a
   * copy when it holds none), root and current generation; answers the current generation's id
   */
  async catchUpFrom (agentId: string, peer: string, options: AbortOptions = {}): Promise<string> {
    const { docs } = this.init
    const signal = options.signal != null ? { signal: options.signal } : {}
    const rootId = stateDocId(agentId)
    let docId = rootId
    for (let hops = 0; hops <= STATE_GENERATION_MAX_HOPS; hops++) {
      let doc: Y.Doc | undefined
      try { doc = docs.getDoc(docId) } catch {}
      if (doc != null) await docs.syncWith(doc, peer, signal)
      else doc = await docs.replicateState(docId, { ...signal, syncFrom: [peer] })
      const next = docId === rootId ? pointerOf(docs.keyValue(doc, STATE_META_MAP_NAME), rootId) : successorOf(doc)
      if (next === undefined) return docId
      docId = next
    }
    throw new UnreachableError(`agent ${agentId}: more than ${STATE_GENERATION_MAX_HOPS} state generations to follow`)
  }

  /** compacts the agent's current generation now (tests, syncAgentState callers) */
  async compact (agentId: string, options: AbortOptions = {}): Promise<void> {
    const e = this.entries.get(agentId)
    if (e == null) return
    await this.compactGeneration(e, options.signal)
  }

  /** the activation stopped: nothing more is written through this peer's handles */
  close (agentId: string): void {
    this.entries.delete(agentId)
  }

  /**
   * the root is still the generation while writes carry an epoch: they are kept (never deleted in
   * place, docs/crdt.md) and the root is never copied, so the state moves to a generation (g0) at
   * once, before it grows: at a new agent's first activation
   */
  private keptInRoot (e: Entry): boolean {
    return e.epoch !== undefined && e.gen === e.root
  }

  /** the generation's encoding is past the minimum and more than twice what its live values take */
  private worthCompacting (e: Entry): boolean {
    const encoded = Y.encodeStateAsUpdate(e.gen).byteLength
    if (encoded < this.minGarbageBytes) return false
    const live = JSON.stringify(e.state.toJSON()).length + JSON.stringify(e.replies.toJSON()).length
    return encoded > 2 * live + this.minGarbageBytes / 2
  }

  /** a compaction within STATE_COMPACT_TIMEOUT_MS; a failure is logged and the old generation stays in use */
  private async compactBounded (e: Entry, signal?: AbortSignal): Promise<void> {
    const linked = linkSignals([signal], STATE_COMPACT_TIMEOUT_MS, this.init.clock)
    try {
      await this.compactGeneration(e, linked.signal)
    } catch (err) {
      if (signal?.aborted === true) throw err
      this.init.log('agent %s: state compaction of %s did not finish: %s', e.agentId, e.genId, describeError(err).message)
    } finally {
      linked.dispose()
    }
  }

  private async compactGeneration (e: Entry, signal?: AbortSignal): Promise<void> {
    const { docs } = this.init
    const opts = signal != null ? { signal } : {}
    // the first generation out of the root is g0 (the root itself counts as 0 only while it is the generation)
    const nextId = `${e.rootId}/g${e.gen === e.root ? 0 : generationNumber(e.genId) + 1}-${this.rng.int(0x100000000).toString(16).padStart(8, '0')}`
    e.state.journal = []
    e.replies.journal = []
    let next: Y.Doc | undefined
    try {
      next = await docs.replicateState(nextId, { ...opts, selectReplicas: e.selectReplicas })
      const nextState = epochMap(docs, next, STATE_MAP_NAME, e.epoch)
      const nextReplies = epochMap(docs, next, REPLIES_MAP_NAME, e.epoch)
      const nextMeta = epochMap(docs, next, STATE_META_MAP_NAME, e.epoch)
      const now = this.init.clock.now()
      next.transact(() => {
        nextMeta.set(ROOT_KEY, e.rootId)
        for (const [k, v] of e.state.entries()) nextState.set(k, v)
        for (const [k, v] of liveReplyRecords(e.replies, now, this.init.replyWindowMs ?? DEDUP_WINDOW_MS)) nextReplies.set(k, v)
      })
      await this.flushDocs(e, [next], signal)
      // the switch: from here on the new generation is the state, whatever happens to the root's flush
      const old = e.gen
      const oldState = e.state.target
      const oldReplies = e.replies.target
      e.root.transact(() => {
        e.meta.set(POINTER_KEY, nextId)
        if (old === e.root) {
          // state written before generations existed: moved, not kept twice
          for (const [k] of [...oldState.entries()]) oldState.delete(k)
          for (const [k] of [...oldReplies.entries()]) oldReplies.delete(k)
        }
      })
      e.rootPending = true
      for (const [k, v] of e.state.journal) { if (v === undefined) nextState.delete(k); else nextState.set(k, v) }
      for (const [k, v] of e.replies.journal) { if (v === undefined) nextReplies.delete(k); else nextReplies.set(k, v) }
      e.state.target = nextState
      e.replies.target = nextReplies
      if (old !== e.root) e.retiring.push({ doc: old, successor: nextId })
      const from = e.genId
      e.gen = next
      e.genId = nextId
      e.turns = 0
      this.init.log('agent %s: state compacted from %s into %s', e.agentId, from, nextId)
    } catch (err) {
      if (next != null && e.gen !== next) await docs.release(next, { purge: true }).catch(() => {})
      throw err
    } finally {
      e.state.journal = undefined
      e.replies.journal = undefined
    }
    await this.flushDocs(e, [e.root], signal)
    e.rootPending = false
    await this.retireReplaced(e, signal)
  }

  /** marks replaced generations with their successor (held by the write concern) and drops them here */
  private async retireReplaced (e: Entry, signal?: AbortSignal): Promise<void> {
    for (const r of e.retiring.splice(0)) {
      // under the owner's epoch: a mark written after the next owner fenced the doc does not count
      await this.init.docs.retire(r.doc, r.successor, { ...(signal != null ? { signal } : {}), ...(e.epoch !== undefined ? { epoch: e.epoch } : {}) }).catch(err => {
        this.init.log('agent %s: retiring a replaced state generation failed: %s', e.agentId, describeError(err).message)
      })
    }
  }

  /** a generation found retired while following marks: not the state any more, not kept here */
  private async dropStale (doc: Y.Doc, docId: string): Promise<void> {
    await this.init.docs.release(doc, { purge: true }).catch(err => {
      this.init.log('state generation %s: release failed: %s', docId, describeError(err).message)
    })
  }
}
