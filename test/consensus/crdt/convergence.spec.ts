import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomConvergenceRun } from './random-run.ts'

// SEED=n replays one seed; otherwise a fixed set of seeds runs
const seeds = process.env.SEED != null ? [Number(process.env.SEED)] : [1, 2, 3, 4, 5, 6, 7, 8]

describe('randomized convergence', () => {
  for (const seed of seeds) {
    it(`every holder ends with the same docs (seed ${seed})`, async () => {
      const r = await randomConvergenceRun({ seed, steps: 120 })
      assert.ok(r.edits > 0)
    })
  }
})
