/**
 * Shared by the durable Raft log tests (LevelDB store and WAL): entry builders, a readable view of
 * a log, a temporary directory, and the seeded workload that drives a durable log and the
 * in-memory reference (MemoryRaftStorage) side by side and compares them after every step.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DurableRaftLog } from '../../src/consensus/log-store.ts'
import { MemoryRaftStorage } from '../../src/consensus/raft/storage.ts'
import { EntryType } from '../../src/consensus/raft/types.ts'
import type { ConfState, Entry } from '../../src/consensus/raft/types.ts'
import { seededRng } from '../../src/util/prng.ts'
import type { Rng } from '../../src/util/prng.ts'

export const ent = (index: number, term: number, text = `e${index}`): Entry =>
  ({ index, term, type: EntryType.Normal, data: new TextEncoder().encode(text) })
export const range = (lo: number, hi: number, term: number): Entry[] =>
  Array.from({ length: hi - lo + 1 }, (_, k) => ent(lo + k, term))
export const view = (l: { entries: (lo: number, hi: number, max: number) => Entry[], firstIndex: () => number, lastIndex: () => number }): Array<[number, number, string]> =>
  l.lastIndex() < l.firstIndex() ? [] : l.entries(l.firstIndex(), l.lastIndex() + 1, Infinity).map(e => [e.index, e.term, new TextDecoder().decode(e.data)])

export async function withDir<T> (prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  try { return await fn(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

export interface ModelWorkload {
  /** opens the durable log (with a bootstrap membership on even seeds) */
  open: (bootstrap?: ConfState) => Promise<DurableRaftLog>
  /** closes (or abandons) the log and opens it again on the same storage */
  reopen: (log: DurableRaftLog) => Promise<DurableRaftLog>
  /** entries per append at most, minus one */
  maxBatch: number
  /** the entries of one append, sized as the backend under test needs (default: as built) */
  shape?: (batch: Entry[], rng: Rng) => Entry[]
  /** more checks after each step */
  afterStep?: (durable: DurableRaftLog, model: MemoryRaftStorage, msg: string) => Promise<void> | void
}

/** 300 random steps (append, compact, snapshot, install snapshot, hard state, reopen); returns the log, still open */
export async function compareWithModel (seed: number, w: ModelWorkload): Promise<DurableRaftLog> {
  const rng = seededRng(seed)
  const cs = { voters: ['a', 'b'], learners: [] }
  let durable = await w.open(seed % 2 === 0 ? cs : undefined)
  const model = seed % 2 === 0 ? MemoryRaftStorage.bootstrap(cs) : new MemoryRaftStorage()
  let term = 1
  for (let step = 0; step < 300; step++) {
    const r = rng.int(20)
    if (r < 10) {
      const from = Math.max(model.firstIndex(), model.lastIndex() + 1 - rng.int(4))
      if (rng.int(3) === 0) term++
      const built = range(from, from + rng.int(w.maxBatch), term)
      const batch = w.shape?.(built, rng) ?? built
      model.append(batch); await durable.append(batch)
    } else if (r < 12 && model.lastIndex() >= model.firstIndex()) {
      const i = model.firstIndex() + rng.int(model.lastIndex() - model.firstIndex() + 1)
      model.compact(i); await durable.compact(i)
    } else if (r < 14 && model.lastIndex() > model.snapshot().metadata.index && model.lastIndex() >= model.firstIndex() - 1) {
      const lo = Math.max(model.snapshot().metadata.index + 1, model.firstIndex() - 1)
      const i = lo + rng.int(model.lastIndex() - lo + 1)
      const data = new Uint8Array([step & 0xff])
      model.createSnapshot(i, undefined, data); await durable.createSnapshot(i, undefined, data)
    } else if (r < 15) {
      term++
      const snap = { metadata: { index: model.lastIndex() + 1 + rng.int(5), term, confState: { voters: ['a'], learners: [] } }, data: new Uint8Array([1, 2]) }
      model.applySnapshot(snap); await durable.applySnapshot(snap)
    } else if (r < 18) {
      const hs = { term, vote: rng.int(2) === 0 ? '' : 'n' + rng.int(3), commit: rng.int(model.lastIndex() + 1) }
      model.setHardState(hs); await durable.setHardState(hs)
    } else {
      durable = await w.reopen(durable)
    }
    const msg = `seed ${seed} step ${step}`
    assert.equal(durable.firstIndex(), model.firstIndex(), msg)
    assert.equal(durable.lastIndex(), model.lastIndex(), msg)
    assert.equal(durable.term(durable.firstIndex() - 1), model.term(model.firstIndex() - 1), msg)
    assert.deepEqual(view(durable), view(model), msg)
    assert.deepEqual(durable.initialState(), model.initialState(), msg)
    assert.equal(durable.snapshot().metadata.index, model.snapshot().metadata.index, msg)
    assert.deepEqual([...durable.snapshot().data], [...model.snapshot().data], msg)
    await w.afterStep?.(durable, model, msg)
  }
  return durable
}
