/**
 * The stable log the Raft core reads from, shaped like etcd-io/raft's `Storage`.
 *
 * The core only ever READS storage; the driver WRITES it (in Ready order: entries, hard state and
 * snapshot durably, then messages, then apply, then advance()). Reads are synchronous because the
 * core is a pure state machine: a durable implementation (LevelDB, IndexedDB) keeps the log it
 * serves (or an index of it) in memory and writes through to disk from the driver.
 *
 * Index convention (as in etcd): the storage holds a dummy entry at `firstIndex() - 1` whose term
 * is the term of the last compacted entry (or of the applied snapshot), so `term(firstIndex() - 1)`
 * always succeeds.
 */
import { AgentMeshError } from '../../errors.ts'
import { EntryType } from './types.ts'
import type { ConfState, Entry, HardState, Snapshot } from './types.ts'

/** the requested index is older than the first entry still kept (compacted into a snapshot) */
export class LogCompactedError extends AgentMeshError {
  constructor (message = 'requested index is unavailable due to compaction') {
    super(message)
    this.name = 'LogCompactedError'
  }
}

/** the requested index is beyond the last entry in storage */
export class LogUnavailableError extends AgentMeshError {
  constructor (message = 'requested entry at index is unavailable') {
    super(message)
    this.name = 'LogUnavailableError'
  }
}

/** the snapshot being applied or created is older than the one already held */
export class SnapshotOutOfDateError extends AgentMeshError {
  constructor (message = 'requested index is older than the existing snapshot') {
    super(message)
    this.name = 'SnapshotOutOfDateError'
  }
}

/** the snapshot is being produced; the core retries later (the peer stays in probe state) */
export class SnapshotTemporarilyUnavailableError extends AgentMeshError {
  constructor (message = 'snapshot is temporarily unavailable') {
    super(message)
    this.name = 'SnapshotTemporarilyUnavailableError'
  }
}

export interface RaftInitialState {
  hardState: HardState
  confState: ConfState
}

/** what the Raft core reads from the stable (persisted) log */
export interface RaftLogStorage {
  /** the persisted hard state and the membership at the last snapshot or conf change applied */
  initialState: () => RaftInitialState
  /**
   * entries in [lo, hi), at most `maxBytes` in total (see entrySizeBytes) but always at least one
   * if any exist in range. Throws LogCompactedError if lo < firstIndex(), LogUnavailableError
   * if hi > lastIndex() + 1.
   */
  entries: (lo: number, hi: number, maxBytes: number) => Entry[]
  /** term of entry i, for firstIndex()-1 <= i <= lastIndex(); otherwise throws as entries() */
  term: (i: number) => number
  /** index of the first entry still available (the one after the snapshot) */
  firstIndex: () => number
  /** index of the last entry (snapshot index when the log is empty) */
  lastIndex: () => number
  /** the most recent snapshot; may throw SnapshotTemporarilyUnavailableError */
  snapshot: () => Snapshot
}

/** bytes counted for an entry against size limits: its payload plus a fixed header estimate */
export const ENTRY_OVERHEAD_BYTES = 24

export function entrySizeBytes (e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD_BYTES
}

/** the leading entries of `ents` whose total size stays within maxBytes (at least one) */
export function limitEntriesSize (ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents
  let size = entrySizeBytes(ents[0])
  let n = 1
  for (; n < ents.length; n++) {
    size += entrySizeBytes(ents[n])
    if (size > maxBytes) break
  }
  return n === ents.length ? ents : ents.slice(0, n)
}

function emptySnapshot (): Snapshot {
  return { metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) }
}

/**
 * An in-memory RaftLogStorage: the simple implementation for tests and the simulator, and the
 * shape a durable one follows (append/applySnapshot/compact/createSnapshot/setHardState).
 */
export class MemoryRaftStorage implements RaftLogStorage {
  private hardState: HardState = { term: 0, vote: '', commit: 0 }
  private snap: Snapshot = emptySnapshot()
  /** ents[0] is a dummy entry at the snapshot (or compaction) point */
  private ents: Entry[] = [{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]

  /**
   * a storage for a brand-new group: a bootstrap snapshot at index 1, term 1 holding the initial
   * membership and an empty state machine. Nodes that join later start from an empty storage
   * (new MemoryRaftStorage()) and receive the membership with a snapshot from the leader.
   */
  static bootstrap (confState: ConfState): MemoryRaftStorage {
    const s = new MemoryRaftStorage()
    s.applySnapshot({
      metadata: { index: 1, term: 1, confState: { voters: [...confState.voters], learners: [...confState.learners] } },
      data: new Uint8Array(0)
    })
    return s
  }

  initialState (): RaftInitialState {
    return { hardState: { ...this.hardState }, confState: this.snap.metadata.confState }
  }

  setHardState (hs: HardState): void {
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit }
  }

  /** the persisted hard state (for drivers and tests) */
  getHardState (): HardState {
    return { ...this.hardState }
  }

  entries (lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0].index
    if (lo <= offset) throw new LogCompactedError()
    if (hi > this.lastIndex() + 1) throw new LogUnavailableError(`entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`)
    if (this.ents.length === 1) return []
    return limitEntriesSize(this.ents.slice(lo - offset, hi - offset), maxBytes)
  }

  term (i: number): number {
    const offset = this.ents[0].index
    if (i < offset) throw new LogCompactedError()
    if (i - offset >= this.ents.length) throw new LogUnavailableError()
    return this.ents[i - offset].term
  }

  firstIndex (): number {
    return this.ents[0].index + 1
  }

  lastIndex (): number {
    return this.ents[0].index + this.ents.length - 1
  }

  snapshot (): Snapshot {
    return this.snap
  }

  /** replaces the whole log with the snapshot; throws SnapshotOutOfDateError if older */
  applySnapshot (snap: Snapshot): void {
    if (this.snap.metadata.index >= snap.metadata.index) throw new SnapshotOutOfDateError()
    this.snap = snap
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: EntryType.Normal, data: new Uint8Array(0) }]
  }

  /**
   * records a snapshot of the state machine at index i (<= lastIndex) for sending to lagging
   * followers; call compact() separately to drop the entries it covers. Throws
   * SnapshotOutOfDateError when i is not newer than the snapshot held or is below the compaction
   * point, LogUnavailableError when i is beyond the last entry.
   */
  createSnapshot (i: number, cs: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw new SnapshotOutOfDateError()
    const offset = this.ents[0].index
    // compaction may have gone past the last snapshot: the entry (and its term) is gone
    if (i < offset) throw new SnapshotOutOfDateError(`snapshot ${i} is older than the compaction point ${offset}`)
    if (i > this.lastIndex()) throw new LogUnavailableError(`snapshot ${i} is out of bound lastindex(${this.lastIndex()})`)
    const confState = cs ?? this.snap.metadata.confState
    this.snap = {
      metadata: { index: i, term: this.ents[i - offset].term, confState: { voters: [...confState.voters], learners: [...confState.learners] } },
      data
    }
    return this.snap
  }

  /** discards entries up to and including compactIndex (which must be <= lastIndex) */
  compact (compactIndex: number): void {
    const offset = this.ents[0].index
    if (compactIndex <= offset) throw new LogCompactedError()
    if (compactIndex > this.lastIndex()) throw new LogUnavailableError(`compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`)
    const i = compactIndex - offset
    const dummy: Entry = { term: this.ents[i].term, index: this.ents[i].index, type: EntryType.Normal, data: new Uint8Array(0) }
    this.ents = [dummy, ...this.ents.slice(i + 1)]
  }

  /**
   * appends entries (already persisted by the caller's rules): entries that overlap existing ones
   * replace them and everything after; entries already compacted are skipped.
   */
  append (entries: Entry[]): void {
    if (entries.length === 0) return
    const first = this.firstIndex()
    const last = entries[0].index + entries.length - 1
    if (last < first) return
    if (first > entries[0].index) entries = entries.slice(first - entries[0].index)
    const offset = entries[0].index - this.ents[0].index
    if (offset > this.ents.length) {
      throw new LogUnavailableError(`missing log entry [last: ${this.lastIndex()}, append at: ${entries[0].index}]`)
    }
    if (offset < this.ents.length) this.ents.length = offset
    for (const e of entries) this.ents.push(e)
  }
}
