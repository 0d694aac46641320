import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { Cluster } from './harness.ts'
import { decodeKvEntry, type Conflict } from '../../../src/consensus/crdt/index.ts'

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

const sum = (c: Conflict): number => c.candidates.reduce((s, x) => s + (x.value as number), 0)

/** under lww a delete leaves a stamped tombstone entry; under crdt the entry goes */
function deleteLeavesTombstone (kv: { set: (k: string, v: unknown) => void, delete: (k: string) => void, yarray: { toArray: () => unknown[] } }): boolean {
  kv.set('probe', 1)
  kv.delete('probe')
  return kv.yarray.toArray().map(decodeKvEntry).some(e => e?.k === 'probe' && e.d === 1)
}

describe('conflict policy stored with the doc', () => {
  it('a restarted member and a replica promoted to member keep the lww policy', async () => {
    cluster = await Cluster.create(['a', 'r'])
    await cluster.peer('a').replicator.replicateState('agent', { conflictPolicy: 'lww', replicas: 1 })
    await cluster.until(() => cluster!.peer('r').replicator.docIds().includes('agent'), 5, 'r holds')

    await cluster.restart('a')
    const ra = cluster.peer('a').replicator
    assert.deepEqual(ra.docIds(), ['agent'], 'reopened from the store')
    assert.equal(deleteLeavesTombstone(ra.keyValue('agent')), true, 'reopened under lww')

    // the replica learnt the policy from the member's request; promoted, it keeps it
    await cluster.restart('r')
    const rr = cluster.peer('r').replicator
    await rr.replicateState('agent', { replicas: 0 })
    assert.equal(deleteLeavesTombstone(rr.keyValue('agent', 'other')), true, 'promoted replica under lww')

    // and both detect concurrent writes, as lww does
    cluster.net.partition([['a'], ['r']])
    rr.keyValue('agent').set('x', 'from-r')
    cluster.clock.advance(10)
    ra.keyValue('agent').set('x', 'from-a')
    cluster.net.heal()
    await cluster.until(() => ra.keyValue('agent').get('x') === 'from-a' && rr.keyValue('agent').get('x') === 'from-a', 5, 'lww merge')
    assert.ok(ra.conflicts().length + rr.conflicts().length >= 1)
  })

  it('a custom policy comes back by name: handleConflict waits for its resolver, then uses it', async () => {
    cluster = await Cluster.create(['a', 'b'])
    await cluster.peer('a').replicator.replicateState('counter', { conflictPolicy: { name: 'sum', resolve: sum }, replicas: 0 })
    await cluster.peer('b').replicator.replicateState('counter', { conflictPolicy: { name: 'sum', resolve: sum }, replicas: 0 })
    await cluster.restart('a')
    const ra = cluster.peer('a').replicator
    const rb = cluster.peer('b').replicator
    cluster.net.partition([['a'], ['b']])
    ra.keyValue<number>('counter').set('n', 2)
    rb.keyValue<number>('counter').set('n', 3)
    cluster.net.heal()
    await cluster.until(() => ra.conflicts().length > 0, 5, 'conflict recorded on the restarted peer')
    const id = ra.conflicts()[0].id
    assert.throws(() => ra.handleConflict(id), { name: 'NotFoundError' })
    assert.equal(ra.conflicts().length, 1, 'the conflict stays until it can be resolved')
    ra.registerConflictResolver('sum', sum)
    const outcome = ra.handleConflict(id)
    assert.equal(outcome.policy, 'sum')
    assert.equal(outcome.value, 5)
    await cluster.until(() => rb.keyValue('counter').get('n') === 5, 5, 'resolved value everywhere')
  })

  it('a resolver given at construction serves docs reopened after a restart', async () => {
    cluster = await Cluster.create(['a'], { init: { conflictResolvers: { sum } } })
    await cluster.peer('a').replicator.replicateState('c2', { conflictPolicy: { name: 'sum', resolve: sum }, replicas: 0 })
    await cluster.restart('a')
    const kv = cluster.peer('a').replicator.keyValue('c2')
    assert.equal(deleteLeavesTombstone(kv), true, 'stamped like lww until handled')
    assert.throws(() => cluster!.peer('a').replicator.registerConflictResolver('', sum), { name: 'InvalidArgumentError' })
  })
})
