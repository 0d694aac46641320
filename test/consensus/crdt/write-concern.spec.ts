import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { Cluster, GatedStore } from './harness.ts'

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

describe('write concern', () => {
  it('flush resolves only once enough replicas persisted, and the state survives the owner', async () => {
    const stores = new Map<string, GatedStore>()
    cluster = await Cluster.create(['owner', 'r1', 'r2'], {
      storeFor: (id) => { const s = new GatedStore(); stores.set(id, s); return s }
    })
    const doc = await cluster.peer('owner').replicator.replicateState('agent-1', { replicas: 2 })
    await cluster.until(() => cluster!.peer('owner').replicator.holders('agent-1').length === 2, 5, 'replicas recruited')
    assert.deepEqual(cluster.peer('r1').replicator.docIds(), ['agent-1'])
    assert.deepEqual(cluster.peer('r2').replicator.docIds(), ['agent-1'])

    stores.get('r1')!.close_()
    stores.get('r2')!.close_()
    doc.getMap('m').set('answer', 42)
    let resolved = false
    const flushed = cluster.peer('owner').replicator.flush(doc, { minReplicas: 2, signal: AbortSignal.timeout(20_000) })
      .then(() => { resolved = true })
    await cluster.settle()
    assert.equal(resolved, false, 'no replica persisted yet')
    stores.get('r1')!.open_()
    await cluster.settle()
    assert.equal(resolved, false, 'one replica of two persisted')
    stores.get('r2')!.open_()
    await cluster.settle()
    await flushed
    assert.equal(resolved, true)

    // the owner dies right after the flush; a new peer syncs only from the replicas
    await cluster.stop('owner')
    await cluster.start('fresh')
    const fresh = await cluster.peer('fresh').replicator.replicateState('agent-1')
    await cluster.until(() => fresh.getMap('m').get('answer') === 42, 10, 'state from replicas')
  })

  it('replicas restored after their own restart still serve the doc', async () => {
    cluster = await Cluster.create(['owner', 'r1', 'r2'])
    const doc = await cluster.peer('owner').replicator.replicateState('agent-2', { replicas: 1 })
    doc.getArray('a').push(['kept'])
    await cluster.peer('owner').replicator.flush(doc, { minReplicas: 1, signal: AbortSignal.timeout(20_000) })
    const holder = cluster.peer('owner').replicator.holders('agent-2')[0].peer
    await cluster.stop('owner')
    await cluster.restart(holder)
    assert.deepEqual(cluster.peer(holder).replicator.docIds(), ['agent-2'])
    await cluster.start('fresh')
    const fresh = await cluster.peer('fresh').replicator.replicateState('agent-2')
    await cluster.until(() => fresh.getArray('a').length === 1, 10, 'state from the restarted replica')
  })

  it('flush rejects with TimeoutError or AbortError when replicas cannot be had', async () => {
    cluster = await Cluster.create(['alone'])
    const r = cluster.peer('alone').replicator
    const doc = await r.replicateState('solo', { replicas: 2 })
    doc.getMap('m').set('k', 1)
    const keepAlive = setInterval(() => {}, 10)
    try {
      await assert.rejects(r.flush(doc, { minReplicas: 1, signal: AbortSignal.timeout(30) }), { name: 'TimeoutError' })
    } finally {
      clearInterval(keepAlive)
    }
    const ac = new AbortController()
    const p = r.flush(doc, { minReplicas: 1, signal: ac.signal })
    ac.abort()
    await assert.rejects(p, { name: 'AbortError' })
    await r.flush(doc, { minReplicas: 0 })
  })

  it('a holder whose ack was lost is re-synced while a flush waits', async () => {
    cluster = await Cluster.create(['owner', 'r1'])
    const doc = await cluster.peer('owner').replicator.replicateState('agent-3', { replicas: 1 })
    await cluster.until(() => cluster!.peer('r1').replicator.docIds().length === 1, 5, 'replica recruited')
    cluster.net.dropRate = 1
    doc.getMap('m').set('k', 'lost-in-gossip')
    let done = false
    const flushed = cluster.peer('owner').replicator.flush(doc, { minReplicas: 1, signal: AbortSignal.timeout(20_000) })
      .then(() => { done = true })
    await cluster.tick(3000)
    assert.equal(done, false, 'no ack can arrive while all gossip is lost')
    cluster.net.dropRate = 0
    await cluster.tick(2000)
    await flushed
    const r1doc = await cluster.peer('r1').replicator.replicateState('agent-3')
    assert.equal(r1doc.getMap('m').get('k'), 'lost-in-gossip')
  })
})
