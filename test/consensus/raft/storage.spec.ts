import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  EntryType, LogCompactedError, LogUnavailableError, MemoryRaftStorage, SnapshotOutOfDateError,
  entrySizeBytes, limitEntriesSize
} from '../../../src/consensus/raft/index.ts'
import type { Entry } from '../../../src/consensus/raft/index.ts'

function ents (from: number, to: number, term = 1, size = 0): Entry[] {
  const out: Entry[] = []
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: EntryType.Normal, data: new Uint8Array(size) })
  return out
}

describe('MemoryRaftStorage', () => {
  it('starts empty at index 0 and serves appended entries', () => {
    const s = new MemoryRaftStorage()
    assert.equal(s.firstIndex(), 1)
    assert.equal(s.lastIndex(), 0)
    assert.equal(s.term(0), 0)
    s.append(ents(1, 5))
    assert.equal(s.lastIndex(), 5)
    assert.deepEqual(s.entries(2, 4, Infinity).map(e => e.index), [2, 3])
    assert.throws(() => s.entries(2, 7, Infinity), LogUnavailableError)
    assert.throws(() => s.term(6), LogUnavailableError)
  })

  it('replaces a conflicting suffix on append and refuses a gap', () => {
    const s = new MemoryRaftStorage()
    s.append(ents(1, 5, 1))
    s.append(ents(3, 4, 2))
    assert.equal(s.lastIndex(), 4)
    assert.deepEqual([1, 2, 3, 4].map(i => s.term(i)), [1, 1, 2, 2])
    assert.throws(() => s.append(ents(7, 8, 2)), LogUnavailableError)
  })

  it('compacts: older indexes throw LogCompactedError, the compaction point keeps its term', () => {
    const s = new MemoryRaftStorage()
    s.append([...ents(1, 3, 1), ...ents(4, 6, 2)])
    s.compact(4)
    assert.equal(s.firstIndex(), 5)
    assert.equal(s.term(4), 2)
    assert.throws(() => s.term(3), LogCompactedError)
    assert.throws(() => s.entries(4, 6, Infinity), LogCompactedError)
    assert.throws(() => s.compact(4), LogCompactedError)
    assert.throws(() => s.compact(9), LogUnavailableError)
    // appending entries that were compacted skips them
    s.append(ents(3, 7, 2))
    assert.equal(s.lastIndex(), 7)
  })

  it('refuses a snapshot below the compaction point with SnapshotOutOfDateError, and one beyond the log', () => {
    const s = new MemoryRaftStorage()
    s.append(ents(1, 8, 2))
    s.compact(5)
    assert.throws(() => s.createSnapshot(3, undefined, new Uint8Array()), SnapshotOutOfDateError)
    assert.throws(() => s.createSnapshot(4, undefined, new Uint8Array()), (e: Error) => e.name === 'SnapshotOutOfDateError')
    assert.throws(() => s.createSnapshot(9, undefined, new Uint8Array()), LogUnavailableError)
    // the compaction point itself still knows its term
    assert.deepEqual(s.createSnapshot(5, undefined, new Uint8Array([7])).metadata.index, 5)
    assert.equal(s.snapshot().metadata.term, 2)
  })

  it('creates and applies snapshots, refusing older ones', () => {
    const s = new MemoryRaftStorage()
    s.append(ents(1, 5, 3))
    const snap = s.createSnapshot(4, { voters: ['a', 'b'], learners: ['c'] }, new Uint8Array([1]))
    assert.deepEqual(snap.metadata, { index: 4, term: 3, confState: { voters: ['a', 'b'], learners: ['c'] } })
    assert.throws(() => s.createSnapshot(3, undefined, new Uint8Array()), SnapshotOutOfDateError)
    assert.equal(s.firstIndex(), 1, 'creating a snapshot does not compact')
    const t = new MemoryRaftStorage()
    t.applySnapshot(snap)
    assert.equal(t.firstIndex(), 5)
    assert.equal(t.lastIndex(), 4)
    assert.equal(t.term(4), 3)
    assert.deepEqual(t.initialState().confState, { voters: ['a', 'b'], learners: ['c'] })
    assert.throws(() => t.applySnapshot(snap), SnapshotOutOfDateError)
  })

  it('bootstraps a new group as a snapshot at index 1 holding the membership', () => {
    const s = MemoryRaftStorage.bootstrap({ voters: ['1', '2', '3'], learners: [] })
    assert.equal(s.firstIndex(), 2)
    assert.equal(s.lastIndex(), 1)
    assert.deepEqual(s.snapshot().metadata.confState.voters, ['1', '2', '3'])
  })

  it('keeps and returns the hard state', () => {
    const s = new MemoryRaftStorage()
    s.setHardState({ term: 3, vote: 'b', commit: 0 })
    assert.deepEqual(s.initialState().hardState, { term: 3, vote: 'b', commit: 0 })
  })

  it('limits entries by size but always returns at least one', () => {
    const s = new MemoryRaftStorage()
    s.append(ents(1, 10, 1, 100))
    const one = entrySizeBytes(s.entries(1, 2, Infinity)[0])
    assert.equal(s.entries(1, 11, 1).length, 1)
    assert.equal(s.entries(1, 11, one * 3).length, 3)
    assert.equal(s.entries(1, 11, one * 3 + 1).length, 3)
    assert.equal(limitEntriesSize(ents(1, 4, 1, 10), Infinity).length, 4)
  })
})
