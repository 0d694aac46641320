/**
 * The post-heal check of docs/faults.md ("a healed peer reaches agents elsewhere"), run on its own
 * and repeatable: the short scenario (a relay and two Node peers) with the counter agent PINNED to
 * the Raft leader, the leader cut off for 8 s, then healed. Within REACH_MS of the heal the formerly
 * cut-off peer must reach the counter and the inbox (wherever they live now), and within DRAIN_MS
 * every send it accepted before the heal must be in the inbox (healed.ts says why not "its outbox
 * is empty"). FAULTS_HEALED_RUNS=n repeats it n times (default 1);
 * FAULTS_VERBOSE=1 prints the run log; FAULTS_PEER_LOG_DIR keeps every peer's stderr (with
 * DEBUG=agentmesh:* their debug logs).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { netnsAvailable } from './netns.ts'
import { runScenario, summarize } from './scenario.ts'
import { healedPeerCheck } from './healed.ts'
import type { NemesisContext } from './scenario.ts'

const available = netnsAvailable()
const RUNS = Number(process.env.FAULTS_HEALED_RUNS ?? 1)
/** the healed peer reaches the counter and the inbox within this of the heal */
const REACH_MS = 15_000
/** and what clients sent through it before the heal (its outbox's backlog) is delivered within this */
const DRAIN_MS = 45_000

describe('a cut-off leader holding a pinned agent, healed', { concurrency: 1 }, () => {
  for (let run = 1; run <= RUNS; run++) {
    it(`run ${run}: after the heal it reaches agents elsewhere within ${REACH_MS / 1000} s and its backlog is delivered within ${DRAIN_MS / 1000} s`, {
      skip: available.ok ? false : `skipped: ${available.reason}`,
      timeout: 300_000
    }, async () => {
      let pinned: number | undefined
      let healed: Awaited<ReturnType<typeof healedPeerCheck>> | undefined
      const r = await runScenario({
        tag: `heal${run}`,
        seed: 90 + run,
        nodes: 2,
        voters: 3,
        nemesisMs: 14_000,
        kvClients: 2,
        log: line => { if (process.env.FAULTS_VERBOSE === '1') process.stderr.write(`heal${run}: ${line}\n`) },
        pinCounter: async mesh => {
          const deadline = performance.now() + 30_000
          while (pinned === undefined && performance.now() < deadline) {
            pinned = (await mesh.agreedLeader())?.index
            if (pinned === undefined) await new Promise(resolve => setTimeout(resolve, 200))
          }
          return pinned
        },
        nemesis: async (ctx: NemesisContext) => {
          assert.ok(pinned !== undefined, 'a leader to pin the counter to')
          ctx.note(`isolate ${ctx.mesh.peers[pinned].name} (leader, counter pinned there)`)
          await ctx.mesh.lab.isolate(pinned)
          await ctx.sleep(8000)
          await ctx.mesh.lab.heal()
          ctx.note('heal')
          const backlog = ctx.acceptedSends().filter(s => s.peer === pinned).map(s => s.key)
          healed = await healedPeerCheck(ctx.mesh, pinned, { reachMs: REACH_MS, drainMs: DRAIN_MS, backlog }, line => { ctx.note(line) })
        }
      })
      console.log(summarize(`pinned, healed (run ${run})`, r))
      assert.ok(healed !== undefined, 'the post-heal check ran')
      assert.ok(healed.ok, healed.problems.join('; '))
      assert.ok(r.counter.verdict.ok, r.counter.verdict.problems.join('; '))
      assert.ok(r.activation.verdict.ok, r.activation.verdict.problems.join('; '))
      assert.ok(r.reliable.verdict.ok, r.reliable.verdict.problems.join('; '))
    })
  }
})
