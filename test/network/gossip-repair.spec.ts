/**
 * gossip-repair (src/network/gossip-repair.ts): a peer that gossipsub dropped while a connection to
 * it is still open gets its publications again. Two mesh libp2p nodes on 127.0.0.1.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Message } from '@libp2p/gossipsub'
import { createMeshLibp2p, type MeshLibp2p } from '../../src/network/libp2p.ts'
import type { GossipRepair } from '../../src/network/gossip-repair.ts'
import { waitFor } from './harness.ts'

const TOPIC = 'agentmesh-test/gossip-repair'

async function startNode (): Promise<MeshLibp2p> {
  return await createMeshLibp2p({ privateKey: await generateKeyPair('Ed25519'), mesh: 'gossip-repair', role: 'node', host: '127.0.0.1', port: 0 })
}

/** publishes from `a` until `b` received a publication made after this call, or the deadline */
async function deliveredAgain (a: MeshLibp2p, received: string[], ms: number, what: string): Promise<void> {
  const marker = `after-${Math.random()}`
  let n = 0
  const end = Date.now() + ms
  while (!received.some(r => r.startsWith(marker))) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await a.services.pubsub.publish(TOPIC, new TextEncoder().encode(`${marker}-${n++}`))
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

describe('gossip repair: a peer gossipsub dropped while connected', () => {
  const nodes: MeshLibp2p[] = []
  after(async () => { await Promise.all(nodes.map(async n => { await n.stop() })) })

  /** a and b linked, both subscribed, each listing the other as a topic peer */
  async function linkedPair (): Promise<{ a: MeshLibp2p, b: MeshLibp2p, received: string[] }> {
    const a = await startNode()
    const b = await startNode()
    nodes.push(a, b)
    const received: string[] = []
    b.services.pubsub.addEventListener('message', (evt: CustomEvent<Message>) => {
      if (evt.detail.topic === TOPIC) received.push(new TextDecoder().decode(evt.detail.data))
    })
    a.services.pubsub.subscribe(TOPIC)
    b.services.pubsub.subscribe(TOPIC)
    await a.dial(b.getMultiaddrs()[0])
    await waitFor(() => a.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(b.peerId)) &&
      b.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(a.peerId)), 10_000, 'each to see the other subscribed')
    await deliveredAgain(a, received, 10_000, 'a first publication from a to b')
    return { a, b, received }
  }

  it('the older of two connections aborted: publications from the peer still arrive', async () => {
    const { a, b, received } = await linkedPair()
    const [first] = a.getConnections(b.peerId)
    // a second connection (as after a heal), then the first one aborted (the late abort)
    await b.dial(a.getMultiaddrs()[0], { force: true })
    await waitFor(() => a.getConnections(b.peerId).length >= 2, 10_000, 'a second connection')
    first.abort(new Error('the pre-cut connection timed out'))
    await waitFor(() => a.getConnections(b.peerId).length >= 1 && first.status !== 'open', 10_000, 'the first connection to close')
    await deliveredAgain(a, received, 15_000, 'a publication from a to b over the surviving connection')
    assert.ok(a.getConnections(b.peerId).some(c => c.status === 'open'), 'the surviving connection is still open')
  })

  it('gossipsub drops the peer on a stream error while the connection stays open: it is handed back', async () => {
    const { a, b, received } = await linkedPair()
    // what @libp2p/gossipsub does when a peer's inbound stream fails: it removes the whole peer
    ;(a.services.pubsub as unknown as { handlePeerReadStreamError: (err: Error, peer: unknown) => void })
      .handlePeerReadStreamError(new Error('stream reset'), b.peerId)
    assert.ok(!a.services.pubsub.getPeers().some(p => p.equals(b.peerId)), 'gossipsub dropped b')
    assert.ok(a.getConnections(b.peerId).some(c => c.status === 'open'), 'a and b are still connected')
    await deliveredAgain(a, received, 15_000, 'a publication from a to b after the repair')
    assert.ok((a.services.gossipRepair as GossipRepair).repaired >= 1, 'the repair handed b back')
  })
})
