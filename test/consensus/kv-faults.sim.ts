/**
 * The long version of kv-faults.spec.ts for `npm run test:sim`: FAULT_MS (default 120 s) of
 * faults, more clients. SEED=n replays the nemesis' choices.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runKvFaults } from './kv-faults.ts'

describe('KV over HTTP under process faults (long)', { timeout: 900_000 }, () => {
  it('stays linearizable', async () => {
    const seed = process.env.SEED !== undefined ? Number(process.env.SEED) : Math.floor(Math.random() * 1e9)
    const faultMs = Number(process.env.FAULT_MS ?? 120_000)
    const lines: string[] = []
    const r = await runKvFaults({ seed, faultMs, clients: 10, keys: 6, log: (l) => { lines.push(l) } })
    const context = `seed ${seed}\n${lines.join('\n')}`
    assert.equal(r.check.outcome, 'ok', `${r.check.outcome === 'illegal' ? r.check.message : ''}\n${context}`)
    for (const v of r.finalValues) assert.deepEqual(v, r.finalValues[0], `final reads agree\n${context}`)
    console.log(`seed ${seed}: ${r.ops} ops (${r.okWrites} writes, ${r.okReads} reads acknowledged, ${r.unknown} unknown), ${r.faults.length} faults`)
  })
})
