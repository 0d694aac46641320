/**
 * A peer that connects is sent the docs it is to hold a few sync streams at a time. libp2p's muxer
 * aborts a connection that is sent more than 10 streams before its own side of the connection is
 * set up (yamux maxEarlyStreams), which lags on a loaded machine: one stream per doc at once (an
 * agent has two state docs, the root and its generation) cut a joining peer off, and the mesh then
 * took it for failed (test/agents/rebalance.spec.ts timed out waiting for agents to move to it).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import { MemoryStore } from '../../../src/storage/memory.ts'
import { DocReplicator, Libp2pDocTransport, type Libp2pWithPubsub } from '../../../src/consensus/crdt/index.ts'
import { MAX_SYNCS_PER_PEER } from '../../../src/consensus/crdt/constants.ts'
import { PeerSlots } from '../../../src/consensus/crdt/peer-slots.ts'

/** how long the listener's side of a new connection takes to be set up after the dialer's */
const LISTENER_UPGRADE_LAG_MS = 700
const DOCS = 20

async function createNode (upgradeLagMs = 0): Promise<Libp2pWithPubsub> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // libp2p asks the gater after the muxer is up and before the connection takes streams: a
    // slow answer stands in for a listener whose event loop is busy (the dialer's side is ready)
    connectionGater: upgradeLagMs > 0
      ? { denyInboundUpgradedConnection: async () => { await new Promise(resolve => setTimeout(resolve, upgradeLagMs)); return false } }
      : {},
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false, floodPublish: true })
    }
  }) as unknown as Libp2pWithPubsub
}

async function waitFor (pred: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

describe('a burst of syncs to a peer that just connected', () => {
  it(`reaches a listener whose side of the connection is set up late: ${DOCS} docs, the connection kept`, async () => {
    const a = await createNode()
    const b = await createNode(LISTENER_UPGRADE_LAG_MS)
    const ra = new DocReplicator({ transport: new Libp2pDocTransport(a), store: new MemoryStore() }, { mesh: 't', antiEntropyIntervalMs: 60_000 })
    const rb = new DocReplicator({ transport: new Libp2pDocTransport(b), store: new MemoryStore() }, { mesh: 't', antiEntropyIntervalMs: 60_000 })
    try {
      await ra.start(); await rb.start()
      const ids = Array.from({ length: DOCS }, (_, i) => `doc-${i}`)
      for (const id of ids) (await ra.replicateState(id, { replicas: 1 })).getMap('m').set('id', id)
      let closed = 0
      a.addEventListener('peer:disconnect', () => { closed++ })
      // a dials: its side is ready first, and its replicator syncs each doc b is to hold at once
      await a.dial(b.getMultiaddrs()[0])
      const heldByB = (): string[] => ids.filter(id => rb.docIds().includes(id) && rb.getDoc(id).getMap('m').get('id') === id)
      await waitFor(() => closed > 0 || heldByB().length === DOCS, 'b to hold every doc, or the connection to close')
      assert.equal(closed, 0, 'the connection was not aborted')
      assert.equal(heldByB().length, DOCS)
      assert.equal(a.getConnections(b.peerId).length, 1)
    } finally {
      await ra.stop(); await rb.stop()
      await a.stop(); await b.stop()
    }
  })
})

describe('PeerSlots', () => {
  it('runs at most its limit per peer, hands a freed slot to the next in line, and other peers do not wait', async () => {
    assert.ok(MAX_SYNCS_PER_PEER >= 1 && MAX_SYNCS_PER_PEER + 1 <= 10, 'room for identify and a sync burst under the muxer\'s 10 early streams')
    const slots = new PeerSlots(2)
    const r1 = await slots.acquire('p')
    const r2 = await slots.acquire('p')
    const order: number[] = []
    const third = slots.acquire('p').then(r => { order.push(3); return r })
    const fourth = slots.acquire('p').then(r => { order.push(4); return r })
    const other = await slots.acquire('q')
    assert.equal(slots.running('p'), 2)
    assert.equal(slots.waiting('p'), 2)
    r1()
    r1() // a second call gives nothing back twice
    const r3 = await third
    assert.deepEqual(order, [3])
    assert.equal(slots.running('p'), 2)
    r2()
    const r4 = await fourth
    assert.deepEqual(order, [3, 4])
    r3(); r4(); other()
    assert.equal(slots.running('p'), 0)
    assert.equal(slots.waiting('p'), 0)
  })

  it('a wait given up holds no slot: the next one in line gets it', async () => {
    const slots = new PeerSlots(1)
    const held = await slots.acquire('p')
    const controller = new AbortController()
    const abandoned = slots.acquire('p', controller.signal)
    const next = slots.acquire('p')
    controller.abort()
    await assert.rejects(abandoned, { name: 'AbortError' })
    assert.equal(slots.waiting('p'), 1)
    held()
    const r = await next
    assert.equal(slots.running('p'), 1)
    r()
    assert.equal(slots.running('p'), 0)
    await assert.rejects(slots.acquire('p', AbortSignal.abort()), { name: 'AbortError' })
    assert.throws(() => new PeerSlots(0), { name: 'InvalidArgumentError' })
  })
})
