import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomConvergenceRun } from './random-run.ts'

// a longer randomized run: SEED=n replays one seed, SEEDS=n sets how many, STEPS=n the length
const count = Number(process.env.SEEDS ?? 40)
const first = Number(process.env.SEED_BASE ?? 1000)
const seeds = process.env.SEED != null ? [Number(process.env.SEED)] : Array.from({ length: count }, (_, i) => first + i)
const steps = Number(process.env.STEPS ?? 400)

describe('randomized convergence (long)', () => {
  for (const seed of seeds) {
    it(`seed ${seed}: ${steps} steps over 3-5 peers converge`, async (t) => {
      const r = await randomConvergenceRun({ seed, steps, docs: 3 })
      assert.ok(r.edits > 0)
      t.diagnostic(JSON.stringify(r))
    })
  }
})
