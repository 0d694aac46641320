/**
 * A node lease with a holder asks for each grant with the fence key `node-leases/<holder>`, so the
 * grant's own Raft entry raises that fence to the new lease's id and the leader can find a peer's
 * latest lease even when the peer's gossiped record names an older one (agents/recovery.ts
 * `leasesOf`). Over the real KV state machine: the fence follows the grants, a lost lease's
 * successor included.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { NodeLease, nodeLeaseKey, type LeaseKv } from '../../src/agents/index.ts'
import { KvStateMachine } from '../../src/consensus/kv/index.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { componentLogger } from '../../src/util/logger.ts'

/** a LeaseKv over a KvStateMachine, each call applied at once as the next Raft index */
function machineKv (clock: ManualClock): LeaseKv & { sm: KvStateMachine, grants: Array<string | undefined> } {
  const sm = new KvStateMachine()
  let index = 0
  const grants: Array<string | undefined> = []
  const apply = (cmd: Parameters<KvStateMachine['apply']>[1]): any => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const r = sm.apply(++index, cmd)
    if (r.type === 'error') throw Object.assign(new Error(r.message), { name: r.name })
    return r
  }
  return {
    sm,
    grants,
    grantLease: async (ttlMs, options) => {
      grants.push(options?.fenceKey)
      const r = apply({ type: 'lease-grant', ttlMs, nowMs: clock.now(), ...(options?.fenceKey !== undefined ? { fenceKey: options.fenceKey } : {}) })
      return { id: r.lease, ttlMs: r.ttlMs, expiresAtMs: r.expiresAtMs }
    },
    keepAlive: async (lease) => {
      const r = apply({ type: 'lease-keepalive', lease, nowMs: clock.now() })
      return { id: r.lease, ttlMs: r.ttlMs, expiresAtMs: r.expiresAtMs }
    },
    revoke: async (lease) => apply({ type: 'lease-revoke', lease })
  }
}

const settle = async (): Promise<void> => { for (let i = 0; i < 10; i++) await Promise.resolve() }

describe('NodeLease grants raise the holder\'s fence', () => {
  it('the store\'s fence node-leases/<holder> is always the latest grant, after a lost lease too', async () => {
    const clock = new ManualClock(0)
    const kv = machineKv(clock)
    const lease = new NodeLease({ kv, clock, log: componentLogger('test:lease'), ttlMs: 10_000, renewMs: 1000, safetyMs: 1000, holder: 'peerA' })
    lease.start()
    await settle()
    const first = lease.id
    assert.ok(first > 0 && lease.valid())
    assert.deepEqual(kv.grants, [nodeLeaseKey('peerA')])
    assert.equal(kv.sm.fenceToken(nodeLeaseKey('peerA')), first)
    // the lease is revoked behind its back: the next renewal finds it gone and a new grant follows
    await kv.revoke(first)
    clock.advance(1000)
    await settle()
    const second = lease.id
    assert.ok(second > first && lease.valid(), `a new lease (${second}) after ${first} was lost`)
    assert.equal(kv.sm.fenceToken(nodeLeaseKey('peerA')), second, 'the fence names the new lease')
    assert.equal(kv.sm.fenceToken(nodeLeaseKey('peerB')), 0, 'another peer\'s fence is untouched')
    await lease.stop()
    assert.equal(clock.pendingTimers, 0, 'stop leaves no timer behind')
  })

  it('a store that holds no more fence keys still grants the lease, without the fence', async () => {
    const clock = new ManualClock(0)
    const kv = machineKv(clock)
    const full: LeaseKv = {
      ...kv,
      grantLease: async (ttlMs, options) => {
        if (options?.fenceKey !== undefined) throw Object.assign(new Error('at most 100000 fence keys'), { name: 'CapacityError' })
        return await kv.grantLease(ttlMs, options)
      }
    }
    const lease = new NodeLease({ kv: full, clock, log: componentLogger('test:lease'), ttlMs: 10_000, renewMs: 1000, safetyMs: 1000, holder: 'peerA' })
    lease.start()
    await settle()
    assert.ok(lease.id > 0 && lease.valid(), 'the peer holds a lease')
    assert.equal(kv.sm.fenceToken(nodeLeaseKey('peerA')), 0)
    await lease.stop()
  })

  it('without a holder a grant raises no fence', async () => {
    const clock = new ManualClock(0)
    const kv = machineKv(clock)
    const lease = new NodeLease({ kv, clock, log: componentLogger('test:lease'), ttlMs: 10_000, renewMs: 1000, safetyMs: 1000 })
    lease.start()
    await settle()
    assert.ok(lease.valid())
    assert.deepEqual(kv.grants, [undefined])
    await lease.stop()
  })
})
