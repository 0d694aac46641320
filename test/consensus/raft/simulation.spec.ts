/**
 * Deterministic simulation of Raft groups under drops, delays, duplicates, reordering,
 * partitions, crashes with lost unsynced writes, restarts, membership changes and leader
 * transfers; the safety invariants are checked after every step (see sim-checker.ts).
 * SEED=n replays one seed (SIM_TRACE=1 prints its events); STEPS=n changes its length.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EntryType } from '../../../src/consensus/raft/index.ts'
import type { Entry } from '../../../src/consensus/raft/index.ts'
import { InvariantViolation, SafetyChecker } from './sim-checker.ts'
import { runSimulation } from './simulation.ts'

const TOTAL_STEPS = 3_000_000
const STEPS_PER_SEED = 25_000

function entry (index: number, term: number, byte: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array([byte]) }
}

describe('raft simulation', () => {
  if (process.env.SEED !== undefined) {
    it(`replays seed ${process.env.SEED}`, () => {
      const seed = Number(process.env.SEED)
      const trace = process.env.SIM_TRACE === '1' ? (l: string) => { process.stdout.write(`${l}\n`) } : undefined
      const r = runSimulation({ seed, steps: Number(process.env.STEPS ?? STEPS_PER_SEED), trace })
      process.stdout.write(`${JSON.stringify(r)}\n`)
    })
    return
  }

  it(`keeps every safety invariant over ${TOTAL_STEPS} simulated steps`, (t) => {
    let total = 0
    let seed = 1
    let committed = 0
    let leaders = 0
    let crashes = 0
    let snapshots = 0
    let confChanges = 0
    const started = performance.now()
    while (total < TOTAL_STEPS) {
      const r = runSimulation({ seed: seed++, steps: STEPS_PER_SEED })
      total += r.steps
      committed += r.committed
      leaders += r.leadersElected
      crashes += r.crashes
      snapshots += r.snapshotsSent
      confChanges += r.confChanges
    }
    const secs = (performance.now() - started) / 1000
    t.diagnostic(`${seed - 1} seeds, ${total} steps in ${secs.toFixed(1)} s (${Math.round(total / secs)} steps/s); ` +
      `${committed} entries committed, ${leaders} leaders, ${crashes} crashes, ${snapshots} snapshots sent, ${confChanges} conf changes`)
    // the runs must have exercised the interesting paths, not idled
    assert.ok(committed > 10_000 && leaders > 100 && crashes > 100 && snapshots > 50 && confChanges > 100)
  })

  it('is deterministic: a seed replays to the same result', () => {
    assert.deepEqual(runSimulation({ seed: 4242, steps: 10_000 }), runSimulation({ seed: 4242, steps: 10_000 }))
  })
})

describe('raft simulation safety checker', () => {
  it('refuses two leaders in one term', () => {
    const c = new SafetyChecker(1, 1)
    c.checkLeader('a', 2, () => 1, 1, 1)
    assert.throws(() => c.checkLeader('b', 2, () => 1, 1, 1), InvariantViolation)
  })

  it('refuses two different entries at one (index, term), or one after a different term', () => {
    const c = new SafetyChecker(1, 1)
    c.checkAppended(entry(2, 1, 7), 1)
    c.checkAppended(entry(2, 1, 7), 1)
    assert.throws(() => c.checkAppended(entry(2, 1, 8), 1), InvariantViolation)
    assert.throws(() => c.checkAppended(entry(2, 1, 7), 0), InvariantViolation)
  })

  it('refuses a different entry applied at an index, and a gap in applying', () => {
    const c = new SafetyChecker(1, 1)
    const sm = c.checkApplied('a', { index: 1, hash: 0 }, entry(2, 1, 7))
    assert.equal(sm.index, 2)
    assert.throws(() => c.checkApplied('b', { index: 1, hash: 0 }, entry(2, 2, 7)), InvariantViolation)
    assert.throws(() => c.checkApplied('b', { index: 1, hash: 0 }, entry(3, 1, 7)), InvariantViolation)
  })

  it('refuses a new leader missing an entry committed in an earlier term', () => {
    const c = new SafetyChecker(1, 1)
    c.checkApplied('a', { index: 1, hash: 0 }, entry(2, 1, 7))
    c.checkApplied('a', { index: 2, hash: c.checkApplied('b', { index: 1, hash: 0 }, entry(2, 1, 7)).hash }, entry(3, 2, 9))
    assert.throws(() => c.checkLeader('x', 3, () => 1, 1, 2), InvariantViolation)
    assert.throws(() => c.checkLeader('y', 4, (i) => (i === 3 ? 3 : 1), 1, 3), InvariantViolation)
    assert.equal(c.checkLeader('z', 5, (i) => (i === 3 ? 2 : 1), 1, 3), true)
  })
})
