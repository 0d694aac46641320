import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { Cluster, RecordingTelemetry } from './harness.ts'

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

describe('limits', () => {
  it('refuses a remote update over the per-update cap with MessageTooLargeError, and keeps serving others', async () => {
    const telemetry = new RecordingTelemetry()
    cluster = await Cluster.create(['a', 'b', 'c'], { init: { maxUpdateBytes: 10_000 }, telemetry })
    const [ra, rb, rc] = ['a', 'b', 'c'].map(id => cluster!.peer(id).replicator)
    const da = await ra.replicateState('doc', { replicas: 0 })
    const db = await rb.replicateState('doc', { replicas: 0 })
    const dc = await rc.replicateState('doc', { replicas: 0 })
    await cluster.settle()
    da.getText('t').insert(0, 'z'.repeat(20_000))
    await cluster.tick(3000)
    assert.equal(db.getText('t').length, 0)
    assert.ok(telemetry.sum('agentmesh_crdt_invalid_messages_total{reason=MessageTooLargeError}') >= 1)
    dc.getMap('m').set('from-c', 1)
    await cluster.settle()
    assert.equal(db.getMap('m').get('from-c'), 1)
  })

  it('flush refuses a doc over the size cap with MessageTooLargeError', async () => {
    cluster = await Cluster.create(['a', 'b'], { init: { maxDocBytes: 50_000 } })
    const r = cluster.peer('a').replicator
    const doc = await r.replicateState('doc', { replicas: 1 })
    doc.getText('t').insert(0, 'q'.repeat(60_000))
    await assert.rejects(r.flush(doc, { signal: AbortSignal.timeout(10_000) }), { name: 'MessageTooLargeError' })
  })

  it('refuses doc ids that are empty, too long or not printable ASCII', async () => {
    cluster = await Cluster.create(['a'])
    const r = cluster.peer('a').replicator
    for (const bad of ['', 'x'.repeat(201), 'with space', 'ünïcode']) {
      await assert.rejects(r.replicateState(bad), { name: 'InvalidArgumentError' })
    }
    await assert.rejects(r.flush('unknown'), { name: 'NotFoundError' })
  })
})

describe('metrics', () => {
  it('reports updates in and out, doc size, syncs, sync lag and pending updates', async () => {
    const telemetry = new RecordingTelemetry()
    cluster = await Cluster.create(['a', 'b'], { telemetry })
    const da = await cluster.peer('a').replicator.replicateState('doc', { replicas: 1 })
    const db = await cluster.peer('b').replicator.replicateState('doc')
    await cluster.settle()
    da.getMap('m').set('k', 'v')
    await cluster.settle()
    cluster.net.dropRate = 1
    da.getMap('m').set('k2', 'v2')
    await cluster.settle()
    cluster.net.dropRate = 0
    await cluster.until(() => db.getMap('m').get('k2') === 'v2', 5, 'catch-up')
    assert.ok(telemetry.sum('agentmesh_crdt_updates_out_total') >= 2)
    assert.ok(telemetry.sum('agentmesh_crdt_updates_in_total{path=gossip}') >= 1)
    assert.ok(telemetry.sum('agentmesh_crdt_updates_in_total{path=sync}') >= 1)
    assert.ok(telemetry.sum('agentmesh_crdt_doc_bytes{doc=doc}') > 0)
    assert.ok(telemetry.sum('agentmesh_crdt_syncs_total{outcome=ok}') >= 1)
    assert.ok((telemetry.observations.get('agentmesh_crdt_sync_lag_operations') ?? []).some(v => v >= 1))
    assert.ok((telemetry.observations.get('agentmesh_crdt_sync_duration_seconds') ?? []).length >= 1)
    telemetry.collect()
    assert.equal(telemetry.values.get('agentmesh_crdt_pending_updates'), 0)
    assert.equal(telemetry.sum('agentmesh_crdt_docs{role=member}'), 1)
  })
})

describe('catch-up before use', () => {
  it('replicateState with syncFrom resolves with the state of the named peers', async () => {
    cluster = await Cluster.create(['old', 'r1', 'new'])
    const r = cluster.peer('old').replicator
    const doc = await r.replicateState('agent-x', { replicas: 1, selectReplicas: () => ['r1'] })
    doc.getMap('m').set('count', 7)
    await r.flush(doc, { minReplicas: 1, signal: AbortSignal.timeout(10_000) })
    await cluster.stop('old')
    const fresh = await cluster.peer('new').replicator.replicateState('agent-x', { syncFrom: ['old', 'r1'] })
    assert.equal(fresh.getMap('m').get('count'), 7)
    await assert.rejects(
      cluster.peer('new').replicator.replicateState('agent-y', { syncFrom: ['old'] }),
      { name: 'UnreachableError' }
    )
  })
})
