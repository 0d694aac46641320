import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DurableRaftLog } from '../../src/consensus/log-store.ts'
import { entryKey, encodeEntry } from '../../src/consensus/log-store-codec.ts'
import { MemoryRaftStorage } from '../../src/consensus/raft/storage.ts'
import { LevelStore } from '../../src/storage/level.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import type { BatchOp, Store, WriteOptions } from '../../src/storage/types.ts'
import { runWriterUntilKilled } from './kill-writer.ts'
import { compareWithModel, ent, range, view, withDir as withTempDir } from './log-workload.ts'

const withDir = async <T>(fn: (dir: string) => Promise<T>): Promise<T> => await withTempDir('agentmesh-raftlog-', fn)

describe('DurableRaftLog', () => {
  it('starts empty, or from a bootstrap snapshot holding the membership, and serves etcd-style reads', async () => {
    const empty = await DurableRaftLog.open(new MemoryStore())
    assert.deepEqual(empty.initialState(), { hardState: { term: 0, vote: '', commit: 0 }, confState: { voters: [], learners: [] } })
    assert.equal(empty.firstIndex(), 1)
    assert.equal(empty.lastIndex(), 0)
    assert.equal(empty.term(0), 0)
    assert.deepEqual(empty.entries(1, 1, 100), [])
    assert.throws(() => empty.entries(0, 1, 100), { name: 'LogCompactedError' })
    assert.throws(() => empty.entries(1, 2, 100), { name: 'LogUnavailableError' })
    assert.throws(() => empty.term(1), { name: 'LogUnavailableError' })

    const store = new MemoryStore()
    const l = await DurableRaftLog.open(store, { bootstrap: { voters: ['a', 'b', 'c'], learners: [] } })
    const model = MemoryRaftStorage.bootstrap({ voters: ['a', 'b', 'c'], learners: [] })
    for (const s of [l, await DurableRaftLog.open(store, { bootstrap: { voters: ['ignored'], learners: [] } })]) {
      assert.deepEqual(s.initialState(), model.initialState())
      assert.deepEqual([s.firstIndex(), s.lastIndex(), s.term(1)], [model.firstIndex(), model.lastIndex(), model.term(1)])
      assert.deepEqual(s.snapshot().metadata, model.snapshot().metadata)
    }
  })

  it('appends, truncates a conflicting suffix, limits bytes, and compacts', async () => {
    const l = await DurableRaftLog.open(new MemoryStore())
    await l.append(range(1, 5, 1))
    await l.append([ent(4, 2, 'x4'), ent(5, 2, 'x5'), ent(6, 2, 'x6')])
    assert.deepEqual(view(l), [[1, 1, 'e1'], [2, 1, 'e2'], [3, 1, 'e3'], [4, 2, 'x4'], [5, 2, 'x5'], [6, 2, 'x6']])
    await l.append([ent(3, 3, 'y3')])
    assert.equal(l.lastIndex(), 3)
    assert.equal(l.term(3), 3)
    assert.equal(l.entries(1, 4, 1).length, 1, 'at least one entry even over the byte limit')
    assert.equal(l.entries(1, 4, 2 * (24 + 2)).length, 2)
    await assert.rejects(l.append([ent(9, 3)]), { name: 'LogUnavailableError' })
    await l.compact(2)
    assert.equal(l.firstIndex(), 3)
    assert.equal(l.term(2), 1)
    assert.throws(() => l.term(1), { name: 'LogCompactedError' })
    await assert.rejects(l.compact(2), { name: 'LogCompactedError' })
    await assert.rejects(l.compact(9), { name: 'LogUnavailableError' })
    await l.append(range(1, 4, 3)) // entries before the first index are skipped
    assert.deepEqual(view(l), [[3, 3, 'e3'], [4, 3, 'e4']])
  })

  it('refuses a snapshot below the compaction point with SnapshotOutOfDateError, as the memory log does', async () => {
    const l = await DurableRaftLog.open(new MemoryStore())
    const m = new MemoryRaftStorage()
    await l.append(range(1, 8, 2)); m.append(range(1, 8, 2))
    await l.compact(5); m.compact(5)
    await assert.rejects(l.createSnapshot(3, undefined, new Uint8Array()), { name: 'SnapshotOutOfDateError' })
    assert.throws(() => m.createSnapshot(3, undefined, new Uint8Array()), { name: 'SnapshotOutOfDateError' })
    assert.equal((await l.createSnapshot(6, undefined, new Uint8Array())).metadata.index, 6)
  })

  it('recovers term, vote, commit, log, membership and snapshot from the same store', async () => {
    const store = new MemoryStore()
    const l = await DurableRaftLog.open(store, { bootstrap: { voters: ['a'], learners: [] } })
    await l.persist({ hardState: { term: 2, vote: 'b', commit: 3 }, entries: range(2, 7, 2) })
    const snap = await l.createSnapshot(5, { voters: ['a', 'b'], learners: ['c'] }, new Uint8Array([9, 9]))
    assert.equal(snap.metadata.term, 2)
    await l.compact(4)
    const r = await DurableRaftLog.open(store, { bootstrap: { voters: ['ignored'], learners: [] } })
    assert.deepEqual(r.initialState(), { hardState: { term: 2, vote: 'b', commit: 3 }, confState: { voters: ['a', 'b'], learners: ['c'] } })
    assert.deepEqual(view(r), view(l))
    assert.equal(r.firstIndex(), 5)
    assert.equal(r.term(4), 2)
    assert.deepEqual(r.snapshot().metadata, { index: 5, term: 2, confState: { voters: ['a', 'b'], learners: ['c'] } })
    assert.deepEqual([...r.snapshot().data], [9, 9])
    assert.equal(r.cachedBytes(), l.cachedBytes())
  })

  it('applies a snapshot by replacing the log, refusing older ones, with entries of the same Ready after it', async () => {
    const store = new MemoryStore()
    const l = await DurableRaftLog.open(store)
    await l.append(range(1, 3, 1))
    const snapshot = { metadata: { index: 10, term: 4, confState: { voters: ['x', 'y'], learners: [] } }, data: new Uint8Array([1]) }
    await l.persist({ snapshot, entries: [ent(11, 4), ent(12, 5)], hardState: { term: 5, vote: 'x', commit: 11 } })
    assert.equal(l.firstIndex(), 11)
    assert.equal(l.lastIndex(), 12)
    assert.equal(l.term(10), 4)
    assert.deepEqual(l.initialState().confState, { voters: ['x', 'y'], learners: [] })
    await assert.rejects(l.applySnapshot({ ...snapshot, metadata: { ...snapshot.metadata, index: 9 } }), { name: 'SnapshotOutOfDateError' })
    const r = await DurableRaftLog.open(store)
    assert.deepEqual(view(r), [[11, 4, 'e11'], [12, 5, 'e12']])
    assert.deepEqual(r.initialState().hardState, { term: 5, vote: 'x', commit: 11 })
    const keys: string[] = []
    for await (const [k] of store.entries()) keys.push(k)
    assert.ok(!keys.includes(entryKey(1)), 'entries replaced by the snapshot are deleted from disk')
  })

  it('writes each Ready as one synced batch and leaves memory unchanged when the write fails', async () => {
    const inner = new MemoryStore()
    const calls: Array<{ ops: number, sync: boolean | undefined }> = []
    let fail = false
    const store: Store = Object.assign(Object.create(inner) as Store, {
      batch: async (ops: BatchOp[], options?: WriteOptions) => {
        calls.push({ ops: ops.length, sync: options?.sync })
        if (fail) throw new Error('disk full')
        await inner.batch(ops)
      }
    })
    const l = await DurableRaftLog.open(store)
    calls.length = 0
    await l.persist({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: range(1, 3, 1) })
    assert.deepEqual(calls, [{ ops: 4, sync: true }])
    fail = true
    await assert.rejects(l.persist({ hardState: { term: 2, vote: 'b', commit: 2 }, entries: [ent(2, 2)] }))
    assert.equal(l.lastIndex(), 3)
    assert.equal(l.term(2), 1)
    assert.deepEqual(l.getHardState(), { term: 1, vote: 'a', commit: 0 })
    fail = false
    await l.append([ent(4, 1)])
    assert.deepEqual((await DurableRaftLog.open(inner)).initialState().hardState, { term: 1, vote: 'a', commit: 0 })
    assert.equal((await DurableRaftLog.open(inner)).lastIndex(), 4)
  })

  it('hands a Ready to the store within persist() when no write is under way, later ones in call order', async () => {
    const inner = new MemoryStore()
    const started: number[] = []
    const gates: Array<() => void> = []
    let hold = false
    let fail = false
    const store: Store = Object.assign(Object.create(inner) as Store, {
      batch: async (ops: BatchOp[], options?: WriteOptions) => {
        started.push(ops.length)
        if (hold) await new Promise<void>(resolve => { gates.push(resolve) })
        if (fail) throw new Error('disk full')
        assert.equal(options?.sync, true)
        await inner.batch(ops)
      }
    })
    const l = await DurableRaftLog.open(store)
    started.length = 0
    hold = true
    const a = l.persist({ entries: range(1, 2, 1) })
    assert.equal(started.length, 1, 'the first write reached the store before persist() returned')
    const b = l.persist({ entries: [ent(3, 1)] })
    assert.equal(started.length, 1, 'a second write waits for the one under way')
    assert.equal(l.lastIndex(), 0, 'nothing is served before it is durable')
    gates.shift()!()
    await a
    assert.equal(l.lastIndex(), 2)
    for (let i = 0; i < 1000 && started.length < 2; i++) await new Promise(resolve => setImmediate(resolve))
    assert.equal(started.length, 2, 'the second write starts once the first is done')
    gates.shift()!()
    await b
    assert.equal(l.lastIndex(), 3)
    // a failed write leaves the log idle: the next one starts within the call again
    hold = false
    fail = true
    await assert.rejects(l.persist({ entries: [ent(4, 1)] }), /disk full/)
    fail = false
    const c = l.persist({ entries: [ent(4, 1)] })
    assert.equal(started.length, 4)
    await c
    assert.equal(l.lastIndex(), 4)
    assert.equal((await DurableRaftLog.open(inner)).lastIndex(), 4)
  })

  it('refuses a corrupt store with StorageError instead of serving a damaged log', async () => {
    const store = new MemoryStore()
    const l = await DurableRaftLog.open(store)
    await l.append(range(1, 3, 1))
    await store.del(entryKey(2))
    await assert.rejects(DurableRaftLog.open(store), { name: 'StorageError', message: /gap/ })
    await store.put(entryKey(2), new Uint8Array([7, 1, 2]))
    await assert.rejects(DurableRaftLog.open(store), { name: 'StorageError' })
    await store.put(entryKey(2), encodeEntry(ent(2, 1)))
    assert.equal((await DurableRaftLog.open(store)).lastIndex(), 3)
  })

  it('matches MemoryRaftStorage under a seeded random workload, across reopens', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const store = new MemoryStore()
      await compareWithModel(seed, {
        open: async (bootstrap) => await DurableRaftLog.open(store, bootstrap != null ? { bootstrap } : {}),
        reopen: async () => await DurableRaftLog.open(store),
        maxBatch: 4,
        afterStep: (durable, model, msg) => {
          const expectedBytes = view(model).reduce((n, [, , text]) => n + 24 + new TextEncoder().encode(text).byteLength, 0)
          assert.equal(durable.cachedBytes(), expectedBytes, msg)
        }
      })
    }
  })

  it('recovers from LevelDB after close and reopen', async () => {
    await withDir(async (dir) => {
      const store = await LevelStore.open(dir)
      const l = await DurableRaftLog.open(store.sub('raft/'), { bootstrap: { voters: ['a', 'b', 'c'], learners: [] } })
      await l.persist({ hardState: { term: 3, vote: 'c', commit: 40 }, entries: range(2, 50, 3) })
      await l.append([ent(45, 4, 'new45')])
      await l.compact(10)
      await store.close()
      const again = await LevelStore.open(dir)
      const r = await DurableRaftLog.open(again.sub('raft/'))
      assert.deepEqual(r.initialState(), { hardState: { term: 3, vote: 'c', commit: 40 }, confState: { voters: ['a', 'b', 'c'], learners: [] } })
      assert.equal(r.firstIndex(), 11)
      assert.equal(r.lastIndex(), 45)
      assert.deepEqual(r.entries(45, 46, 1000).map(e => new TextDecoder().decode(e.data)), ['new45'])
      await again.close()
    })
  })

  it('keeps every acknowledged Ready when the process is killed mid-write (LevelDB)', async () => {
    await withDir(async (dir) => {
      const acked = await runWriterUntilKilled(dir, 200)
      assert.ok(acked >= 200, `writer acknowledged ${acked} Readies before it was killed`)
      const store = await LevelStore.open(dir)
      try {
        const r = await DurableRaftLog.open(store)
        // Ready n wrote entry n (term = ceil(n / 10)) and hard state { term, commit: n - 1 }
        assert.ok(r.lastIndex() >= acked, `lastIndex ${r.lastIndex()} >= acked ${acked}`)
        const hs = r.initialState().hardState
        assert.equal(hs.commit, r.lastIndex() - 1, 'hard state and entries of a Ready are written together')
        for (let i = 1; i <= r.lastIndex(); i++) assert.equal(r.term(i), Math.ceil(i / 10))
      } finally {
        await store.close()
      }
    })
  })
})
