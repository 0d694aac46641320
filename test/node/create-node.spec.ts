import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createNode, type MeshNode } from '../../src/node.ts'
import { waitFor } from '../network/harness.ts'

describe('createNode wires the components of a peer', () => {
  let relay: MeshNode
  let a: MeshNode
  let b: MeshNode

  before(async () => {
    relay = await createNode({ mesh: 'compose', role: 'relay' })
    const boot = relay.libp2p.getMultiaddrs().map(x => x.toString()).filter(x => x.includes('/ws/'))
    a = await createNode({ mesh: 'compose', bootstrap: boot })
    b = await createNode({ mesh: 'compose', bootstrap: boot })
    await waitFor(() => a.network.member(b.peerId)?.status === 'alive' && b.network.member(a.peerId)?.status === 'alive', 15_000, 'a and b to see each other')
  })
  after(async () => { await Promise.all([a, b, relay].map(async n => await n?.stop())) })

  it('broker: a request from one peer is answered by a handler on the other', async () => {
    b.broker.setRequestHandler(async (req) => ({ echoed: req.data, by: b.peerId }))
    const reply = await a.broker.request({ kind: 'peer', id: b.peerId }, { hello: 'b' }, { timeoutMs: 10_000 })
    assert.deepEqual(reply, { echoed: { hello: 'b' }, by: b.peerId })
  })

  it('docs: a document edited on one peer converges on another that asks for the same id', async () => {
    const docA = await a.docs.replicateState('notes')
    const docB = await b.docs.replicateState('notes')
    docA.getMap('m').set('from-a', 1)
    docB.getMap('m').set('from-b', 2)
    await waitFor(() => docA.getMap('m').get('from-b') === 2 && docB.getMap('m').get('from-a') === 1, 15_000, 'the doc to converge')
  })

  it('stop() is idempotent and leaves the peer stopped', async () => {
    const c = await createNode({ mesh: 'compose' })
    await c.stop()
    await c.stop()
    assert.equal(c.libp2p.status, 'stopped')
  })
})
