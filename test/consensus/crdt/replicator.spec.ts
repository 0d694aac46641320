import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { Cluster, docContent } from './harness.ts'

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

describe('DocReplicator', () => {
  it('shares a doc between the peers that ask for it, and never re-broadcasts received updates', async () => {
    cluster = await Cluster.create(['a', 'b', 'c'])
    const published: Record<string, number> = { a: 0, b: 0, c: 0 }
    for (const id of ['a', 'b', 'c']) {
      const t = cluster.peer(id).transport
      const orig = t.publish.bind(t)
      t.publish = async (topic, data, o) => { if (data[1] === 0) published[id]++; await orig(topic, data, o) }
    }
    const da = await cluster.peer('a').replicator.replicateState('notes')
    const db = await cluster.peer('b').replicator.replicateState('notes')
    const dc = await cluster.peer('c').replicator.replicateState('notes')
    await cluster.settle()
    da.getMap('m').set('x', 1)
    db.getArray('a').push(['from-b'])
    await cluster.settle()
    for (const d of [da, db, dc]) {
      assert.deepEqual(d.getMap('m').toJSON(), { x: 1 })
      assert.deepEqual(d.getArray('a').toJSON(), ['from-b'])
    }
    assert.deepEqual(published, { a: 1, b: 1, c: 0 })
  })

  it('catches up a peer that missed gossip through the periodic digest', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const da = await cluster.peer('a').replicator.replicateState('doc', { replicas: 0 })
    const db = await cluster.peer('b').replicator.replicateState('doc', { replicas: 0 })
    await cluster.settle()
    cluster.net.dropRate = 1
    for (let i = 0; i < 20; i++) da.getText('t').insert(0, `${i},`)
    await cluster.settle()
    assert.equal(db.getText('t').toString(), '')
    cluster.net.dropRate = 0
    await cluster.until(() => db.getText('t').toString() === da.getText('t').toString(), 5, 'catch-up')
  })

  it('catches up a lost delete, which leaves the state vectors equal', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const da = await cluster.peer('a').replicator.replicateState('doc', { replicas: 0 })
    const db = await cluster.peer('b').replicator.replicateState('doc', { replicas: 0 })
    da.getMap('m').set('gone', 1)
    await cluster.settle()
    assert.equal(db.getMap('m').get('gone'), 1)
    cluster.net.dropRate = 1
    da.getMap('m').delete('gone')
    await cluster.settle()
    assert.deepEqual(Y.encodeStateVector(da), Y.encodeStateVector(db))
    assert.equal(db.getMap('m').has('gone'), true)
    cluster.net.dropRate = 0
    await cluster.until(() => !db.getMap('m').has('gone'), 5, 'delete caught up')
  })

  it('restores a doc from its update log after a restart, without duplicating content', async () => {
    cluster = await Cluster.create(['a'], { init: { compactAfterUpdates: 10 } })
    let doc = await cluster.peer('a').replicator.replicateState('doc', { replicas: 0 })
    for (let i = 0; i < 25; i++) doc.getArray('a').push([i])
    doc.getText('t').insert(0, 'hello')
    await cluster.settle()
    const before = docContent(doc)
    for (let round = 0; round < 3; round++) {
      await cluster.restart('a')
      doc = await cluster.peer('a').replicator.replicateState('doc', { replicas: 0 })
      assert.equal(docContent(doc), before)
    }
    doc.getText('t').insert(5, ' world')
    await cluster.restart('a')
    doc = await cluster.peer('a').replicator.replicateState('doc', { replicas: 0 })
    assert.equal(doc.getText('t').toString(), 'hello world')
    assert.equal(doc.getArray('a').length, 25)
    let logEntries = 0
    for await (const _ of cluster.peer('a').store.sub('crdt/doc/doc/u/').entries()) logEntries++
    assert.ok(logEntries <= 11, `update log compacted (has ${logEntries} entries)`)
  })

  it('catches up a peer that joins late or restarts, over the sync stream', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const da = await cluster.peer('a').replicator.replicateState('doc', { replicas: 1 })
    da.getMap('m').set('k', 'v1')
    await cluster.settle()
    await cluster.start('c')
    const dc = await cluster.peer('c').replicator.replicateState('doc')
    await cluster.until(() => dc.getMap('m').get('k') === 'v1', 5, 'late joiner')
    await cluster.stop('c')
    da.getMap('m').set('k', 'v2')
    await cluster.settle()
    await cluster.start('c')
    const dc2 = await cluster.peer('c').replicator.replicateState('doc')
    assert.equal(dc2.getMap('m').get('k'), 'v1', 'restored from its own storage first')
    await cluster.until(() => dc2.getMap('m').get('k') === 'v2', 5, 'restarted peer catch-up')
  })

  it('moves an update larger than 1 MB in frames of at most 16 KiB', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const da = await cluster.peer('a').replicator.replicateState('big', { replicas: 1 })
    const db = await cluster.peer('b').replicator.replicateState('big')
    await cluster.settle()
    const big = 'x'.repeat(1_200_000)
    da.getText('t').insert(0, big)
    await cluster.until(() => db.getText('t').length === big.length, 5, 'big update')
    assert.equal(db.getText('t').toString(), big)
    assert.ok(cluster.net.stats.largestFrameBytes <= 16 * 1024)
    assert.ok(cluster.net.stats.framesSent >= 1_200_000 / (16 * 1024))
  })

  it('refuses malformed and oversized gossip without crashing, and keeps working', async () => {
    cluster = await Cluster.create(['a', 'b'], { init: { maxGossipBytes: 4096 } })
    const da = await cluster.peer('a').replicator.replicateState('doc', { replicas: 0 })
    const db = await cluster.peer('b').replicator.replicateState('doc', { replicas: 0 })
    await cluster.settle()
    const topic = 'agentmesh/test/v1/a/doc'
    const tb = cluster.peer('b').transport
    await tb.publish(topic, new Uint8Array([1, 0, 200, 1, 2]))
    await tb.publish(topic, new Uint8Array([9, 0, 0]))
    await tb.publish(topic, new Uint8Array(5000))
    await tb.publish(topic, new Uint8Array([1, 0, 3, 1, 2, 3]))
    const stream = await tb.openStream('a', '/agentmesh/sync/1.0.0')
    await stream.send(new Uint8Array([0, 1, 10, 255, 255, 255, 255, 15]))
    await cluster.settle()
    da.getMap('m').set('still', 'working')
    await cluster.settle()
    assert.equal(db.getMap('m').get('still'), 'working')
  })

  it('stop() leaves no timer, subscription, handler or listener behind, and a flush in progress rejects', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const live = new Set<unknown>()
    const clock = cluster.clock
    const setI = clock.setInterval.bind(clock); const clearI = clock.clearInterval.bind(clock)
    clock.setInterval = (fn, ms) => { const h = setI(fn, ms); live.add(h); return h }
    clock.clearInterval = (h) => { live.delete(h); clearI(h) }
    await cluster.restart('a')
    const ra = cluster.peer('a').replicator
    const doc = await ra.replicateState('doc', { replicas: 1 })
    await ra.replicateState('other', { replicas: 0 })
    cluster.net.partition([['a'], ['b']])
    doc.getMap('m').set('k', 1)
    const flushing = ra.flush(doc, { minReplicas: 1, signal: AbortSignal.timeout(20_000) })
    await cluster.settle()
    assert.ok(live.size >= 2, 'anti-entropy and flush timers run')
    const t = cluster.peer('a').transport as unknown as { subscriptions: Map<string, unknown>, handlers: Map<string, unknown>, peerListeners: Set<unknown> }
    await cluster.stop('a')
    await assert.rejects(flushing, { name: 'NotStartedError' })
    assert.equal(live.size, 0)
    assert.equal(t.subscriptions.size, 0)
    assert.equal(t.handlers.size, 0)
    assert.equal(t.peerListeners.size, 0)
  })

  it('keeps a doc equal on every peer when given a Y.Doc update from outside the replicator', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const da = await cluster.peer('a').replicator.replicateState('doc', { replicas: 1 })
    const db = await cluster.peer('b').replicator.replicateState('doc')
    const other = new Y.Doc()
    other.getMap('m').set('imported', true)
    Y.applyUpdate(da, Y.encodeStateAsUpdate(other))
    await cluster.settle()
    assert.equal(db.getMap('m').get('imported'), true)
  })
})
