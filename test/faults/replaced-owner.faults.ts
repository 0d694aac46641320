/**
 * A re-placement during a cut, in the lab (docs/faults.md): a relay and two Node peers (three
 * voters); the counter and a keyed "ledger" (an `inbox` agent) pinned to a peer that is not the
 * Raft leader; that owner cut off long enough for the leader to declare it failed, revoke its node
 * lease and re-place its agents; clients keep sending increments through every peer during the
 * cut (the new owner's turns are acknowledged while the old owner is still alive on the other
 * side); then the network heals. The cut alternates by run: two-sided (`isolate`), the owner
 * deaf (it drops what it receives; its packets still go out) and the owner mute (the others drop
 * what it sends).
 *
 * Checked: every acknowledged keyed increment is in the ledger's final state exactly once as read
 * through every peer, and nothing else is; each placement epoch of either agent has one owner and
 * no observer sees an epoch go back; the usual scenario checkers (counter, KV, reliable messages);
 * and at least one placement moved an agent off the cut-off owner during the cut (observed from the
 * majority side and counted by `agentmesh_agent_placements_total{reason="recover"}`), so a run that
 * never re-placed anything fails instead of passing vacuously.
 *
 * FAULTS_REPLACED_RUNS=n (default 3: one of each cut), FAULTS_REPLACED_CUTS=isolate,deaf,mute
 * (the cuts to cycle through; `leader` is a fourth: the owner is the Raft leader, cut off both ways), FAULTS_VERBOSE=1, FAULTS_PEER_LOG_DIR as for the other scenarios.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { netnsAvailable } from './netns.ts'
import { runScenario, summarize } from './scenario.ts'
import type { NemesisContext } from './scenario.ts'
import { checkKeyedIncrements, checkWatchedActivations, placementsOff, recoverPlacements, sleep, startKeyedClient, unansweredApplied, watchPlacements } from './replacement.ts'
import type { Verdict } from './checkers.ts'

const available = netnsAvailable()
const RUNS = Number(process.env.FAULTS_REPLACED_RUNS ?? 3)
const CUTS = (process.env.FAULTS_REPLACED_CUTS ?? 'isolate,deaf,mute').split(',') as Cut[]
type Cut = 'isolate' | 'deaf' | 'mute' | 'leader'
const LEDGER = 'ledger'
/** the cut lasts until the agents were seen re-placed (at most this long) ... */
const REPLACE_WAIT_MS = 30_000
/** ... and this much longer, while clients go on through the new owner */
const AFTER_MOVE_MS = 6_000
/** after the heal, every acknowledged key must be read through every peer within this */
const FINAL_READ_MS = 60_000
const CALL_TIMEOUT_MS = 8_000

interface RunFigures {
  cut: Cut
  cutMs: number
  /** ms from the cut until the first placement off the owner was seen */
  movedAfterMs: number | undefined
  /** placements off the owner first seen during the cut, both agents */
  replacements: number
  /** agentmesh_agent_placements_total{reason="recover"} summed over peers: the run's increase */
  recoverMetric: number
  keyed: { sent: number, acked: number, unknown: number, unknownApplied: number }
  /** the keyed check through each peer */
  perPeer: Array<{ peer: string, verdict: Verdict }>
  activations: Verdict
}

async function ledgerState (ctx: NemesisContext, via: number, acked: string[]): Promise<Record<string, unknown> | undefined> {
  const deadline = performance.now() + FINAL_READ_MS
  let last: Record<string, unknown> | undefined
  for (;;) {
    const r = await ctx.mesh.call(via, 'GET', `/agents/${LEDGER}/state`, undefined, 5000).catch(() => undefined)
    if (r?.status === 200 && r.json !== null && typeof r.json === 'object') {
      last = r.json as Record<string, unknown>
      if (acked.every(k => last![`m/${k}`] !== undefined)) return last
    }
    if (performance.now() > deadline) return last
    await sleep(500)
  }
}

async function cutOff (ctx: NemesisContext, cut: Cut, owner: number): Promise<void> {
  const name = ctx.mesh.peers[owner].name
  if (cut === 'isolate' || cut === 'leader') {
    ctx.note(`isolate ${name} (owner of the counter and the ledger${cut === 'leader' ? ', the Raft leader' : ''})`)
    await ctx.mesh.lab.isolate(owner)
  } else if (cut === 'deaf') {
    ctx.note(`${name} (owner) drops everything it receives from peers; its packets still go out`)
    await ctx.mesh.lab.deafen(owner)
  } else {
    ctx.note(`every peer drops what ${name} (owner) sends; it still receives`)
    await ctx.mesh.lab.mute(owner)
  }
}

async function replacementNemesis (ctx: NemesisContext, run: number, cut: Cut, owner: number, t0: number, out: (f: RunFigures) => void): Promise<void> {
  const mesh = ctx.mesh
  const now = (): number => performance.now() - t0
  const ownerId = mesh.peers[owner].ready!.peerId
  const deadline = performance.now() + 90_000
  let deployed = 0
  while (performance.now() < deadline) {
    deployed = (await mesh.call(0, 'POST', '/agents', { id: LEDGER, kind: 'inbox', node: ownerId }, 20_000).catch(() => undefined))?.status ?? 0
    if (deployed === 201 || deployed === 409) break
    await sleep(300)
  }
  assert.ok(deployed === 201 || deployed === 409, `the ledger deployed on ${mesh.peers[owner].name} (last status ${deployed})`)
  const recoverBefore = await recoverPlacements(mesh)
  const watch = watchPlacements(mesh, ['ctr', LEDGER], now)
  const client = startKeyedClient(mesh, LEDGER, `r${run}-`, () => mesh.running().map(p => p.index), () => ctx.rng.next(), CALL_TIMEOUT_MS)
  let healed = false
  try {
    // increments acknowledged by the first owner before the cut
    const warm = performance.now() + 20_000
    while (client.history.acked.length < 5 && performance.now() < warm) await sleep(200)
    await cutOff(ctx, cut, owner)
    const cutAt = now()
    const movedOff = (): number => [...watch.observations.values()].reduce((n, obs) => n + placementsOff(obs, ownerId).filter(x => x.firstSeen > cutAt).length, 0)
    const waitUntil = performance.now() + REPLACE_WAIT_MS
    while (movedOff() === 0 && performance.now() < waitUntil) await sleep(100)
    const movedAfterMs = movedOff() > 0 ? now() - cutAt : undefined
    ctx.note(movedAfterMs !== undefined ? `re-placement seen ${Math.round(movedAfterMs)} ms after the cut` : `no re-placement within ${REPLACE_WAIT_MS} ms`)
    if (movedAfterMs !== undefined) await sleep(AFTER_MOVE_MS)
    const healAt = now()
    await mesh.lab.heal()
    healed = true
    ctx.note('heal')
    const replacements = [...watch.observations.values()].reduce((n, obs) => n + placementsOff(obs, ownerId).filter(x => x.firstSeen > cutAt && x.firstSeen <= healAt).length, 0)
    await mesh.waitForGroup(0, 60_000)
    // clients go on through the heal for a moment
    await sleep(4000)
    await client.stop()
    const perPeer: RunFigures['perPeer'] = []
    let unknownApplied = 0
    for (const p of mesh.peers) {
      const state = await ledgerState(ctx, p.index, client.history.acked)
      if (state !== undefined) unknownApplied = unansweredApplied(client.history, state)
      perPeer.push({ peer: p.name, verdict: state === undefined ? { ok: false, problems: [`the ledger's state was not read through ${p.name}`] } : checkKeyedIncrements(client.history, state) })
    }
    await watch.stop()
    const recoverMetric = (await recoverPlacements(mesh)) - recoverBefore
    out({
      cut,
      cutMs: healAt - cutAt,
      movedAfterMs,
      replacements,
      recoverMetric,
      keyed: { sent: client.sent(), acked: client.history.acked.length, unknown: client.history.unknown.length, unknownApplied },
      perPeer,
      activations: checkWatchedActivations(watch)
    })
  } finally {
    if (!healed) await mesh.lab.heal()
    await client.stop()
    await watch.stop()
  }
}

describe('an owner cut off long enough to be re-placed, then healed', { concurrency: 1 }, () => {
  for (let run = 1; run <= RUNS; run++) {
    const cut = CUTS[(run - 1) % CUTS.length]
    it(`run ${run} (${cut}): its agents are re-placed during the cut; every acknowledged increment is there exactly once after the heal`, {
      skip: available.ok ? false : `skipped: ${available.reason}`,
      timeout: 420_000
    }, async () => {
      let owner: number | undefined
      let figures: RunFigures | undefined
      const t0 = performance.now()
      const r = await runScenario({
        tag: `repl${run}`,
        seed: 120 + run,
        nodes: 2,
        voters: 3,
        nemesisMs: 10_000,
        kvClients: 1,
        log: line => { if (process.env.FAULTS_VERBOSE === '1') process.stderr.write(`repl${run}: ${line}\n`) },
        // a follower, so the leader that re-places its agents is not the one cut off; with the
        // `leader` cut the leader itself (a new one must be elected before anything moves)
        pinCounter: async mesh => {
          const deadline = performance.now() + 30_000
          while (owner === undefined && performance.now() < deadline) {
            const leader = (await mesh.agreedLeader())?.index
            if (leader !== undefined) owner = cut === 'leader' ? leader : mesh.peers.map(p => p.index).filter(i => i !== leader)[run % 2]
            else await sleep(200)
          }
          return owner
        },
        nemesis: async (ctx: NemesisContext) => {
          assert.ok(owner !== undefined, 'a follower to pin the agents to')
          await replacementNemesis(ctx, run, cut, owner, t0, f => { figures = f })
        }
      })
      console.log(summarize(`re-placed owner (run ${run}, ${cut})`, r))
      assert.ok(figures !== undefined, 'the re-placement run finished')
      const f = figures
      console.log(`re-placed owner (run ${run}, ${cut}): cut ${Math.round(f.cutMs / 100) / 10} s, first re-placement seen after ${f.movedAfterMs === undefined ? '-' : Math.round(f.movedAfterMs)} ms, ` +
        `${f.replacements} placements off the owner during the cut (recover metric +${f.recoverMetric}); keyed increments ${f.keyed.sent} sent, ${f.keyed.acked} acknowledged, ${f.keyed.unknown} unanswered (${f.keyed.unknownApplied} of them applied); ` +
        f.perPeer.map(p => `${p.peer} ${p.verdict.ok ? 'ok' : p.verdict.problems.join('; ')}`).join(', '))
      const context = `faults:\n  ${r.faults.join('\n  ')}`
      assert.ok(f.replacements >= 1 && f.recoverMetric >= 1, `no agent was re-placed during the cut (${f.replacements} seen, recover metric +${f.recoverMetric}): the run checked nothing about a re-placement\n${context}`)
      for (const p of f.perPeer) assert.ok(p.verdict.ok, `through ${p.peer}: ${p.verdict.problems.join('; ')}\n${context}`)
      assert.ok(f.activations.ok, `${f.activations.problems.join('; ')}\n${context}`)
      assert.ok(r.counter.verdict.ok, `${r.counter.verdict.problems.join('; ')}\n${context}`)
      assert.ok(r.activation.verdict.ok, `${r.activation.verdict.problems.join('; ')}\n${context}`)
      assert.equal(r.kv.check.outcome, 'ok', `${r.kv.check.outcome !== 'ok' ? r.kv.check.message : ''}\n${context}`)
      assert.ok(r.reliable.verdict.ok, `${r.reliable.verdict.problems.join('; ')}\n${context}`)
      assert.ok(f.keyed.acked > 0, 'some keyed increments were acknowledged')
    })
  }
})
