/**
 * The durable Raft log: a RaftLogStorage over a Store (LevelDB, IndexedDB or memory).
 *
 * Reads are synchronous (the Raft core is pure), so every entry not yet compacted, the hard state
 * and the latest snapshot are held in memory and served from there; the driver keeps that bounded
 * by snapshotting and compacting (see `cachedBytes()`). Writes go through to the backend first and
 * change the in-memory view only once the backend acknowledged them, so a reader never sees state
 * that a crash could lose. `persist()` writes one Ready's hard state, entries and snapshot as ONE
 * atomic synced write. Writes are serialised in call order.
 *
 * Backends: a Store (`DurableRaftLog.open`: one synced LevelDB / IndexedDB / memory batch per
 * write), or any RaftLogBackend (`DurableRaftLog.openWith`), such as Node's write-ahead log in
 * src/consensus/wal/ (one append + one fdatasync per write).
 */
import { StorageError } from '../errors.ts'
import { componentLogger } from '../util/logger.ts'
import type { AbortOptions } from '../util/abort.ts'
import { throwIfAborted } from '../util/abort.ts'
import type { Store } from '../storage/types.ts'
import { prefixRange } from '../storage/types.ts'
import { LogCompactedError, LogUnavailableError, entrySizeBytes, limitEntriesSize } from './raft/storage.ts'
import type { RaftInitialState, RaftLogStorage } from './raft/storage.ts'
import type { ConfState, Entry, HardState, Snapshot } from './raft/types.ts'
import {
  ENTRY_KEY_PREFIX, HARD_STATE_KEY, LOG_START_KEY, SNAPSHOT_KEY,
  decodeEntry, decodeHardState, decodeLogStart, decodeSnapshot, indexOfEntryKey
} from './log-store-codec.ts'
import { Plan, copyConfState, dummyEntry, emptyView } from './log-plan.ts'
import type { View } from './log-plan.ts'

export type { LogChange, View } from './log-plan.ts'
export { Plan } from './log-plan.ts'

const log = componentLogger('consensus:log-store')

/**
 * Where the log is kept. `write` makes a plan durable (all of it or, after a crash, none of it)
 * before it resolves; `load` reads back the view, or undefined when nothing is kept yet.
 */
export interface RaftLogBackend {
  /** whether plans must carry Store ops (`plan.ops`); otherwise only `plan.changes` */
  readonly storeOps: boolean
  load: (options?: AbortOptions) => Promise<View | undefined>
  write: (plan: Plan, options?: AbortOptions) => Promise<void>
  close: () => Promise<void>
}

/** the Store backend: the log as keys of `store`, each write one synced batch */
export function storeBackend (store: Store): RaftLogBackend {
  return {
    storeOps: true,
    load: async () => await loadView(store),
    write: async (plan) => { await store.batch(plan.ops, { sync: true }) },
    close: async () => {}
  }
}

/** what one Ready asks to be made durable */
export interface RaftPersist {
  hardState?: HardState
  entries?: Entry[]
  snapshot?: Snapshot
}

export interface DurableRaftLogInit {
  /**
   * for a brand-new group: when the store holds no log yet, start it with a bootstrap snapshot at
   * index 1, term 1 holding this membership (as MemoryRaftStorage.bootstrap). Ignored when the
   * store already holds a log. Nodes that join later open an empty log and get a snapshot.
   */
  bootstrap?: ConfState
}

function corrupt (what: string, cause?: unknown): StorageError {
  log.error('raft log store is corrupt: %s', what)
  return new StorageError(`raft log store is corrupt: ${what}`, cause != null ? { cause } : {})
}

export class DurableRaftLog implements RaftLogStorage {
  private readonly backend: RaftLogBackend
  private view: View
  private writes: Promise<void> = Promise.resolve()
  /** writes called and not yet settled (the one running included) */
  private writesUnderWay = 0

  private constructor (backend: RaftLogBackend, view: View) {
    this.backend = backend
    this.view = view
  }

  /** loads the log kept in `store`, or starts a new one (with `init.bootstrap`'s snapshot if given) */
  static async open (store: Store, init: DurableRaftLogInit = {}, options: AbortOptions = {}): Promise<DurableRaftLog> {
    return await DurableRaftLog.openWith(storeBackend(store), init, options)
  }

  /** as open(), over any backend; close() closes the backend */
  static async openWith (backend: RaftLogBackend, init: DurableRaftLogInit = {}, options: AbortOptions = {}): Promise<DurableRaftLog> {
    throwIfAborted(options.signal)
    const view = await backend.load(options)
    if (view == null) {
      const plan = new Plan(emptyView(), backend.storeOps)
      plan.startLog()
      if (init.bootstrap != null) {
        plan.applySnapshot({ metadata: { index: 1, term: 1, confState: copyConfState(init.bootstrap) }, data: new Uint8Array(0) })
      }
      await backend.write(plan, options)
      return new DurableRaftLog(backend, plan.commit())
    }
    log('recovered log: first %d last %d term %d commit %d', view.ents[0].index + 1, view.ents[0].index + view.ents.length - 1, view.hardState.term, view.hardState.commit)
    return new DurableRaftLog(backend, view)
  }

  /** waits for the writes under way, then closes the backend (a Store backend leaves the store open) */
  async close (): Promise<void> {
    await this.writes
    await this.backend.close()
  }

  // ---- RaftLogStorage (synchronous reads from memory) ----

  /** the hard state, and the membership of the latest snapshot (conf changes after it are in the log) */
  initialState (): RaftInitialState {
    return { hardState: { ...this.view.hardState }, confState: copyConfState(this.view.snap.metadata.confState) }
  }

  entries (lo: number, hi: number, maxBytes: number): Entry[] {
    const ents = this.view.ents
    const offset = ents[0].index
    if (lo <= offset) throw new LogCompactedError()
    if (hi > this.lastIndex() + 1) throw new LogUnavailableError(`entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`)
    if (ents.length === 1 || hi <= lo) return []
    return limitEntriesSize(ents.slice(lo - offset, hi - offset), maxBytes)
  }

  term (i: number): number {
    const ents = this.view.ents
    const offset = ents[0].index
    if (i < offset) throw new LogCompactedError()
    if (i - offset >= ents.length) throw new LogUnavailableError()
    return ents[i - offset].term
  }

  firstIndex (): number {
    return this.view.ents[0].index + 1
  }

  lastIndex (): number {
    return this.view.ents[0].index + this.view.ents.length - 1
  }

  snapshot (): Snapshot {
    return this.view.snap
  }

  // ---- inspection ----

  getHardState (): HardState {
    return { ...this.view.hardState }
  }

  /** bytes of entry payloads (with overhead) held in memory; the driver snapshots when it grows */
  cachedBytes (): number {
    return this.view.bytes
  }

  // ---- writes (durable when the promise resolves) ----

  /**
   * makes one Ready's snapshot, entries and hard state durable in a single atomic synced batch,
   * in etcd's order: the snapshot replaces the log, then entries are appended (truncating any
   * conflicting suffix), then the hard state is recorded.
   */
  async persist (ready: RaftPersist, options: AbortOptions = {}): Promise<void> {
    await this.serialised(options, () => {
      const plan = new Plan(this.view, this.backend.storeOps)
      if (ready.snapshot != null) plan.applySnapshot(ready.snapshot)
      if (ready.entries != null && ready.entries.length > 0) plan.append(ready.entries)
      if (ready.hardState != null) plan.setHardState(ready.hardState)
      return plan
    })
  }

  async append (entries: Entry[], options?: AbortOptions): Promise<void> {
    await this.persist({ entries }, options)
  }

  async setHardState (hs: HardState, options?: AbortOptions): Promise<void> {
    await this.persist({ hardState: hs }, options)
  }

  /** replaces the whole log with `snap`; SnapshotOutOfDateError if not newer than the one held */
  async applySnapshot (snap: Snapshot, options?: AbortOptions): Promise<void> {
    await this.persist({ snapshot: snap }, options)
  }

  /**
   * records a snapshot of the state machine at index i (<= lastIndex) for lagging followers and
   * restarts; call compact() separately to drop the entries it covers
   */
  async createSnapshot (i: number, cs: ConfState | undefined, data: Uint8Array, options: AbortOptions = {}): Promise<Snapshot> {
    let created: Snapshot | undefined
    await this.serialised(options, () => {
      const plan = new Plan(this.view, this.backend.storeOps)
      created = plan.createSnapshot(i, cs, data)
      return plan
    })
    return created!
  }

  /** discards entries up to and including compactIndex (<= lastIndex) */
  async compact (compactIndex: number, options: AbortOptions = {}): Promise<void> {
    await this.serialised(options, () => {
      const plan = new Plan(this.view, this.backend.storeOps)
      plan.compact(compactIndex)
      return plan
    })
  }

  /**
   * runs writes one after another in call order. With none under way the write starts within
   * the call (the backend has it before persist() returns, so the caller can work while the disk
   * does); otherwise after the last one settles
   */
  private async serialised (options: AbortOptions, makePlan: () => Plan): Promise<void> {
    const run = async (): Promise<void> => {
      try {
        throwIfAborted(options.signal)
        const plan = makePlan()
        if (plan.empty) return
        await this.backend.write(plan)
        this.view = plan.commit()
      } finally {
        this.writesUnderWay--
      }
    }
    const idle = this.writesUnderWay === 0
    this.writesUnderWay++
    const result = idle ? run() : this.writes.then(run)
    this.writes = result.catch(() => {})
    await result
  }
}

/** reads everything back from the store; undefined when the store holds no log yet */
export async function loadView (store: Store): Promise<View | undefined> {
  const startBytes = await store.get(LOG_START_KEY)
  if (startBytes == null) return undefined
  try {
    const start = decodeLogStart(startBytes)
    const hsBytes = await store.get(HARD_STATE_KEY)
    const hardState = hsBytes != null ? decodeHardState(hsBytes) : { term: 0, vote: '', commit: 0 }
    const snapBytes = await store.get(SNAPSHOT_KEY)
    const snap: Snapshot = snapBytes != null
      ? decodeSnapshot(snapBytes)
      : { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) }
    const ents: Entry[] = [dummyEntry(start.index, start.term)]
    let bytes = 0
    for await (const [key, value] of store.entries(prefixRange(ENTRY_KEY_PREFIX))) {
      const index = indexOfEntryKey(key)
      if (Number.isNaN(index)) throw corrupt(`unexpected key ${key}`)
      if (index <= start.index) throw corrupt(`entry ${index} at or before the log start ${start.index}`)
      if (index !== start.index + ents.length) throw corrupt(`gap before entry ${index} (expected ${start.index + ents.length})`)
      const e = decodeEntry(index, value)
      ents.push(e)
      bytes += entrySizeBytes(e)
    }
    return { hardState, snap, ents, bytes }
  } catch (err) {
    if (err instanceof StorageError) throw err
    throw corrupt(err instanceof Error ? err.message : String(err), err)
  }
}
