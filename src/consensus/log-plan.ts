/**
 * The in-memory view of the durable Raft log, and the Plan that stages one write against it.
 *
 * A Plan records what a write changes twice over, for the two kinds of backend: `ops` (the
 * key-value puts and deletes for a Store backend, only when asked for) and `changes` (the logical
 * records a write-ahead log appends). The view it produces is taken only once the backend
 * acknowledged the write.
 */
import { InvalidArgumentError } from '../errors.ts'
import type { BatchOp } from '../storage/types.ts'
import {
  LogCompactedError, LogUnavailableError, SnapshotOutOfDateError, entrySizeBytes
} from './raft/storage.ts'
import { EntryType } from './raft/types.ts'
import type { ConfState, Entry, HardState, Snapshot } from './raft/types.ts'
import {
  HARD_STATE_KEY, LOG_START_KEY, SNAPSHOT_KEY,
  encodeEntry, encodeHardState, encodeLogStart, encodeSnapshot, entryKey
} from './log-store-codec.ts'

export function copyConfState (cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] }
}

export function dummyEntry (index: number, term: number): Entry {
  return { term, index, type: EntryType.Normal, data: new Uint8Array(0) }
}

/** the in-memory view; replaced wholesale or mutated only after a write was acknowledged */
export interface View {
  hardState: HardState
  snap: Snapshot
  /** ents[0] is a dummy at the compaction point (index and term of the last compacted entry) */
  ents: Entry[]
  bytes: number
}

export function emptyView (): View {
  return {
    hardState: { term: 0, vote: '', commit: 0 },
    snap: { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) },
    ents: [dummyEntry(0, 0)],
    bytes: 0
  }
}

/** one logical change of a write, in order, as a write-ahead log records it */
export type LogChange =
  | { kind: 'hardState', hardState: HardState }
  /** the log is replaced by the snapshot at index/term (its data is kept apart from the log) */
  | { kind: 'snapshot', index: number, term: number }
  /** entries appended at entries[0].index, replacing any from there on */
  | { kind: 'entries', entries: Entry[] }
  /** entries up to index dropped; the dummy before the first kept entry has this index and term */
  | { kind: 'compact', index: number, term: number }
  /** a snapshot of the state machine at index/term was saved (the log is unchanged) */
  | { kind: 'savedSnapshot', index: number, term: number }

/** stages changes against a view: the store ops (if wanted) and logical changes, and the view they produce */
export class Plan {
  readonly ops: BatchOp[] = []
  readonly changes: LogChange[] = []
  /** the snapshot (with data) to store when this write replaces or creates one */
  snapshotToStore: Snapshot | undefined
  private readonly storeOps: boolean
  private hardState: HardState
  private snap: Snapshot
  /** the kept prefix of the old ents (length), or a fresh dummy replacing them all */
  private base: Entry[]
  private keep: number
  private added: Entry[] = []
  private readonly old: View

  constructor (view: View, storeOps: boolean) {
    this.old = view
    this.storeOps = storeOps
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

  /** true when the write changes nothing */
  get empty (): boolean {
    return this.ops.length === 0 && this.changes.length === 0 && this.snapshotToStore === undefined
  }

  setHardState (hs: HardState): void {
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit }
    this.changes.push({ kind: 'hardState', hardState: this.hardState })
    if (this.storeOps) this.ops.push({ type: 'put', key: HARD_STATE_KEY, value: encodeHardState(this.hardState) })
  }

  /** marks the store as holding a log (an empty one starting at index 1) */
  startLog (): void {
    this.changes.push({ kind: 'compact', index: 0, term: 0 })
    if (this.storeOps) this.ops.push({ type: 'put', key: LOG_START_KEY, value: encodeLogStart({ index: 0, term: 0 }) })
  }

  applySnapshot (snap: Snapshot): void {
    if (this.snap.metadata.index >= snap.metadata.index) throw new SnapshotOutOfDateError()
    if (this.storeOps) for (let i = this.offset + 1; i <= this.lastIndex; i++) this.ops.push({ type: 'del', key: entryKey(i) })
    this.snap = { metadata: { ...snap.metadata, confState: copyConfState(snap.metadata.confState) }, data: snap.data }
    this.base = [dummyEntry(snap.metadata.index, snap.metadata.term)]
    this.keep = 1
    this.added = []
    this.snapshotToStore = this.snap
    this.changes.push({ kind: 'snapshot', index: snap.metadata.index, term: snap.metadata.term })
    if (this.storeOps) {
      this.ops.push({ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshot(this.snap) })
      this.ops.push({ type: 'put', key: LOG_START_KEY, value: encodeLogStart({ index: snap.metadata.index, term: snap.metadata.term }) })
    }
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
    if (this.storeOps) for (let i = newLast + 1; i <= this.lastIndex; i++) this.ops.push({ type: 'del', key: entryKey(i) })
    if (at < this.keep) {
      this.keep = at
      this.added = []
    } else {
      this.added = this.added.slice(0, at - this.keep)
    }
    const copies: Entry[] = []
    for (const e of entries) {
      const copy: Entry = { term: e.term, index: e.index, type: e.type, data: e.data }
      this.added.push(copy)
      copies.push(copy)
      if (this.storeOps) this.ops.push({ type: 'put', key: entryKey(e.index), value: encodeEntry(copy) })
    }
    this.changes.push({ kind: 'entries', entries: copies })
  }

  createSnapshot (i: number, cs: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw new SnapshotOutOfDateError()
    if (i < this.offset) throw new SnapshotOutOfDateError(`snapshot ${i} is older than the compaction point ${this.offset}`)
    if (i > this.lastIndex) throw new LogUnavailableError(`snapshot ${i} is out of bound lastindex(${this.lastIndex})`)
    this.snap = {
      metadata: { index: i, term: this.entryAt(i).term, confState: copyConfState(cs ?? this.snap.metadata.confState) },
      data
    }
    this.snapshotToStore = this.snap
    this.changes.push({ kind: 'savedSnapshot', index: i, term: this.snap.metadata.term })
    if (this.storeOps) this.ops.push({ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshot(this.snap) })
    return this.snap
  }

  compact (compactIndex: number): void {
    if (compactIndex <= this.offset) throw new LogCompactedError()
    if (compactIndex > this.lastIndex) throw new LogUnavailableError(`compact ${compactIndex} is out of bound lastindex(${this.lastIndex})`)
    const all = this.entriesFrom(compactIndex)
    const term = all[0].term
    if (this.storeOps) {
      for (let i = this.offset + 1; i <= compactIndex; i++) this.ops.push({ type: 'del', key: entryKey(i) })
      this.ops.push({ type: 'put', key: LOG_START_KEY, value: encodeLogStart({ index: compactIndex, term }) })
    }
    this.changes.push({ kind: 'compact', index: compactIndex, term })
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
