/**
 * Randomized runs of a primes job under chaos: workers that throw, stall past their deadline or
 * become unreachable, and a coordinator crashed and re-activated on another node, all decided by
 * a seeded PRNG. Invariants: `done` never exceeds `total` and never goes back; the final count is
 * exact. A failure prints its seed; `SIM_SEED=n` replays its decisions (timing is real, so not
 * necessarily the same interleaving), `SIM_RUNS=n` sets how many runs.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LocalAgentMesh, coordinator, countPrimes, defineAgent, worker } from '../../src/agents/index.ts'
import type { LlmClient } from '../../src/agents/index.ts'
import { sleep } from '../../src/messaging/index.ts'
import { systemClock } from '../../src/util/clock.ts'
import { seededRng } from '../../src/util/prng.ts'
import type { Rng } from '../../src/util/prng.ts'

/** pacing of the chaos driver; a plain (ref'd) timer so the test process waits for it */
const pause = async (ms: number): Promise<void> => { await new Promise<void>(resolve => setTimeout(resolve, ms)) }

const noLlm: LlmClient = {
  chat: async () => { throw new Error('no llm in this simulation') },
  chatStream: async function * () { throw new Error('no llm in this simulation') }
}

const NODES = ['n1', 'n2', 'n3', 'n4']
const FROM = 0
const TO = 300_000
const CHUNK = 6_000
const EXPECTED = countPrimes(0, 150_000) + countPrimes(150_000, TO)

async function runOnce (seed: number): Promise<void> {
  const rng: Rng = seededRng(seed)
  const chaosWorker = defineAgent({
    ...worker,
    async onMessage (message, ctx) {
      const roll = rng.next()
      if (roll < 0.08) throw new Error('chaos: worker crashed mid-task')
      if (roll < 0.14) await sleep(systemClock, 60 + rng.int(120), { signal: ctx.turnSignal })
      return await worker.onMessage(message, ctx)
    }
  })
  const mesh = new LocalAgentMesh({
    kinds: [coordinator, chaosWorker],
    llm: noLlm,
    nodes: NODES,
    mailbox: { backoffBaseMs: 2, backoffMaxMs: 20, handlerTimeoutMs: 2_000 }
  })
  const workers = ['job/w1', 'job/w2', 'job/w3', 'job/w4']
  try {
    await mesh.deployAgent('job', { kind: 'coordinator', config: { workers: 4, taskTimeoutMs: 100, workerCooldownMs: 5, maxTaskAttempts: 1_000 } })
    await mesh.call('job', { op: 'start', job: { type: 'primes', from: FROM, to: TO, chunk: CHUNK } })
    let lastDone = 0
    const deadline = Date.now() + 60_000
    for (let step = 0; ; step++) {
      assert.ok(Date.now() < deadline, `seed ${seed}: job did not finish within 60 s (done ${lastDone})`)
      await pause(5 + rng.int(15))
      const roll = rng.next()
      if (roll < 0.06) {
        await mesh.crash('job')
        await pause(rng.int(20))
        await mesh.reactivate('job', NODES[rng.int(NODES.length)])
      } else if (roll < 0.16) {
        mesh.setFault(workers[rng.int(workers.length)], rng.next() < 0.5 ? 'unreachable' : 'hang')
      } else if (roll < 0.3) {
        for (const w of workers) mesh.setFault(w, undefined)
      }
      const active = mesh.placement('job').active
      if (!active) continue
      const s = await mesh.call('job', { op: 'status' }) as { done: number, total: number, result?: number }
      assert.ok(s.done <= s.total, `seed ${seed}: done ${s.done} > total ${s.total}`)
      assert.ok(s.done >= lastDone, `seed ${seed}: done went back from ${lastDone} to ${s.done}`)
      lastDone = s.done
      if (s.done === s.total) {
        assert.equal(s.result, EXPECTED, `seed ${seed}: wrong total`)
        return
      }
      // never leave every worker broken for long
      if (step % 20 === 19) for (const w of workers) mesh.setFault(w, undefined)
    }
  } finally {
    await mesh.stop()
  }
}

describe('coordinator under chaos (seeded)', () => {
  const only = process.env.SIM_SEED != null ? [Number(process.env.SIM_SEED)] : undefined
  const runs = Number(process.env.SIM_RUNS ?? 10)
  const base = Date.now() % 1_000_000
  const seeds = only ?? Array.from({ length: runs }, (_, i) => base + i)
  for (const seed of seeds) {
    it(`seed ${seed}: the prime count is exact`, async () => {
      try {
        await runOnce(seed)
      } catch (err) {
        console.error(`coordinator.sim failed; replay with SIM_SEED=${seed}`)
        throw err
      }
    })
  }
})
