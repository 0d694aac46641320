/**
 * The short fault scenario of `npm test`: a relay and two Node peers, each in its own network
 * namespace; clients on both sides; the Raft leader is cut off from the others for 8 s, then the
 * network heals. Minority-side writes must fail fast with NoQuorumError, the isolated peer must
 * report the partition (health, event-driven status) and recover, and the histories must pass
 * the checkers. Skips only where namespaces cannot be built (not root, or no `ip netns`).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { netnsAvailable } from './netns.ts'
import { runScenario, summarize } from './scenario.ts'
import type { NemesisContext } from './scenario.ts'

const available = netnsAvailable()

describe('a real partition (network namespaces), short', () => {
  it('isolated leader: minority fails fast and reports it, majority goes on, all checkers pass', {
    skip: available.ok ? false : `skipped: ${available.reason}`,
    timeout: 240_000
  }, async () => {
    const seen: Array<{ status: string, partitioned: boolean, majority: boolean }> = []
    let alerted = false
    const r = await runScenario({
      tag: 'short',
      seed: 9,
      nodes: 2,
      voters: 3,
      nemesisMs: 14_000,
      kvClients: 2,
      nemesis: async (ctx: NemesisContext) => {
        const leader = await ctx.mesh.agreedLeader()
        assert.ok(leader !== undefined, 'a leader before the fault')
        ctx.note(`isolate leader ${leader.name}`)
        await ctx.mesh.lab.isolate(leader.index)
        // the cut-off peer finds out (its records stop arriving elsewhere and theirs here)
        const deadline = performance.now() + 10_000
        while (performance.now() < deadline) {
          const h = await ctx.mesh.call(leader.index, 'GET', '/health')
          const c = h.json.components.partition
          seen.push({ status: c.status, partitioned: c.partitioned, majority: c.majority })
          if (c.majority === false) break
          await new Promise(resolve => setTimeout(resolve, 200))
        }
        const t = performance.now()
        const w = await ctx.mesh.call(leader.index, 'PUT', '/kv/minority', { value: 'x' })
        const tookMs = performance.now() - t
        assert.equal(w.status, 503)
        assert.equal(w.json.error.name, 'NoQuorumError')
        assert.ok(tookMs < 2000, `the minority write failed fast (${Math.round(tookMs)} ms)`)
        // and it raises the partition alert (after 3 s on the minority side)
        const alertBy = performance.now() + 8000
        while (performance.now() < alertBy && !alerted) {
          const a = await ctx.mesh.call(leader.index, 'GET', '/alerts')
          alerted = Array.isArray(a.json) && a.json.some((x: { name: string }) => x.name === 'network_partition')
          if (!alerted) await new Promise(resolve => setTimeout(resolve, 250))
        }
        await ctx.sleep(8000)
      }
    })
    console.log(summarize('isolated leader (short)', r))
    assert.ok(seen.some(s => s.status === 'degraded' && s.partitioned && !s.majority), `the isolated peer reported the minority side: ${JSON.stringify(seen.slice(-3))}`)
    assert.ok(alerted, 'the isolated peer raised the network_partition alert')
    assert.equal(r.kv.check.outcome, 'ok', r.kv.check.outcome === 'illegal' ? r.kv.check.message : '')
    assert.ok(r.kv.okWrites > 0 && r.kv.okReads > 0, 'clients got answers')
    assert.ok(r.counter.verdict.ok, r.counter.verdict.problems.join('; '))
    assert.ok(r.counter.acked > 0, 'the counter answered')
    assert.ok(r.activation.verdict.ok, r.activation.verdict.problems.join('; '))
  })
})
