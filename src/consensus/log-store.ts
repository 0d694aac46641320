/**
 * The durable Raft log: a RaftLogStorage over a Store (LevelDB, IndexedDB or memory).
 *
 * Reads are synchronous (the Raft core is pure), so every entry not yet compacted, the hard state
 * and the latest snapshot are held in memory and served from there; the driver keeps that bounded
 * by snapshotting and compacting (see `cachedBytes()`). Writes go through to the Store first and
 * change the in-memory view only once the Store acknowledged them, so a reader never sees state
 * that a crash could lose. `persist()` writes one Ready's hard state, entries and snapshot as ONE
 * atomic synced batch. Writes are serialised in call order.
 */
import { InvalidArgumentError, StorageError } from '../errors.ts'
import { componentLogger } from '../util/logger.ts'
import type { AbortOptions } from '../util/abort.ts'
import { throwIfAborted } from '../util/abort.ts'
import type { BatchOp, Store } from '../storage/types.ts'
import { prefixRange } from '../storage/types.ts'
import {
  LogCompactedError, LogUnavailableError, SnapshotOutOfDateError, entrySizeBytes, limitEntriesSize
} from './raft/storage.ts'
import type { RaftInitialState, RaftLogStorage } from './raft/storage.ts'
import { EntryType } from './raft/types.ts'
import type { ConfState, Entry, HardState, Snapshot } from './raft/types.ts'
import {
  ENTRY_KEY_PREFIX, HARD_STATE_KEY, LOG_START_KEY, SNAPSHOT_KEY,
  decodeEntry, decodeHardState, decodeLogStart, decodeSnapshot,
  encodeEntry, encodeHardState, encodeLogStart, encodeSnapshot, entryKey, indexOfEntryKey
} from './log-store-codec.ts'

const log = componentLogger('consensus:log-store')

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

function copyConfState (cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] }
}

function dummyEntry (index: number, term: number): Entry {
  return { term, index, type: EntryType.Normal, data: new Uint8Array(0) }
}

function corrupt (what: string, cause?: unknown): StorageError {
  log.error('raft log store is corrupt: %s', what)
  return new StorageError(`raft log store is corrupt: ${what}`, cause != null ? { cause } : {})
}

/** the in-memory view; replaced wholesale or mutated only after a write was acknowledged */
interface View {
  hardState: HardState
  snap: Snapshot
  /** ents[0] is a dummy at the compaction point (index and term of the last compacted entry) */
  ents: Entry[]
  bytes: number
}

export class DurableRaftLog implements RaftLogStorage {
  private readonly store: Store
  private view: View
  private writes: Promise<void> = Promise.resolve()

  private constructor (store: Store, view: View) {
    this.store = store
    this.view = view
  }

  /** loads the log kept in `store`, or starts a new one (with `init.bootstrap`'s snapshot if given) */
  static async open (store: Store, init: DurableRaftLogInit = {}, options: AbortOptions = {}): Promise<DurableRaftLog> {
    throwIfAborted(options.signal)
    const view = await loadView(store)
    if (view == null) {
      const empty: View = {
        hardState: { term: 0, vote: '', commit: 0 },
        snap: { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) },
        ents: [dummyEntry(0, 0)],
        bytes: 0
      }
      const plan = new Plan(empty)
      plan.startLog()
      if (init.bootstrap != null) {
        plan.applySnapshot({ metadata: { index: 1, term: 1, confState: copyConfState(init.bootstrap) }, data: new Uint8Array(0) })
      }
      await store.batch(plan.ops, { sync: true, signal: options.signal })
      return new DurableRaftLog(store, plan.commit())
    }
    log('recovered log: first %d last %d term %d commit %d', view.ents[0].index + 1, view.ents[0].index + view.ents.length - 1, view.hardState.term, view.hardState.commit)
    return new DurableRaftLog(store, view)
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
      const plan = new Plan(this.view)
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
      const plan = new Plan(this.view)
      created = plan.createSnapshot(i, cs, data)
      return plan
    })
    return created!
  }

  /** discards entries up to and including compactIndex (<= lastIndex) */
  async compact (compactIndex: number, options: AbortOptions = {}): Promise<void> {
    await this.serialised(options, () => {
      const plan = new Plan(this.view)
      plan.compact(compactIndex)
      return plan
    })
  }

  private async serialised (options: AbortOptions, makePlan: () => Plan): Promise<void> {
    const run = async (): Promise<void> => {
      throwIfAborted(options.signal)
      const plan = makePlan()
      if (plan.ops.length === 0) return
      await this.store.batch(plan.ops, { sync: true })
      this.view = plan.commit()
    }
    const result = this.writes.then(run)
    this.writes = result.catch(() => {})
    await result
  }
}

/** stages changes against a view: the store ops to write and the view they produce */
class Plan {
  readonly ops: BatchOp[] = []
  private hardState: HardState
  private snap: Snapshot
  /** the kept prefix of the old ents (length), or a fresh dummy replacing them all */
  private base: Entry[]
  private keep: number
  private added: Entry[] = []
  private readonly old: View

  constructor (view: View) {
    this.old = view
    this.hardState = view.hardState
    this.snap = view.snap
    this.base = view.ents
    this.keep = view.ents.length
  }

  private get offset (): number { return this.base[0].index }
  private get lastIndex (): number { return this.offset + this.keep - 1 + this.added.length }
  private entryAt (i: number): Entry {
    const k = i - this.offset
    return k < this.keep ? this.base[k] : this.added[k - this.keep]
  }

  setHardState (hs: HardState): void {
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit }
    this.ops.push({ type: 'put', key: HARD_STATE_KEY, value: encodeHardState(this.hardState) })
  }

  /** marks the store as holding a log (an empty one starting at index 1) */
  startLog (): void {
    this.ops.push({ type: 'put', key: LOG_START_KEY, value: encodeLogStart({ index: 0, term: 0 }) })
  }

  applySnapshot (snap: Snapshot): void {
    if (this.snap.metadata.index >= snap.metadata.index) throw new SnapshotOutOfDateError()
    for (let i = this.offset + 1; i <= this.lastIndex; i++) this.ops.push({ type: 'del', key: entryKey(i) })
    this.snap = { metadata: { ...snap.metadata, confState: copyConfState(snap.metadata.confState) }, data: snap.data }
    this.base = [dummyEntry(snap.metadata.index, snap.metadata.term)]
    this.keep = 1
    this.added = []
    this.ops.push({ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshot(this.snap) })
    this.ops.push({ type: 'put', key: LOG_START_KEY, value: encodeLogStart({ index: snap.metadata.index, term: snap.metadata.term }) })
  }

  append (entries: Entry[]): void {
    for (let k = 1; k < entries.length; k++) {
      if (entries[k].index !== entries[k - 1].index + 1) throw new InvalidArgumentError('appended entries must have consecutive indexes')
    }
    const first = this.offset + 1
    if (entries[0].index + entries.length - 1 < first) return
    if (first > entries[0].index) entries = entries.slice(first - entries[0].index)
    const at = entries[0].index - this.offset
    const length = this.keep + this.added.length
    if (at > length) throw new LogUnavailableError(`missing log entry [last: ${this.lastIndex}, append at: ${entries[0].index}]`)
    const newLast = entries[entries.length - 1].index
    for (let i = newLast + 1; i <= this.lastIndex; i++) this.ops.push({ type: 'del', key: entryKey(i) })
    if (at < this.keep) {
      this.keep = at
      this.added = []
    } else {
      this.added = this.added.slice(0, at - this.keep)
    }
    for (const e of entries) {
      const copy: Entry = { term: e.term, index: e.index, type: e.type, data: e.data }
      this.added.push(copy)
      this.ops.push({ type: 'put', key: entryKey(e.index), value: encodeEntry(copy) })
    }
  }

  createSnapshot (i: number, cs: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw new SnapshotOutOfDateError()
    if (i < this.offset) throw new SnapshotOutOfDateError(`snapshot ${i} is older than the compaction point ${this.offset}`)
    if (i > this.lastIndex) throw new LogUnavailableError(`snapshot ${i} is out of bound lastindex(${this.lastIndex})`)
    this.snap = {
      metadata: { index: i, term: this.entryAt(i).term, confState: copyConfState(cs ?? this.snap.metadata.confState) },
      data
    }
    this.ops.push({ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshot(this.snap) })
    return this.snap
  }

  compact (compactIndex: number): void {
    if (compactIndex <= this.offset) throw new LogCompactedError()
    if (compactIndex > this.lastIndex) throw new LogUnavailableError(`compact ${compactIndex} is out of bound lastindex(${this.lastIndex})`)
    const all = this.entriesFrom(compactIndex)
    const term = all[0].term
    for (let i = this.offset + 1; i <= compactIndex; i++) this.ops.push({ type: 'del', key: entryKey(i) })
    this.ops.push({ type: 'put', key: LOG_START_KEY, value: encodeLogStart({ index: compactIndex, term }) })
    this.base = [dummyEntry(compactIndex, term), ...all.slice(1)]
    this.keep = this.base.length
    this.added = []
  }

  private entriesFrom (i: number): Entry[] {
    const k = i - this.offset
    return k < this.keep ? [...this.base.slice(k, this.keep), ...this.added] : this.added.slice(k - this.keep)
  }

  /** the view after the write; reuses the old entries array when only appending to it */
  commit (): View {
    let ents: Entry[]
    let bytes: number
    if (this.base === this.old.ents) {
      ents = this.base
      bytes = this.old.bytes
      for (let k = Math.max(1, this.keep); k < ents.length; k++) bytes -= entrySizeBytes(ents[k])
      if (this.keep < ents.length) ents.length = this.keep
    } else {
      ents = this.keep === this.base.length ? this.base : this.base.slice(0, this.keep)
      bytes = 0
      for (let k = 1; k < ents.length; k++) bytes += entrySizeBytes(ents[k])
    }
    for (const e of this.added) {
      ents.push(e)
      bytes += entrySizeBytes(e)
    }
    return { hardState: this.hardState, snap: this.snap, ents, bytes }
  }
}

/** reads everything back from the store; undefined when the store holds no log yet */
async function loadView (store: Store): Promise<View | undefined> {
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
