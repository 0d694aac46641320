/**
 * Lease renewals answered by the Raft leader from memory (lease-renewals.ts, driver-leases.ts):
 * no Raft entry per renewal, expiry by an entry naming the due leases, a due or revoked lease never
 * renewed, renewals made through an old leader covered by the new leader's lease-promote, and a
 * time-to-live asked anywhere that counts the leader's renewals. Deterministic: three
 * ConsensusManagers on one ManualClock (mem-mesh.ts).
 */
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MemMesh } from './mem-mesh.ts'
import type { MemPeer } from './mem-mesh.ts'
import type { RaftDriver } from '../../src/consensus/driver.ts'
import { decodeCommand } from '../../src/consensus/kv/index.ts'
import type { KvCommand } from '../../src/consensus/kv/index.ts'
import { EntryType } from '../../src/consensus/raft/index.ts'

const TTL_MS = 3_000

let mesh: MemMesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

function driverOf (p: MemPeer): RaftDriver {
  return (p.consensus as unknown as { driverRef: RaftDriver }).driverRef
}

/** the KV commands in `p`'s log after index `from` */
function commandsAfter (p: MemPeer, from: number): KvCommand[] {
  const log = driverOf(p).log
  return log.entries(from + 1, log.lastIndex() + 1, Infinity)
    .filter(e => e.type === EntryType.Normal && e.data.byteLength > 0)
    .map(e => decodeCommand(e.data))
}

async function failure (p: Promise<unknown>): Promise<Error> {
  return await p.then(v => { throw new Error(`expected a failure, got ${JSON.stringify(v)}`) }, (err: Error) => err)
}

async function threePeers (): Promise<{ m: MemMesh, leader: MemPeer, followers: MemPeer[] }> {
  const m = mesh = new MemMesh()
  const peers = [await m.add('p1', 200), await m.add('p2', 201), await m.add('p3', 202)]
  await m.runUntil(() => m.leader() !== undefined && peers.every(p => p.consensus.status().voters.length === 3), 15_000, 'three voters under one leader')
  // the leader's lease-promote applied (its first lease check after the election)
  await m.advance(1_000)
  const leader = peers.find(p => p.id === m.leader())!
  return { m, leader, followers: peers.filter(p => p !== leader) }
}

describe('lease renewals on the leader', () => {
  it('a lease renewed through a follower for 4 ttl stays alive with no Raft entry for the renewals; once not renewed, an entry naming it expires it', async () => {
    const { m, leader, followers: [f1, f2] } = await threePeers()
    const lease = await m.settle(f1.consensus.kv.grantLease(TTL_MS), 5_000, 'grant')
    await m.settle(f1.consensus.kv.put('held/x', 1, { lease: lease.id }), 5_000, 'put under the lease')
    const before = leader.consensus.status().commitIndex
    for (let t = 0; t < 4 * TTL_MS; t += 1_000) {
      await m.advance(1_000)
      const r = await m.settle(f1.consensus.kv.keepAlive(lease.id), 5_000, 'keep-alive')
      assert.equal(r.id, lease.id)
      assert.equal(r.ttlMs, TTL_MS)
    }
    assert.notEqual(await m.settle(f2.consensus.kv.get('held/x'), 5_000, 'read'), undefined, 'a renewed lease expired')
    assert.equal(leader.consensus.status().commitIndex, before, 'renewals appended Raft entries')
    assert.ok(driverOf(leader).leases.size >= 1, 'the leader holds the renewal in memory')

    // renewals stop: expired within a ttl and a lease check or two, by one entry naming it
    await m.runUntil(() => driverOf(f2).sm.get('held/x') === undefined, TTL_MS + 1_500, 'the lease to expire')
    const expiries = commandsAfter(leader, before).filter(c => c.type === 'expire-leases')
    assert.deepEqual(expiries, [{ type: 'expire-leases', nowMs: (expiries[0] as { nowMs: number }).nowMs, leases: [lease.id] }])
    assert.equal((await failure(m.settle(f1.consensus.kv.keepAlive(lease.id), 5_000, 'renew a lease gone'))).name, 'NotFoundError')
  })

  it('a due lease is not renewed even before an expiry entry for it is proposed; a revoked one neither', async () => {
    const { m, leader, followers: [f1] } = await threePeers()
    // the leader's lease checks stop: a due lease stays in the state machine, no expire-leases proposed
    const expiry = (leader.consensus as unknown as { leaseExpiry: { check: (d: RaftDriver) => void } }).leaseExpiry
    const check = expiry.check.bind(expiry)
    expiry.check = () => {}
    const lease = await m.settle(f1.consensus.kv.grantLease(TTL_MS), 5_000, 'grant')
    await m.advance(TTL_MS + 200)
    assert.ok(driverOf(leader).sm.leaseTimes(lease.id) !== undefined, 'still in the state machine')
    const err = await failure(m.settle(f1.consensus.kv.keepAlive(lease.id), 5_000, 'renew a due lease'))
    assert.equal(err.name, 'NotFoundError', `${err.name}: ${err.message}`)
    const onLeader = await failure(m.settle(leader.consensus.kv.keepAlive(lease.id), 5_000, 'renew a due lease on the leader'))
    assert.equal(onLeader.name, 'NotFoundError')
    // and the expiry, once the checks run again, takes it
    expiry.check = check
    await m.runUntil(() => driverOf(f1).sm.leaseTimes(lease.id) === undefined, 2_000, 'the due lease to expire')

    const revoked = await m.settle(f1.consensus.kv.grantLease(TTL_MS), 5_000, 'grant')
    await m.settle(f1.consensus.kv.keepAlive(revoked.id), 5_000, 'keep-alive')
    await m.settle(f1.consensus.kv.revoke(revoked.id), 5_000, 'revoke')
    assert.equal((await failure(m.settle(f1.consensus.kv.keepAlive(revoked.id), 5_000, 'renew a revoked lease'))).name, 'NotFoundError')
    assert.equal(await m.settle(f1.consensus.kv.timeToLive(revoked.id), 5_000, 'ttl of a revoked lease'), undefined)
  })

  it('a time-to-live asked on a follower counts the renewals the leader holds in memory', async () => {
    const { m, followers: [f1, f2] } = await threePeers()
    const lease = await m.settle(f1.consensus.kv.grantLease(TTL_MS), 5_000, 'grant')
    await m.advance(2_000)
    await m.settle(f1.consensus.kv.keepAlive(lease.id), 5_000, 'keep-alive')
    await m.advance(2_000)
    // the replicated expiry (grant + ttl) passed 1 s ago; the renewal holds it 1 s more
    assert.equal(driverOf(f2).sm.leaseTimes(lease.id)!.expiresAtMs, lease.expiresAtMs, 'the renewal is no Raft entry')
    const ttl = await m.settle(f2.consensus.kv.timeToLive(lease.id), 5_000, 'ttl on a follower')
    assert.ok(ttl !== undefined)
    assert.equal(ttl.ttlMs, TTL_MS)
    assert.ok(ttl.remainingMs > 800 && ttl.remainingMs <= 1_000, `remaining ${ttl.remainingMs} ms, expected about 1000`)
  })

  it('a question to a leader that died times out at its deadline (TimeoutError), or is asked again of the next leader within it', async () => {
    const { m, leader, followers: [f1, f2] } = await threePeers()
    const lease = await m.settle(f1.consensus.kv.grantLease(TTL_MS), 5_000, 'grant')
    m.crash(leader.id)
    // f1 still names the dead leader for an election timeout (1-2 s): nothing answers within 300 ms
    const short = await failure(m.settle(driverOf(f1).leaseRequest('keepalive', lease.id, { timeoutMs: 300 }), 2_000, 'a short renewal'))
    assert.equal(short.name, 'TimeoutError', `${short.name}: ${short.message}`)
    assert.equal(f1.consensus.status().leader, leader.id, 'the question went to the dead leader')
    // with the usual deadline the question is asked again of whoever leads next
    const renewed = await m.settle(f2.consensus.kv.keepAlive(lease.id), 8_000, 'a renewal across the election')
    assert.equal(renewed.id, lease.id)
    const next = [f1, f2].find(p => p.id === m.leader())!
    assert.equal(driverOf(next).leases.size, 1, 'the next leader answered it')
  })

  it('a lease renewed only through the old leader outlives its replicated expiry on the new one (promote), and renewals then go to the new leader', async () => {
    const { m, leader, followers: [f1, f2] } = await threePeers()
    const lease = await m.settle(f1.consensus.kv.grantLease(TTL_MS), 5_000, 'grant')
    await m.settle(f1.consensus.kv.put('held/y', 1, { lease: lease.id }), 5_000, 'put under the lease')
    for (let i = 0; i < 5; i++) {
      await m.advance(1_000)
      await m.settle(f1.consensus.kv.keepAlive(lease.id), 5_000, 'keep-alive through the old leader')
    }
    // replicated: still the grant's expiry, 2 s ago
    const replicated = driverOf(f2).sm.leaseTimes(lease.id)!.expiresAtMs
    m.crash(leader.id)
    await m.runUntil(() => m.leader() !== undefined, 10_000, 'a new leader')
    const next = [f1, f2].find(p => p.id === m.leader())!
    await m.runUntil(() => driverOf(next).leases.promoted(), 2_000, 'the new leader to promote the leases')
    assert.ok(driverOf(next).sm.leaseTimes(lease.id)!.expiresAtMs > replicated, 'the promote gave the lease a full ttl')
    const renewalsBefore = driverOf(next).leases.size
    for (let i = 0; i < 5; i++) {
      await m.advance(1_000)
      await m.settle(f1.consensus.kv.keepAlive(lease.id), 5_000, 'keep-alive through the new leader')
      assert.notEqual(await m.settle(f2.consensus.kv.get('held/y'), 5_000, 'read'), undefined, 'the renewed lease expired')
    }
    assert.equal(renewalsBefore, 0)
    assert.equal(driverOf(next).leases.size, 1, 'the new leader holds the renewal')
  })
})
