/**
 * The fault scenarios of `npm run test:faults`: a relay and four Node peers (five Raft voters),
 * each in its own network namespace; KV clients and counter clients on every peer; an observer of
 * the counter agent's placement; a coordinator job (agents messaging agents) whose prime count must
 * come out exact. Each scenario runs its nemesis for FAULTS_NEMESIS_MS (default
 * 40 s) and must pass every checker. AGENTMESH_FAULTS_SEED picks the seed (printed on failure);
 * FAULTS_ONLY=loss,proc runs only those.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { netnsAvailable } from './netns.ts'
import { runScenario, summarize, type NemesisContext } from './scenario.ts'
import { asymmetric, bridge, clockSkew, isolateLeader, majorityMinority, processFaults, randomLoss } from './nemeses.ts'

const available = netnsAvailable()
const NEMESIS_MS = Number(process.env.FAULTS_NEMESIS_MS ?? 40_000)
const SEED = Number(process.env.AGENTMESH_FAULTS_SEED ?? Date.now() % 100_000)
/** a comma-separated list of scenario tags to run (isol, split, bridge, asym, loss, proc, skew); default all */
const ONLY = process.env.FAULTS_ONLY?.split(',')
/** FAULTS_VERBOSE=1 prints the run's log (faults, restarts) as it goes */
const VERBOSE = process.env.FAULTS_VERBOSE === '1'
/** the coordinator job every scenario runs through its faults: 200 tasks of agent-to-agent messages */
const JOB = { from: 0, to: 400_000, chunk: 2_000 }

const scenarios: Array<[string, string, (ctx: NemesisContext) => Promise<void>]> = [
  ['isolate the leader', 'isol', isolateLeader],
  ['majority / minority split, clients on both sides', 'split', majorityMinority],
  ['bridge partition', 'bridge', bridge],
  ['asymmetric cut', 'asym', asymmetric],
  ['random packet loss 10-20%', 'loss', randomLoss],
  ['process faults: SIGKILL + restart, SIGSTOP/SIGCONT', 'proc', processFaults],
  ['clock skew: wall clocks stepped, restarts with skewed clocks, a skewed peer cut off', 'skew', clockSkew]
]

describe('fault scenarios in network namespaces', { concurrency: 1 }, () => {
  for (const [name, tag, nemesis] of scenarios) {
    if (ONLY !== undefined && !ONLY.includes(tag)) continue
    it(name, { skip: available.ok ? false : `skipped: ${available.reason}`, timeout: NEMESIS_MS + 420_000 }, async () => {
      const lines: string[] = []
      const r = await runScenario({ tag, seed: SEED, nodes: 4, voters: 5, nemesisMs: NEMESIS_MS, nemesis, job: JOB, log: line => { lines.push(line); if (VERBOSE) process.stderr.write(`${tag}: ${line}\n`) } })
      console.log(summarize(name, r))
      const context = `seed ${SEED}; faults:\n  ${r.faults.join('\n  ')}`
      // 'unknown' (the search ran out of budget) fails too: a run must end with a verdict
      assert.equal(r.kv.check.outcome, 'ok', `${r.kv.check.outcome !== 'ok' ? r.kv.check.message : ''}\n${context}`)
      assert.ok(r.counter.verdict.ok, `${r.counter.verdict.problems.join('; ')}\n${context}`)
      assert.ok(r.activation.verdict.ok, `${r.activation.verdict.problems.join('; ')}\n${context}`)
      assert.ok(r.reliable.verdict.ok, `${r.reliable.verdict.problems.join('; ')}\n${context}`)
      if (r.job !== undefined) assert.ok(r.job.verdict.ok, `${r.job.verdict.problems.join('; ')}\n${context}`)
      assert.ok(r.kv.okWrites > 0, `some writes succeeded\n${context}`)
      assert.equal(r.kv.finalReads.answered, r.kv.finalReads.asked, `every peer answers a read of every key once healed\n${context}`)
    })
  }
})
