/**
 * The Raft log as the core sees it: the stable part read from RaftLogStorage, plus the unstable
 * tail (entries and possibly a snapshot) not yet handed to the driver for persistence.
 */
import { LogCompactedError, LogUnavailableError, limitEntriesSize } from './storage.ts'
import type { RaftLogStorage } from './storage.ts'
import type { Entry, Snapshot } from './types.ts'

/** entries and a snapshot that the driver has not yet persisted; `offset` is entries[0].index */
class Unstable {
  snapshot: Snapshot | undefined = undefined
  entries: Entry[] = []
  offset: number

  constructor (offset: number) {
    this.offset = offset
  }

  maybeFirstIndex (): number {
    return this.snapshot !== undefined ? this.snapshot.metadata.index + 1 : -1
  }

  maybeLastIndex (): number {
    if (this.entries.length !== 0) return this.offset + this.entries.length - 1
    return this.snapshot !== undefined ? this.snapshot.metadata.index : -1
  }

  /** the term of entry i if the unstable part knows it, else -1 */
  maybeTerm (i: number): number {
    if (i < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.metadata.index === i) return this.snapshot.metadata.term
      return -1
    }
    const last = this.maybeLastIndex()
    if (last === -1 || i > last) return -1
    return this.entries[i - this.offset].term
  }

  stableTo (i: number, t: number): void {
    const gt = this.maybeTerm(i)
    if (gt === -1) return
    // only drop entries that were not replaced by a newer leader since the Ready was produced
    if (gt === t && i >= this.offset) {
      this.entries = this.entries.slice(i + 1 - this.offset)
      this.offset = i + 1
    }
  }

  stableSnapTo (i: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) this.snapshot = undefined
  }

  restore (s: Snapshot): void {
    this.offset = s.metadata.index + 1
    this.entries = []
    this.snapshot = s
  }

  truncateAndAppend (ents: Entry[]): void {
    const after = ents[0].index
    if (after === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e)
    } else if (after <= this.offset) {
      // the log is being replaced from before our unstable tail
      this.offset = after
      this.entries = ents.slice()
    } else {
      this.entries = this.entries.slice(0, after - this.offset)
      for (const e of ents) this.entries.push(e)
    }
  }

  slice (lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset)
  }
}

export class RaftLog {
  readonly storage: RaftLogStorage
  readonly unstable: Unstable
  /** highest index known committed (on a quorum) */
  committed: number
  /** highest index the application has applied */
  applied: number
  /** byte limit of committed entries handed out per Ready */
  readonly maxNextEntsBytes: number

  constructor (storage: RaftLogStorage, maxNextEntsBytes: number) {
    this.storage = storage
    this.maxNextEntsBytes = maxNextEntsBytes
    const first = storage.firstIndex()
    const last = storage.lastIndex()
    this.unstable = new Unstable(last + 1)
    this.committed = first - 1
    this.applied = first - 1
  }

  toString (): string {
    return `committed=${this.committed}, applied=${this.applied}, unstable.offset=${this.unstable.offset}, len(unstable.Entries)=${this.unstable.entries.length}`
  }

  /**
   * appends ents after (index, logTerm) if that entry matches; returns the last new index, or -1
   * when the log does not match (the leader then probes further back)
   */
  maybeAppend (index: number, logTerm: number, committed: number, ents: Entry[]): number {
    if (!this.matchTerm(index, logTerm)) return -1
    const lastNew = index + ents.length
    const ci = this.findConflict(ents)
    if (ci !== 0) {
      if (ci <= this.committed) throw new Error(`entry ${ci} conflict with committed entry [committed(${this.committed})]`)
      this.append(ci === ents[0].index ? ents : ents.slice(ci - (index + 1)))
    }
    this.commitTo(Math.min(committed, lastNew))
    return lastNew
  }

  append (ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex()
    const after = ents[0].index - 1
    if (after < this.committed) throw new Error(`after(${after}) is out of range [committed(${this.committed})]`)
    this.unstable.truncateAndAppend(ents)
    return this.lastIndex()
  }

  /** index of the first entry in ents whose term differs from ours, or 0 if none (all known) */
  findConflict (ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index
    }
    return 0
  }

  /**
   * the largest index <= index whose term is <= term: where a rejected append may match, so the
   * leader can skip a whole term of conflicting entries at once
   */
  findConflictByTerm (index: number, term: number): number {
    for (let i = index; i > 0; i--) {
      const t = this.termOrNegative(i)
      if (t === -1) return i // compacted or unavailable: cannot look further
      if (t <= term) return i
    }
    return 0
  }

  unstableEntries (): Entry[] {
    return this.unstable.entries
  }

  /** committed entries not yet applied, within the byte limit (empty if none) */
  nextCommittedEnts (): Entry[] {
    const off = Math.max(this.applied + 1, this.firstIndex())
    if (this.committed + 1 > off) return this.slice(off, this.committed + 1, this.maxNextEntsBytes)
    return []
  }

  hasNextCommittedEnts (): boolean {
    return this.committed + 1 > Math.max(this.applied + 1, this.firstIndex())
  }

  hasPendingSnapshot (): boolean {
    return this.unstable.snapshot !== undefined
  }

  snapshot (): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot()
  }

  firstIndex (): number {
    const i = this.unstable.maybeFirstIndex()
    return i !== -1 ? i : this.storage.firstIndex()
  }

  lastIndex (): number {
    const i = this.unstable.maybeLastIndex()
    return i !== -1 ? i : this.storage.lastIndex()
  }

  commitTo (toCommit: number): void {
    if (this.committed < toCommit) {
      if (this.lastIndex() < toCommit) throw new Error(`tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]`)
      this.committed = toCommit
    }
  }

  appliedTo (i: number): void {
    if (i === 0) return
    if (this.committed < i || i < this.applied) throw new Error(`applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`)
    this.applied = i
  }

  stableTo (i: number, t: number): void {
    this.unstable.stableTo(i, t)
  }

  /**
   * the last index of the part of this log that is durable: everything before the unstable tail
   * (what storage holds beyond it is being replaced). 0 while a snapshot waits to be persisted.
   */
  stableLastIndex (): number {
    if (this.unstable.snapshot !== undefined) return 0
    return this.unstable.entries.length > 0 ? this.unstable.offset - 1 : this.lastIndex()
  }

  stableSnapTo (i: number): void {
    this.unstable.stableSnapTo(i)
  }

  lastTerm (): number {
    return this.term(this.lastIndex())
  }

  /** term of entry i, or -1 when it is compacted away or beyond the log */
  termOrNegative (i: number): number {
    const dummy = this.firstIndex() - 1
    if (i < dummy || i > this.lastIndex()) return -1
    const t = this.unstable.maybeTerm(i)
    if (t !== -1) return t
    try {
      return this.storage.term(i)
    } catch (err) {
      if (err instanceof LogCompactedError || err instanceof LogUnavailableError) return -1
      throw err
    }
  }

  /** term of entry i, 0 when unknown (etcd's zeroTermOnErrCompacted) */
  term (i: number): number {
    const t = this.termOrNegative(i)
    return t === -1 ? 0 : t
  }

  /** entries from i on, at most maxBytes (at least one); throws LogCompactedError if i is gone */
  entries (i: number, maxBytes: number): Entry[] {
    if (i > this.lastIndex()) return []
    return this.slice(i, this.lastIndex() + 1, maxBytes)
  }

  allEntries (): Entry[] {
    return this.entries(this.firstIndex(), Infinity)
  }

  /** whether a candidate with (lastIndex, term) is at least as up to date as this log */
  isUpToDate (lasti: number, term: number): boolean {
    const lt = this.lastTerm()
    return term > lt || (term === lt && lasti >= this.lastIndex())
  }

  matchTerm (i: number, term: number): boolean {
    const t = this.termOrNegative(i)
    return t !== -1 && t === term
  }

  /** commits up to maxIndex if that entry is from `term` (the leader's current term) */
  maybeCommit (maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex)
      return true
    }
    return false
  }

  restore (s: Snapshot): void {
    this.committed = s.metadata.index
    this.unstable.restore(s)
  }

  /** entries in [lo, hi) from storage and the unstable tail, at most maxBytes (at least one) */
  slice (lo: number, hi: number, maxBytes: number): Entry[] {
    const fi = this.firstIndex()
    if (lo < fi) throw new LogCompactedError()
    const length = this.lastIndex() + 1 - fi
    if (hi > fi + length) throw new LogUnavailableError(`slice[${lo},${hi}) out of bound [${fi},${this.lastIndex()}]`)
    if (lo === hi) return []
    let ents: Entry[] = []
    const uoff = this.unstable.offset
    if (lo < uoff) {
      const stored = this.storage.entries(lo, Math.min(hi, uoff), maxBytes)
      // storage returned fewer than asked (size limit): that is all for this call
      if (stored.length < Math.min(hi, uoff) - lo) return stored
      ents = stored
    }
    if (hi > uoff) {
      const unstable = this.unstable.slice(Math.max(lo, uoff), hi)
      ents = ents.length > 0 ? ents.concat(unstable) : unstable
    }
    return maxBytes === Infinity ? ents : limitEntriesSize(ents, maxBytes)
  }
}
