import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { Cluster, GatedStore } from './harness.ts'
import type { SelectReplicas } from '../../../src/consensus/crdt/index.ts'

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

async function logEntries (c: Cluster, id: string): Promise<number> {
  let n = 0
  for await (const [key] of c.peer(id).store.entries()) if (key.includes('crdt/doc/')) n++
  return n
}

describe('replicas released when placement moves', () => {
  it('a replica drops the doc only after the new holder persisted everything it holds', async () => {
    const stores = new Map<string, GatedStore>()
    cluster = await Cluster.create(['owner', 'r1', 'r2'], {
      storeFor: (id) => { const s = new GatedStore(); stores.set(id, s); return s }
    })
    let placed = 'r1'
    const select: SelectReplicas = (_doc, candidates) => candidates.filter(p => p === placed)
    const owner = cluster.peer('owner').replicator
    const doc = await owner.replicateState('agent-7', { replicas: 1, selectReplicas: select })
    doc.getMap('m').set('v', 1)
    await owner.flush(doc, { minReplicas: 1, signal: AbortSignal.timeout(10_000) })
    await cluster.until(() => cluster!.peer('r1').replicator.docIds().includes('agent-7'), 5, 'r1 holds')
    assert.ok(await logEntries(cluster, 'r1') > 0)

    // placement moves to r2, whose disk is stalled: r1 must keep the doc meanwhile
    stores.get('r2')!.close_()
    placed = 'r2'
    await cluster.tick(5_000)
    assert.ok(cluster.peer('r1').replicator.docIds().includes('agent-7'), 'r1 keeps it until r2 persisted')

    stores.get('r2')!.open_()
    await cluster.until(() => !cluster!.peer('r1').replicator.docIds().includes('agent-7'), 10, 'r1 released')
    assert.equal(await logEntries(cluster, 'r1'), 0, 'its log was purged')
    assert.deepEqual(owner.holders(doc).map(h => h.peer), ['r2'])
    assert.deepEqual(cluster.peer('r2').replicator.getDoc('agent-7').getMap('m').toJSON(), { v: 1 })

    // the write concern now counts r2, and r1 stays released after its own restart
    doc.getMap('m').set('v', 2)
    await owner.flush(doc, { minReplicas: 1, signal: AbortSignal.timeout(10_000) })
    await cluster.restart('r1')
    await cluster.tick(3_000)
    assert.deepEqual(cluster.peer('r1').replicator.docIds(), [])
  })

  it('a replica that holds updates the new holders lack pushes them before it releases', async () => {
    cluster = await Cluster.create(['owner', 'r1', 'r2'])
    let placed = 'r1'
    const select: SelectReplicas = (_doc, candidates) => candidates.filter(p => p === placed)
    const owner = cluster.peer('owner').replicator
    const doc = await owner.replicateState('shared', { replicas: 1, selectReplicas: select })
    await cluster.until(() => cluster!.peer('r1').replicator.docIds().includes('shared'), 5, 'r1 holds')
    // r1 gets an update that only it has (written there, its gossip lost)
    cluster.net.dropRate = 1
    cluster.peer('r1').replicator.getDoc('shared').getMap('m').set('only-on-r1', true)
    await cluster.settle()
    placed = 'r2'
    cluster.net.dropRate = 0
    await cluster.until(() => !cluster!.peer('r1').replicator.docIds().includes('shared'), 15, 'r1 released')
    assert.equal(cluster.peer('r2').replicator.getDoc('shared').getMap('m').get('only-on-r1'), true)
    assert.equal(doc.getMap('m').get('only-on-r1'), true)
  })

  it('a member never drops its own doc, and a replica ignores lists from peers that do not own it', async () => {
    cluster = await Cluster.create(['a', 'b', 'c'])
    const ra = cluster.peer('a').replicator
    const rb = cluster.peer('b').replicator
    await ra.replicateState('two-members', { replicas: 1, selectReplicas: (_d, cands) => cands.filter(p => p === 'c') })
    await rb.replicateState('two-members', { replicas: 0 })
    await cluster.until(() => cluster!.peer('c').replicator.docIds().includes('two-members'), 5, 'c holds')
    // b lists only itself: c's owner is a, and b is a member, so nothing is released
    const t = cluster.peer('b').transport
    const { encodeGossip, GossipType } = await import('../../../src/consensus/crdt/codec.ts')
    await t.publish('agentmesh/test/v1/a/two-members', encodeGossip({ type: GossipType.Holders, holders: ['b'] }))
    await cluster.tick(3_000)
    assert.ok(cluster.peer('c').replicator.docIds().includes('two-members'))
    assert.ok(rb.docIds().includes('two-members'))
  })
})
