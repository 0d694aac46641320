import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { Cluster, RecordingTelemetry } from './harness.ts'
import { UnreachableError } from '../../../src/errors.ts'
import type { DocTransport } from '../../../src/consensus/crdt/index.ts'

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

/** makes every sync stream from or to this transport fail, as if the link carried only gossip */
function blockStreams (t: DocTransport): () => void {
  const open = t.openStream.bind(t)
  t.openStream = async () => { throw new UnreachableError('blocked by the test') }
  return () => { t.openStream = open }
}

describe('sync lag in seconds', () => {
  it('counts from when a digest showed missing updates until they arrive, and feeds syncLagRule', async () => {
    const telemetry = new RecordingTelemetry()
    cluster = await Cluster.create(['a', 'b'], { telemetry })
    const ra = cluster.peer('a').replicator
    const rb = cluster.peer('b').replicator
    const da = await ra.replicateState('doc', { replicas: 0 })
    const db = await rb.replicateState('doc', { replicas: 0 })
    await cluster.settle()
    const unblock = [blockStreams(cluster.peer('a').transport), blockStreams(cluster.peer('b').transport)]
    cluster.net.dropRate = 1
    da.getMap('m').set('k', 'missed')
    await cluster.settle()
    cluster.net.dropRate = 0
    assert.equal(rb.syncLagSeconds(), 0, 'b does not know yet')

    await cluster.tick(1_000) // a's digest reaches b: b now knows it lacks an update
    const started = cluster.clock.now()
    await cluster.tick(20_000)
    const lag = rb.syncLagSeconds()
    assert.ok(lag >= 19 && lag <= 21, `lag ${lag}`)
    assert.equal(ra.syncLagSeconds(), 0, 'a lacks nothing')
    telemetry.collect()
    assert.ok((telemetry.values.get('agentmesh_crdt_sync_lag_seconds') ?? 0) >= 19)
    const rule = rb.alertRules().find(r => r.name === 'sync_lag_high')
    assert.ok(rule != null, 'the replicator offers a syncLagRule')
    assert.ok(Number(await rule.sample?.()) > (rule as { value: number }).value, 'over the alert threshold')
    assert.ok(cluster.clock.now() - started >= 20_000)

    for (const u of unblock) u()
    await cluster.until(() => db.getMap('m').get('k') === 'missed', 5, 'caught up')
    assert.equal(rb.syncLagSeconds(), 0)
  })

  it('an update applied without the ones it depends on counts as lag until they arrive', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const da = await cluster.peer('a').replicator.replicateState('dep', { replicas: 0 })
    const db = await cluster.peer('b').replicator.replicateState('dep', { replicas: 0 })
    await cluster.settle()
    const unblock = [blockStreams(cluster.peer('a').transport), blockStreams(cluster.peer('b').transport)]
    cluster.net.dropRate = 1
    da.getText('t').insert(0, 'first')
    await cluster.settle()
    cluster.net.dropRate = 0
    da.getText('t').insert(5, ' second') // depends on the lost insert
    await cluster.settle()
    assert.equal(db.getText('t').toString(), '')
    await cluster.tick(5_000)
    assert.ok(cluster.peer('b').replicator.syncLagSeconds() >= 4)
    for (const u of unblock) u()
    await cluster.until(() => db.getText('t').toString() === 'first second', 5, 'caught up')
    assert.equal(cluster.peer('b').replicator.syncLagSeconds(), 0)
  })
})
