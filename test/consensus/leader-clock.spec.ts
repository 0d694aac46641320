/**
 * A Raft leader whose wall clock is the mesh's outlier (10 min ahead or behind). Reads are ReadIndex
 * rounds (a heartbeat quorum, no clock), and lease times are the leader's own frame (lease-time.ts):
 * a lease it grants expires after its ttl by its clock, one kept alive through it survives the
 * change to a leader with a normal clock (lease-promote rebases every lease into the new frame),
 * and once renewals stop it expires after its ttl there, not 10 min early or late. Deterministic:
 * mem-mesh.ts on one ManualClock, the outlier's wall clock offset.
 */
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MemMesh } from './mem-mesh.ts'
import type { MemPeer } from './mem-mesh.ts'

const TTL_MS = 3_000
/** expire-leases is proposed by a lease check (every 250 ms) once due, then committed */
const EXPIRY_SLACK_MS = 1_000

let mesh: MemMesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

/**
 * simulated ms from `since` (monotonic) until `key` is gone, read linearizably through `via` every
 * 100 ms; fails once it is still there `maxMs` after `since`
 */
async function goneAfter (m: MemMesh, via: MemPeer, key: string, since: number, maxMs: number): Promise<number> {
  for (;;) {
    const got = await m.settle(via.consensus.kv.get(key), 5_000, `read ${key}`)
    const at = m.clock.monotonic() - since
    if (got === undefined) return at
    if (at > maxMs) throw new Error(`${key} still there ${at} simulated ms later`)
    await m.advance(100)
  }
}

describe('a Raft leader with an outlier wall clock', () => {
  for (const [name, offsetMs] of [['ahead', 10 * 60_000], ['behind', -10 * 60_000]] as const) {
    it(`10 min ${name}: leases expire after their ttl under it and after a leader change; reads stay linearizable`, async () => {
      const m = mesh = new MemMesh()
      const p1 = await m.add('p1', 100, {}, offsetMs)
      const p2 = await m.add('p2', 101)
      const p3 = await m.add('p3', 102)
      await m.runUntil(() => m.leader() === 'p1' && [p2, p3].every(p => p.consensus.status().voters.length === 3), 15_000, 'p1 (the outlier) leads three voters')

      // under the outlier: a lease nobody renews is gone after its ttl, not 10 min early or late.
      // The leader stamps the grant when it gets it, so it expires no earlier than ttl after it was asked
      const grantAskedAt = m.clock.monotonic()
      const once = await m.settle(p3.consensus.kv.grantLease(TTL_MS), 5_000, 'grant')
      await m.settle(p3.consensus.kv.put('once/x', 1, { lease: once.id }), 5_000, 'put under the lease')
      const gone = await goneAfter(m, p2, 'once/x', grantAskedAt, TTL_MS + EXPIRY_SLACK_MS)
      assert.ok(gone >= TTL_MS, `expired ${gone} ms after the grant was asked, before its ${TTL_MS} ms ttl`)

      // a lease kept alive through the outlier, then through a leader with a normal clock
      const held = await m.settle(p3.consensus.kv.grantLease(TTL_MS), 5_000, 'grant')
      await m.settle(p3.consensus.kv.put('held/x', 1, { lease: held.id }), 5_000, 'put under the lease')
      let renewalAskedAt = 0
      const renew = async (rounds: number): Promise<void> => {
        for (let i = 0; i < rounds; i++) {
          await m.advance(1_000)
          renewalAskedAt = m.clock.monotonic()
          await m.settle(p3.consensus.kv.keepAlive(held.id), 5_000, 'keep-alive')
          assert.notEqual(await m.settle(p2.consensus.kv.get('held/x'), 5_000, 'read'), undefined, 'a renewed lease expired')
        }
      }
      await renew(3)
      m.crash('p1')
      await m.runUntil(() => m.leader() !== undefined, 10_000, 'a new leader')
      await renew(5)
      const { revision } = await m.settle(p2.consensus.kv.put('after/x', 2), 5_000, 'put after the change')
      assert.equal((await m.settle(p3.consensus.kv.get('after/x'), 5_000, 'read after the change'))?.revision, revision)
      // renewals stop: gone after the ttl by the new leader's clock
      const after = await goneAfter(m, p2, 'held/x', renewalAskedAt, TTL_MS + EXPIRY_SLACK_MS)
      assert.ok(after >= TTL_MS, `expired ${after} ms after the last renewal was asked, before its ${TTL_MS} ms ttl`)
    })
  }
})
