import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { open, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { DurableRaftLog } from '../../src/consensus/log-store.ts'
import { openWalLog } from '../../src/consensus/wal/index.ts'
import { encodeSnapshot } from '../../src/consensus/log-store-codec.ts'
import { LevelStore } from '../../src/storage/level.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import { runWriterUntilKilled } from './kill-writer.ts'
import { compareWithModel, ent, range, view, withDir as withTempDir } from './log-workload.ts'

const withDir = async <T>(fn: (dir: string) => Promise<T>): Promise<T> => await withTempDir('agentmesh-wal-', fn)
const segments = async (dir: string): Promise<string[]> => (await readdir(dir)).filter(n => n.endsWith('.wal')).sort()
const SMALL = { segmentBytes: 4096 }

async function damage (path: string, at: number, fn: (b: number) => number): Promise<void> {
  const h = await open(path, 'r+')
  try {
    const b = Buffer.alloc(1)
    await h.read(b, 0, 1, at)
    b[0] = fn(b[0])
    await h.write(b, 0, 1, at)
  } finally { await h.close() }
}

describe('Raft write-ahead log', () => {
  it('round-trips and recovers term, vote, commit, log, membership and snapshot after reopen', async () => {
    await withDir(async (dir) => {
      const store = new MemoryStore()
      const l = await openWalLog(dir, store, { bootstrap: { voters: ['a'], learners: [] } })
      await l.persist({ hardState: { term: 2, vote: 'b', commit: 3 }, entries: range(2, 7, 2) })
      await l.append([ent(6, 3, 'x6')])
      const snap = await l.createSnapshot(5, { voters: ['a', 'b'], learners: ['c'] }, new Uint8Array([9, 9]))
      assert.equal(snap.metadata.term, 2)
      await l.compact(4)
      await l.close()
      const r = await openWalLog(dir, store, { bootstrap: { voters: ['ignored'], learners: [] } })
      assert.deepEqual(r.initialState(), { hardState: { term: 2, vote: 'b', commit: 3 }, confState: { voters: ['a', 'b'], learners: ['c'] } })
      assert.deepEqual(view(r), [[5, 2, 'e5'], [6, 3, 'x6']])
      assert.equal(r.term(4), 2)
      assert.deepEqual(r.snapshot().metadata, { index: 5, term: 2, confState: { voters: ['a', 'b'], learners: ['c'] } })
      assert.deepEqual([...r.snapshot().data], [9, 9])
      assert.equal(r.cachedBytes(), l.cachedBytes())
      await r.close()
    })
  })

  it('matches MemoryRaftStorage under a seeded random workload across reopens, cutting and releasing segments', async () => {
    for (const seed of [1, 2, 3]) {
      await withDir(async (dir) => {
        const store = new MemoryStore()
        let maxSegments = 0
        const durable = await compareWithModel(seed, {
          open: async (bootstrap) => await openWalLog(dir, store, bootstrap != null ? { bootstrap } : {}, SMALL),
          reopen: async (log) => { await log.close(); return await openWalLog(dir, store, {}, SMALL) },
          maxBatch: 8,
          shape: (batch, rng) => batch.map(e => ({ ...e, data: new Uint8Array(40 + rng.int(200)).fill(e.index & 0xff) })),
          afterStep: async () => { maxSegments = Math.max(maxSegments, (await segments(dir)).length) }
        })
        await durable.close()
        assert.ok(maxSegments >= 3, `the workload cut segments (${maxSegments})`)
        const first = (await segments(dir))[0]
        assert.notEqual(first, '0000000000000000.wal', 'segments below the compaction point were released')
      })
    }
  })

  it('replays in small chunks the same log as whole-file reading: records straddle chunk edges and outgrow a chunk', async () => {
    // a 48-byte chunk holds no entries record of this workload whole (40-240 bytes of data per entry)
    const opts = { ...SMALL, replayChunkBytes: 48 }
    for (const seed of [4, 5]) {
      await withDir(async (dir) => {
        const store = new MemoryStore()
        const durable = await compareWithModel(seed, {
          open: async (bootstrap) => await openWalLog(dir, store, bootstrap != null ? { bootstrap } : {}, opts),
          reopen: async (log) => { await log.close(); return await openWalLog(dir, store, {}, opts) },
          maxBatch: 8,
          shape: (batch, rng) => batch.map(e => ({ ...e, data: new Uint8Array(40 + rng.int(200)).fill(e.index & 0xff) }))
        })
        await durable.close()
      })
    }
  })

  it('reopens a segment larger than one file read can hold (3 GiB, sparse): replay reads it in chunks and stops at the zeros', async () => {
    await withDir(async (dir) => {
      const opts = { segmentBytes: 3 * 1024 * 1024 * 1024, preallocate: 'truncate' as const }
      const l = await openWalLog(dir, new MemoryStore(), {}, opts)
      for (let i = 1; i <= 20; i++) await l.persist({ entries: [ent(i, 1)], hardState: { term: 1, vote: 'a', commit: i - 1 } })
      await l.close()
      const [seg] = await segments(dir)
      assert.equal((await stat(join(dir, seg))).size, opts.segmentBytes)
      // fs.readFile refuses files over 2 GiB; reading the whole segment could not even start
      const r = await openWalLog(dir, new MemoryStore(), {}, opts)
      assert.equal(r.lastIndex(), 20)
      assert.deepEqual(view(r).slice(-1), [[20, 1, 'e20']])
      assert.deepEqual(r.initialState().hardState, { term: 1, vote: 'a', commit: 19 })
      await r.persist({ entries: [ent(21, 1)], hardState: { term: 1, vote: 'a', commit: 20 } })
      await r.close()
      const again = await openWalLog(dir, new MemoryStore(), {}, opts)
      assert.equal(again.lastIndex(), 21, 'appends after a chunked replay go where the data ended')
      await again.close()
    })
  })

  it('preallocates segments and releases whole segments below the compaction point', async () => {
    await withDir(async (dir) => {
      const store = new MemoryStore()
      const l = await openWalLog(dir, store, {}, SMALL)
      for (let i = 1; i <= 200; i += 10) await l.persist({ entries: range(i, i + 9, 1).map(e => ({ ...e, data: new Uint8Array(100) })), hardState: { term: 1, vote: 'a', commit: i } })
      const before = await segments(dir)
      assert.ok(before.length >= 5, `200 entries of ~100 bytes span segments of 4 KB (${before.length})`)
      assert.equal((await stat(join(dir, before[0]))).size, 4096, 'a segment is preallocated to its size')
      await l.createSnapshot(150, undefined, new Uint8Array([1]))
      await l.compact(150)
      const after = await segments(dir)
      assert.ok(after.length < before.length - 2, `compaction released segments (${before.length} -> ${after.length})`)
      assert.equal(after[after.length - 1], before[before.length - 1], 'the segment being written is kept')
      await l.close()
      const r = await openWalLog(dir, store, {}, SMALL)
      assert.equal(r.firstIndex(), 151)
      assert.equal(r.lastIndex(), 200)
      assert.deepEqual(r.initialState().hardState, { term: 1, vote: 'a', commit: 191 })
      await r.close()
    })
  })

  it('prepares the next segment in the background once the current one is half full, and a cut takes that file', async () => {
    await withDir(async (dir) => {
      const opts = { segmentBytes: 64 * 1024 }
      const l = await openWalLog(dir, new MemoryStore(), {}, opts)
      const temps = async (): Promise<string[]> => (await readdir(dir)).filter(n => n.endsWith('.wal.tmp'))
      let i = 1
      const put = async (): Promise<void> => {
        await l.persist({ entries: [{ ...ent(i, 1), data: new Uint8Array(1000).fill(i & 0xff) }], hardState: { term: 1, vote: 'a', commit: i - 1 } })
        i++
      }
      while (i <= 20) await put()
      assert.deepEqual(await temps(), [], 'no spare while the segment is less than half full (~21 of 64 KB)')
      while (i <= 40) await put()
      const deadline = Date.now() + 10_000
      let spare: string | undefined
      for (;;) {
        const t = await temps()
        if (t.length === 1 && (await stat(join(dir, t[0]))).size === 64 * 1024) { spare = t[0]; break }
        assert.ok(Date.now() < deadline, `a preallocated spare appears once past half (${t.join(', ')})`)
        await new Promise(resolve => setTimeout(resolve, 10))
      }
      const spareIno = (await stat(join(dir, spare))).ino
      while ((await segments(dir)).length === 1) await put()
      const segs = await segments(dir)
      assert.equal(segs[1], spare.replace('.wal.tmp', '.wal'), 'the spare was made for the next segment')
      assert.equal((await stat(join(dir, segs[1]))).ino, spareIno, 'the cut renamed the prepared file instead of writing a new one')
      assert.equal((await stat(join(dir, segs[1]))).size, 64 * 1024)
      // past half of the second segment a spare is prepared again; closing waits for it, reopening drops it
      while ((await temps()).length === 0) await put()
      const last = i - 1
      await l.close()
      const r = await openWalLog(dir, new MemoryStore(), {}, opts)
      assert.deepEqual(await temps(), [], 'an unused spare is removed at open')
      assert.equal(r.lastIndex(), last)
      assert.deepEqual([...r.entries(last, last + 1, Infinity)[0].data.slice(0, 2)], [last & 0xff, last & 0xff])
      await r.close()
    })
  })

  it('recovers the synced prefix when the tail is torn (cut mid-record, or a CRC byte flipped), then keeps appending', async () => {
    // whole chunks, and 10-byte chunks: the torn record straddles a chunk edge
    for (const [how, replayChunkBytes] of [['cut', undefined], ['crc', undefined], ['cut', 10], ['crc', 10]] as const) {
      await withDir(async (dir) => {
        const store = new MemoryStore()
        const opts = { segmentBytes: 1024 * 1024, ...(replayChunkBytes !== undefined ? { replayChunkBytes } : {}) }
        const l = await openWalLog(dir, store, {}, opts)
        for (let i = 1; i <= 10; i++) await l.persist({ entries: [ent(i, 1)], hardState: { term: 1, vote: 'a', commit: i - 1 } })
        await l.close()
        const [seg] = await segments(dir)
        const path = join(dir, seg)
        // find where the last Ready's records start: reopen on a copy of the log and measure it
        const h = await open(path, 'r')
        const data = Buffer.alloc(8192)
        await h.read(data, 0, data.byteLength, 0)
        await h.close()
        let at = 0; const starts: number[] = []
        while (data.readUInt32LE(at) !== 0) { starts.push(at); at += 9 + data.readUInt32LE(at) }
        const lastEntryRecord = starts[starts.length - 2] // records: ..., entries(10), hardState
        if (how === 'cut') {
          const t = await open(path, 'r+'); await t.truncate(lastEntryRecord + 5); await t.close()
        } else {
          await damage(path, lastEntryRecord + 4, b => b ^ 0xff)
        }
        const r = await openWalLog(dir, store, {}, opts)
        assert.equal(r.lastIndex(), 9, `${how}: the torn Ready is dropped, the ones before it kept`)
        assert.deepEqual(r.initialState().hardState, { term: 1, vote: 'a', commit: 8 })
        await r.persist({ entries: [ent(10, 2, 'again')], hardState: { term: 2, vote: 'b', commit: 9 } })
        await r.close()
        const again = await openWalLog(dir, store, {}, opts)
        assert.deepEqual(view(again).slice(-2), [[9, 1, 'e9'], [10, 2, 'again']], `${how}: appends after recovery survive the next reopen`)
        assert.deepEqual(again.initialState().hardState, { term: 2, vote: 'b', commit: 9 })
        await again.close()
      })
    }
  })

  it('a received snapshot stored just before a crash (not yet in the WAL) replaces the log on restart', async () => {
    await withDir(async (dir) => {
      const store = new MemoryStore()
      const l = await openWalLog(dir, store)
      await l.persist({ entries: range(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 2 } })
      await l.close()
      // what WalBackend.write does first for a Ready carrying a snapshot, without the record after it
      await store.put('snap', encodeSnapshot({ metadata: { index: 20, term: 3, confState: { voters: ['x'], learners: [] } }, data: new Uint8Array([4]) }))
      const r = await openWalLog(dir, store)
      assert.equal(r.firstIndex(), 21)
      assert.equal(r.lastIndex(), 20)
      assert.equal(r.term(20), 3)
      assert.deepEqual(r.initialState(), { hardState: { term: 1, vote: 'a', commit: 20 }, confState: { voters: ['x'], learners: [] } })
      await r.close()
    })
  })

  it('refuses damage in a segment before the last with StorageError', async () => {
    await withDir(async (dir) => {
      const store = new MemoryStore()
      const l = await openWalLog(dir, store, {}, SMALL)
      for (let i = 1; i <= 100; i += 10) await l.append(range(i, i + 9, 1).map(e => ({ ...e, data: new Uint8Array(100) })))
      await l.close()
      const segs = await segments(dir)
      assert.ok(segs.length >= 2)
      await damage(join(dir, segs[0]), 30, b => b ^ 0x55)
      await assert.rejects(openWalLog(dir, store, {}, SMALL), { name: 'StorageError', message: /corrupt/ })
    })
  })

  it('migrates a LevelDB-era log once: same state, log keys gone from the store, snapshot kept there', async () => {
    await withDir(async (dir) => {
      const store = await LevelStore.open(join(dir, 'db'))
      try {
        const raft = store.sub('raft/log/')
        const old = await DurableRaftLog.open(raft, { bootstrap: { voters: ['a', 'b', 'c'], learners: [] } })
        await old.persist({ hardState: { term: 3, vote: 'c', commit: 40 }, entries: range(2, 50, 3) })
        await old.createSnapshot(20, undefined, new Uint8Array([5]))
        await old.compact(10)
        const wal = await openWalLog(join(dir, 'raft-wal'), raft)
        for (const l of [wal]) {
          assert.deepEqual(l.initialState(), old.initialState())
          assert.deepEqual(view(l), view(old))
          assert.deepEqual(l.snapshot().metadata, old.snapshot().metadata)
        }
        await wal.append([ent(51, 4, 'new')])
        await wal.close()
        const keys: string[] = []
        for await (const [k] of raft.entries()) keys.push(k)
        assert.deepEqual(keys, ['snap'])
        const again = await openWalLog(join(dir, 'raft-wal'), raft)
        assert.equal(again.lastIndex(), 51)
        assert.equal(again.firstIndex(), 11)
        assert.deepEqual([...again.snapshot().data], [5])
        await again.close()
      } finally {
        await store.close()
      }
    })
  })

  it('keeps every acknowledged Ready when the process is killed mid-write', async () => {
    await withDir(async (dir) => {
      const acked = await runWriterUntilKilled(dir, 300, 'wal')
      assert.ok(acked >= 300, `writer acknowledged ${acked} Readies before it was killed`)
      const store = await LevelStore.open(dir)
      try {
        const r = await openWalLog(join(dir, 'raft-wal'), store, {}, { segmentBytes: 256 * 1024 })
        assert.ok(r.lastIndex() >= acked, `lastIndex ${r.lastIndex()} >= acked ${acked}`)
        assert.equal(r.initialState().hardState.commit, r.lastIndex() - 1, 'hard state and entries of a Ready are written together')
        for (let i = 1; i <= r.lastIndex(); i++) assert.equal(r.term(i), Math.ceil(i / 10))
        await r.close()
      } finally {
        await store.close()
      }
    })
  })
})
