import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { Cluster } from './harness.ts'
import { MAX_GOSSIP_MESSAGE_BYTES } from '../../../src/consensus/crdt/constants.ts'

let cluster: Cluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

/** counts what a peer publishes, by gossip type (0 update, 1 state, 2 updates) and state reason */
function countPublished (c: Cluster, id: string): { byType: Map<string, number>, largest: number } {
  const out = { byType: new Map<string, number>(), largest: 0 }
  const t = c.peer(id).transport
  const orig = t.publish.bind(t)
  t.publish = async (topic, data, o) => {
    const key = data[1] === 1 ? `state/${data[2]}` : `type/${data[1]}`
    out.byType.set(key, (out.byType.get(key) ?? 0) + 1)
    out.largest = Math.max(out.largest, data.byteLength)
    await orig(topic, data, o)
  }
  return out
}

describe('bursts of local updates', () => {
  it('10,000 edits in one turn reach every peer over gossip alone, in a few messages, with one ack per holder', async () => {
    cluster = await Cluster.create(['a', 'b', 'c', 'd'])
    const docs = []
    for (const id of ['a', 'b', 'c', 'd']) docs.push(await cluster.peer(id).replicator.replicateState('burst', { replicas: 0 }))
    await cluster.settle()
    const sent = countPublished(cluster, 'a')
    const acks = ['b', 'c', 'd'].map(id => countPublished(cluster!, id))
    const streamsBefore = cluster.net.stats.streamsOpened
    for (let i = 0; i < 10_000; i++) docs[0].getMap('m').set(`k${i}`, i)
    await cluster.settle()
    for (const d of docs) assert.equal(d.getMap('m').size, 10_000)
    assert.equal(cluster.net.stats.streamsOpened, streamsBefore, 'no sync stream was needed')
    const updateMessages = (sent.byType.get('type/0') ?? 0) + (sent.byType.get('type/2') ?? 0)
    assert.ok(updateMessages >= 2 && updateMessages <= 16, `${updateMessages} update messages`)
    assert.ok(sent.largest <= MAX_GOSSIP_MESSAGE_BYTES)
    assert.ok((sent.byType.get('state/0') ?? 0) <= 3, `the writer acked ${sent.byType.get('state/0')} times`)
    // a receiver persists each gossip message; it acks at most once per message
    for (const a of acks) assert.ok((a.byType.get('state/0') ?? 0) <= updateMessages)
  })

  it('keeps the edits of a burst in order with later single edits and concurrent writers', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const da = await cluster.peer('a').replicator.replicateState('order', { replicas: 0 })
    const db = await cluster.peer('b').replicator.replicateState('order', { replicas: 0 })
    await cluster.settle()
    for (let i = 0; i < 3000; i++) da.getArray('a').push([i])
    db.getArray('a').push(['b'])
    da.getText('t').insert(0, 'after')
    await cluster.settle()
    assert.deepEqual(db.getArray('a').toJSON(), da.getArray('a').toJSON())
    assert.equal(db.getArray('a').length, 3001)
    assert.equal(db.getText('t').toString(), 'after')
  })

  it('a burst too big for gossip is announced and pulled over the sync stream', async () => {
    cluster = await Cluster.create(['a', 'b'])
    const da = await cluster.peer('a').replicator.replicateState('big-burst', { replicas: 0 })
    const db = await cluster.peer('b').replicator.replicateState('big-burst', { replicas: 0 })
    await cluster.settle()
    const sent = countPublished(cluster, 'a')
    // 100 updates of 50 KB each: more bytes than the gossip messages a burst may use
    for (let i = 0; i < 100; i++) da.getArray('blobs').push([new Uint8Array(50_000).fill(i)])
    await cluster.until(() => db.getArray('blobs').length === 100, 5, 'pulled')
    assert.equal(sent.byType.get('type/2') ?? 0, 0)
    assert.ok((sent.byType.get('state/2') ?? 0) >= 1, 'announced')
    assert.deepEqual((db.getArray('blobs').get(99) as Uint8Array)[0], 99)
  })
})
