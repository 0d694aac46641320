import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { FULL_STATE_KEEP_MS } from '../../../src/consensus/crdt/constants.ts'
import { Cluster, RecordingTelemetry } from './harness.ts'

/** a full garbage collection, so that what is only weakly held is gone */
async function collectGarbage (): Promise<void> {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  await new Promise(resolve => setImmediate(resolve)) // weak references read in this turn stay alive until it ends
  gc()
}

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

  it('late joiners in a row share one encoding of the doc, even across garbage collections, until it has been unasked for a while', async () => {
    const telemetry = new RecordingTelemetry()
    cluster = await Cluster.create(['a', 'j1', 'j2', 'j3'], { telemetry })
    const ra = cluster.peer('a').replicator
    const da = await ra.replicateState('popular', { replicas: 0 })
    da.getText('t').insert(0, 'p'.repeat(200_000))
    await ra.flush(da, { minReplicas: 0 })
    // encodings made anywhere in the cluster while `id` joins (a joiner encodes its own empty doc too)
    const encodesDuring = async (id: string): Promise<number> => {
      const before = telemetry.sum('agentmesh_crdt_full_state_encodes_total')
      const d = await cluster!.peer(id).replicator.replicateState('popular', { replicas: 0, syncFrom: ['a'] })
      assert.equal(d.getText('t').length, 200_000)
      return telemetry.sum('agentmesh_crdt_full_state_encodes_total') - before
    }
    const first = await encodesDuring('j1')
    await collectGarbage()
    const second = await encodesDuring('j2')
    assert.ok(second < first, `the second late joiner was answered with a fresh encoding (${second} encodings, first ${first})`)
    // nobody asks for it past FULL_STATE_KEEP_MS: the anti-entropy round lets the copy go
    await cluster.tick(FULL_STATE_KEEP_MS + 2_000, 1_000)
    await collectGarbage()
    const third = await encodesDuring('j3')
    assert.ok(third > second, 'the encoding was kept alive after nobody asked for it')
  })
})
