/**
 * Real processes under faults (bounded for `npm test`; kv-faults.sim.ts runs longer): 5 CLI peers
 * with `--data`, concurrent HTTP clients, SIGKILL + restart and SIGSTOP / SIGCONT of peers
 * including the leader. The history must be linearizable and the final reads must agree.
 * SEED=n replays the nemesis' choices.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runKvFaults } from './kv-faults.ts'

describe('KV over HTTP under process faults', { timeout: 150_000 }, () => {
  it('stays linearizable through SIGKILL/restart and SIGSTOP/SIGCONT of peers, leader included', async () => {
    const seed = process.env.SEED !== undefined ? Number(process.env.SEED) : Math.floor(Math.random() * 1e9)
    const lines: string[] = []
    const r = await runKvFaults({ seed, faultMs: 20_000, clients: 6, keys: 4, log: (l) => { lines.push(l) } })
    const context = `seed ${seed}\n${lines.join('\n')}`
    assert.equal(r.check.outcome, 'ok', `${r.check.outcome === 'illegal' ? r.check.message : ''}\n${context}`)
    assert.ok(r.faults.length >= 3, `the nemesis acted (${r.faults.length} faults)\n${context}`)
    assert.ok(r.okWrites >= 50, `writes made progress: ${r.okWrites} acknowledged\n${context}`)
    for (const v of r.finalValues) assert.deepEqual(v, r.finalValues[0], `final reads agree\n${context}`)
  })
})
