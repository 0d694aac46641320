/**
 * A node lease with a holder registers each grant in the store (`node-leases/<holder>`, attached
 * to the lease) before it counts the lease valid, so the leader can find a peer's current lease
 * even when the peer's gossiped record names an older one (agents/recovery.ts `leasesOf`).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { NodeLease, nodeLeaseKey, type LeaseKv } from '../../src/agents/index.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { componentLogger } from '../../src/util/logger.ts'

interface Put { key: string, value: unknown, lease: number | undefined, settle: (err?: Error) => void }

/** a KV that grants ids 1, 2, ... at once and holds each put until the test settles it */
function registryKv (): LeaseKv & { puts: Put[], grants: number, revoked: number[] } {
  let next = 0
  const kv = {
    puts: [] as Put[],
    grants: 0,
    revoked: [] as number[],
    grantLease: async (ttlMs: number) => { kv.grants++; return { id: ++next, ttlMs, expiresAtMs: 0 } },
    keepAlive: async (lease: number) => ({ id: lease, ttlMs: 0, expiresAtMs: 0 }),
    revoke: async (lease: number) => { kv.revoked.push(lease) },
    put: async (key: string, value: unknown, options?: { lease?: number }) => {
      await new Promise<void>((resolve, reject) => {
        kv.puts.push({ key, value, lease: options?.lease, settle: (err) => { if (err === undefined) resolve(); else reject(err) } })
      })
    }
  }
  return kv
}

const settle = async (): Promise<void> => { for (let i = 0; i < 10; i++) await Promise.resolve() }

describe('NodeLease registration', () => {
  it('a grant counts only once it is registered under node-leases/<holder>, attached to the lease', async () => {
    const clock = new ManualClock(0)
    const kv = registryKv()
    const lease = new NodeLease({ kv, clock, log: componentLogger('test:lease'), ttlMs: 10_000, renewMs: 1000, safetyMs: 1000, holder: 'peerA' })
    lease.start()
    await settle()
    assert.equal(kv.grants, 1)
    assert.equal(kv.puts.length, 1)
    assert.deepEqual({ key: kv.puts[0].key, lease: kv.puts[0].lease }, { key: nodeLeaseKey('peerA'), lease: 1 })
    assert.equal(lease.valid(), false, 'not valid while the registration is out')
    kv.puts[0].settle()
    await settle()
    assert.equal(lease.id, 1)
    assert.equal(lease.valid(), true)
    await lease.stop()
    assert.equal(clock.pendingTimers, 0, 'stop leaves no timer behind')
  })

  it('a grant whose registration failed is given back, never used, and a new one is asked for', async () => {
    const clock = new ManualClock(0)
    const kv = registryKv()
    const lease = new NodeLease({ kv, clock, log: componentLogger('test:lease'), ttlMs: 10_000, renewMs: 1000, safetyMs: 1000, holder: 'peerA' })
    lease.start()
    await settle()
    kv.puts[0].settle(Object.assign(new Error('no quorum'), { name: 'NoQuorumError' }))
    await settle()
    assert.equal(lease.valid(), false)
    assert.equal(lease.id, 0, 'the unregistered lease is not taken')
    assert.deepEqual(kv.revoked, [1], 'and is given back')
    clock.advance(1000)
    await settle()
    assert.equal(kv.grants, 2, 'the next renewal asks for a new grant')
    assert.equal(kv.puts[1].lease, 2)
    kv.puts[1].settle()
    await settle()
    assert.equal(lease.id, 2)
    assert.equal(lease.valid(), true)
    await lease.stop()
  })

  it('needs a kv that can put when it has a holder', () => {
    const { put: _put, ...noPut } = registryKv()
    assert.throws(() => new NodeLease({ kv: noPut, clock: new ManualClock(0), log: componentLogger('test:lease'), holder: 'peerA' }), TypeError)
  })
})
