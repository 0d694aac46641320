/**
 * The long randomized run (npm run test:sim): many more seeds than the spec.
 * SIM_SEEDS (default 400) seeds of SIM_STEPS (default 100000) steps, starting at SIM_FIRST_SEED.
 */
import { describe, it } from 'node:test'
import { runSimulation } from './simulation.ts'

const seeds = Number(process.env.SIM_SEEDS ?? 400)
const steps = Number(process.env.SIM_STEPS ?? 100_000)
const first = Number(process.env.SIM_FIRST_SEED ?? 100_000)

describe('raft simulation (long)', () => {
  it(`keeps every safety invariant over ${seeds} seeds of ${steps} steps`, (t) => {
    let total = 0
    const started = performance.now()
    for (let seed = first; seed < first + seeds; seed++) total += runSimulation({ seed, steps }).steps
    const secs = (performance.now() - started) / 1000
    t.diagnostic(`${total} steps in ${secs.toFixed(1)} s (${Math.round(total / secs)} steps/s)`)
  })
})
