/**
 * npm run bench -- ykeyvalue [--quick]
 *
 * Issue 4: YKeyValue's cost per write. Ours (src/consensus/crdt/key-value.ts: an index key -> live
 * entry kept from each transaction's own changes, old entries deleted by element id) side by side
 * with the baseline (bench/_kv-toarray.ts: the same stored entries and winner rule, but every
 * write and every observed transaction reads the whole array with `toArray()`, as YKeyValue did
 * until 3fcb55a). For n = 100, 1,000 and 10,000 keys, one set per transaction:
 * - fill: n sets of new keys into an empty map (the burst that is O(n^2) for the baseline; it
 *   stops at FILL_BUDGET_MS, and the figure is then over the keys filled so far, marked '*');
 * - rewrite: sets of existing keys picked by a seeded PRNG, on a map opened over a doc that holds
 *   n keys (the same doc for both sides, built once per n);
 * - remote: a follower doc holding the same n keys applies the updates of the rewrite run, one by
 *   one (the observed-transaction path); only the apply is timed.
 * Figures: operations per second and bytes allocated per operation (heap growth plus what every
 * GC during the run freed, from v8.GCProfiler), median of RUNS runs (default 3; which side goes
 * first alternates). Machine-dependent; nothing asserts them.
 */
import { GCProfiler, getHeapStatistics } from 'node:v8'
import * as Y from 'yjs'
import { YKeyValue } from '../src/consensus/crdt/index.ts'
import type { StoredKvEntry } from '../src/consensus/crdt/index.ts'
import { seededRng } from '../src/util/prng.ts'
import { ToArrayKeyValue } from './_kv-toarray.ts'
import { fmt, median, table } from './_stats.ts'

const quick = process.argv.includes('--quick')
const SIZES = quick ? [100, 1_000] : [100, 1_000, 10_000]
const RUNS = quick ? 1 : Number(process.env.RUNS ?? 3)
/** rewrites per run and size (the baseline stops early at REWRITE_BUDGET_MS) */
const REWRITES = quick ? 500 : 2_000
const REWRITE_BUDGET_MS = 5_000
const FILL_BUDGET_MS = quick ? 5_000 : 20_000

interface KvMap { set: (key: string, value: unknown) => void, get: (key: string) => unknown, destroy: () => void }
type Side = 'ours' | 'baseline'
const open = (side: Side, doc: Y.Doc): KvMap => {
  const arr = doc.getArray<StoredKvEntry>('kv')
  return side === 'ours' ? new YKeyValue(arr) : new ToArrayKeyValue(arr)
}

interface Figure { opsPerSec: number, bytesPerOp: number, ops: number }

/** times `ops` calls of `op` (stopping early past budgetMs) and the bytes they allocated */
function measure (ops: number, op: (i: number) => void, budgetMs = Number.POSITIVE_INFINITY): Figure {
  const profiler = new GCProfiler()
  profiler.start()
  const heapBefore = getHeapStatistics().used_heap_size
  const start = process.hrtime.bigint()
  let done = 0
  for (; done < ops; done++) {
    op(done)
    if ((done & 63) === 63 && Number(process.hrtime.bigint() - start) / 1e6 > budgetMs) { done++; break }
  }
  const ns = Number(process.hrtime.bigint() - start)
  const heapAfter = getHeapStatistics().used_heap_size
  const gcs = profiler.stop()?.statistics ?? []
  const freed = gcs.reduce((sum, g) => sum + g.beforeGC.heapStatistics.usedHeapSize - g.afterGC.heapStatistics.usedHeapSize, 0)
  return { opsPerSec: done / (ns / 1e9), bytesPerOp: (heapAfter - heapBefore + freed) / done, ops: done }
}

const keyOf = (i: number): string => `key-${i}`

const filled = new Map<number, Uint8Array>()
/** the state of a doc holding n keys (filled once by YKeyValue; both sides start their rewrites from it) */
function filledState (n: number): Uint8Array {
  let state = filled.get(n)
  if (state === undefined) {
    const doc = new Y.Doc()
    const kv = open('ours', doc)
    for (let i = 0; i < n; i++) kv.set(keyOf(i), { n: i, text: 'value' })
    state = Y.encodeStateAsUpdate(doc)
    kv.destroy()
    doc.destroy()
    filled.set(n, state)
  }
  return state
}

function runOnce (side: Side, n: number, seed: number): { fill: Figure, rewrite: Figure, remote: Figure } {
  const fillDoc = new Y.Doc()
  const fillKv = open(side, fillDoc)
  const fill = measure(n, i => { fillKv.set(keyOf(i), { n: i, text: 'value' }) }, FILL_BUDGET_MS)
  fillKv.destroy()
  fillDoc.destroy()

  // the writer and its follower hold the same n keys before the rewrites start
  const doc = new Y.Doc()
  Y.applyUpdate(doc, filledState(n))
  const kv = open(side, doc)
  const follower = new Y.Doc()
  Y.applyUpdate(follower, filledState(n))
  const followerKv = open(side, follower)
  const updates: Uint8Array[] = []
  const onUpdate = (u: Uint8Array): void => { updates.push(u) }
  doc.on('update', onUpdate)
  const rng = seededRng(seed)
  const rewrite = measure(REWRITES, i => { kv.set(keyOf(Math.floor(rng.next() * n)), { n: i, text: 'rewritten' }) }, REWRITE_BUDGET_MS)
  doc.off('update', onUpdate)
  const remote = measure(updates.length, i => { Y.applyUpdate(follower, updates[i]) })

  // both docs agree, and hold one live element per key (a wrong index would leave duplicates)
  const live = (d: Y.Doc): number => d.getArray('kv').length
  if (live(doc) !== n || live(follower) !== n) throw new Error(`${side} n=${n}: ${live(doc)} / ${live(follower)} live entries, expected ${n}`)
  for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 50))) {
    if (JSON.stringify(kv.get(keyOf(i))) !== JSON.stringify(followerKv.get(keyOf(i)))) throw new Error(`${side} n=${n}: follower differs at ${keyOf(i)}`)
  }
  kv.destroy()
  followerKv.destroy()
  doc.destroy()
  follower.destroy()
  return { fill, rewrite, remote }
}

// warm both up (JIT) first, unmeasured
runOnce('ours', 2_000, 1)
runOnce('baseline', 300, 1)

const scenarios = ['fill', 'rewrite', 'remote'] as const
const results = new Map<string, Figure[]>()
for (const n of SIZES) {
  for (let run = 0; run < RUNS; run++) {
    const order: Side[] = run % 2 === 0 ? ['ours', 'baseline'] : ['baseline', 'ours']
    for (const side of order) {
      const r = runOnce(side, n, 1000 + run)
      console.log(`n=${n} run ${run + 1} ${side}: ${scenarios.map(s => `${s} ${fmt(r[s].opsPerSec)} ops/s ${fmt(r[s].bytesPerOp)} B/op (${r[s].ops} ops)`).join('; ')}`)
      for (const s of scenarios) {
        const key = `${n}|${s}|${side}`
        results.set(key, [...(results.get(key) ?? []), r[s]])
      }
    }
  }
}

const fig = (n: number, s: string, side: Side, f: keyof Figure): number => median((results.get(`${n}|${s}|${side}`) ?? []).map(x => x[f]))
const rows: string[][] = []
for (const n of SIZES) {
  for (const s of scenarios) {
    const ours = fig(n, s, 'ours', 'opsPerSec')
    const base = fig(n, s, 'baseline', 'opsPerSec')
    const partial = (side: Side): string => (results.get(`${n}|${s}|${side}`) ?? []).some(x => s === 'fill' && x.ops < n) ? '*' : ''
    rows.push([
      n.toLocaleString('en-US'), s,
      fmt(ours) + partial('ours'), fmt(base) + partial('baseline'), `${fmt(ours / base, 1)}x`,
      fmt(fig(n, s, 'ours', 'bytesPerOp')), fmt(fig(n, s, 'baseline', 'bytesPerOp'))
    ])
  }
}
console.log(`YKeyValue, one set per transaction; median of ${RUNS} run(s); ${REWRITES} rewrites per run (stopping at ${REWRITE_BUDGET_MS} ms); * = fill stopped at ${FILL_BUDGET_MS} ms, figure over the keys filled`)
table(['keys', 'scenario', 'ours ops/s', 'toArray ops/s', 'speed-up', 'ours B/op', 'toArray B/op'], rows)
