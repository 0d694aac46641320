import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { Cluster } from './harness.ts'

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

describe('catch-up of big docs', () => {
  it('a late joiner stores the big step 2 as received, and restarts with it without any peer', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const da = await cluster.peer('a').replicator.replicateState('big', { replicas: 0 })
    da.getText('t').insert(0, 'x'.repeat(300_000))
    da.getMap('m').set('k', 'v')
    await cluster.peer('a').replicator.flush(da, { minReplicas: 0 })
    const db = await cluster.peer('b').replicator.replicateState('big', { replicas: 0, syncFrom: ['a'] })
    assert.equal(db.getText('t').length, 300_000)
    await cluster.peer('b').replicator.flush(db, { minReplicas: 0 })
    await cluster.stop('a')
    await cluster.restart('b')
    const restored = cluster.peer('b').replicator.getDoc('big')
    assert.equal(restored.getText('t').length, 300_000)
    assert.equal(restored.getMap('m').get('k'), 'v')
    // and it keeps taking small updates on top, persisted the ordinary way
    restored.getMap('m').set('after', 1)
    await cluster.peer('b').replicator.flush(restored, { minReplicas: 0 })
    await cluster.restart('b')
    assert.equal(cluster.peer('b').replicator.getDoc('big').getMap('m').get('after'), 1)
  })

  it('late joiners get the doc as it is when they join, not an encoding from before a change', async () => {
    cluster = await Cluster.create(['a', 'j1', 'j2'])
    const ra = cluster.peer('a').replicator
    const da = await ra.replicateState('moving', { replicas: 0 })
    da.getText('t').insert(0, 'y'.repeat(100_000))
    await ra.flush(da, { minReplicas: 0 })
    const d1 = await cluster.peer('j1').replicator.replicateState('moving', { replicas: 0, syncFrom: ['a'] })
    assert.equal(d1.getText('t').length, 100_000)
    da.getText('t').insert(0, 'new')
    cluster.net.dropRate = 1 // j2 must get the change from its own catch-up, not from gossip
    await cluster.settle()
    const d2 = await cluster.peer('j2').replicator.replicateState('moving', { replicas: 0, syncFrom: ['a'] })
    assert.equal(d2.getText('t').length, 100_003)
    assert.equal(d2.getText('t').toString().slice(0, 4), 'newy')
  })
})
