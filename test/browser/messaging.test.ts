import { createNode, type MeshNode } from '../../src/node.ts'
import { assert, loadFixture, openPeerTab, waitFor } from './helpers.ts'

/** the MessageBroker between two tabs: pub/sub both ways, RPC, typed errors, durable sends */
describe('MessageBroker between two tabs', function () {
  this.timeout(90_000)
  let node: MeshNode
  let other: Window & { mesh?: MeshNode, meshError?: string }
  let otherId: string

  before(async () => {
    const fixture = await loadFixture()
    node = await createNode({ mesh: fixture.mesh, bootstrap: [fixture.relay] })
    other = await openPeerTab(`relay=${encodeURIComponent(fixture.relay)}&mesh=${fixture.mesh}`)
    await waitFor(() => other.mesh != null || other.meshError != null, 20_000, 'the second tab to start its node')
    assert(other.meshError == null, `second tab failed: ${other.meshError}`)
    otherId = other.mesh!.peerId
    // as in network.test.ts: the tabs find each other through the mesh, then link directly
    await waitFor(() => node.network.member(otherId)?.status === 'alive', 30_000, 'tab A to see tab B')
    await waitFor(() => node.libp2p.getConnections().some(c => c.remotePeer.toString() === otherId), 30_000, 'the tabs to connect')
  })

  after(async () => {
    await other?.mesh?.stop()
    other?.close()
    await node?.stop()
  })

  /** until `from` has an open gossipsub stream to `to` and sees it subscribed to `topic` */
  async function gossipReady (from: MeshNode, to: string, topic: string): Promise<void> {
    const full = `agentmesh/${from.options.mesh ?? ''}/v1/t/${topic}`
    await waitFor(() => from.libp2p.services.pubsub.getSubscribers(full).some(p => p.toString() === to) &&
      from.libp2p.getConnections().some(c => c.remotePeer.toString() === to && c.streams.some(s => s.direction === 'outbound' && s.protocol?.startsWith('/meshsub/') === true)),
    20_000, `${to} subscribed to ${topic}`)
  }

  it('publications reach the other tab in order, both ways', async () => {
    const gotThere: unknown[] = []
    const gotHere: unknown[] = []
    const offThere = other.mesh!.broker.subscribe('tabs', m => { gotThere.push(m.data) })
    const offHere = node.broker.subscribe('tabs-back', m => { if (m.from === otherId) gotHere.push(m.data) })
    await gossipReady(node, otherId, 'tabs')
    await gossipReady(other.mesh!, node.peerId, 'tabs-back')
    for (let i = 1; i <= 5; i++) await node.broker.publishMessage('tabs', { i })
    for (let i = 1; i <= 3; i++) await other.mesh!.broker.publishMessage('tabs-back', `b${i}`)
    await waitFor(() => gotThere.length === 5 && gotHere.length === 3, 20_000, 'every publication')
    assert(JSON.stringify(gotThere) === JSON.stringify([{ i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }, { i: 5 }]), `in order there: ${JSON.stringify(gotThere)}`)
    assert(JSON.stringify(gotHere) === '["b1","b2","b3"]', `in order here: ${JSON.stringify(gotHere)}`)
    offThere(); offHere()
  })

  it('RPC to the other tab: replies, many in flight, and typed errors', async () => {
    const OtherError = (other as unknown as { Error: ErrorConstructor }).Error
    other.mesh!.broker.setRequestHandler(req => {
      const d = req.data as { fail?: boolean, n?: number }
      // an error of the other tab's realm, as its own code would throw
      if (d.fail === true) throw Object.assign(new OtherError('no such thing'), { name: 'NotFoundError' })
      return { n: d.n, from: req.from }
    })
    const to = { kind: 'peer' as const, id: otherId }
    const one = await node.broker.request(to, { n: 1 }) as { n: number, from: string }
    assert(one.n === 1 && one.from === node.peerId, `reply ${JSON.stringify(one)}`)
    const many = await Promise.all(Array.from({ length: 50 }, async (_, n) => await node.broker.request(to, { n }) as { n: number }))
    assert(many.every((r, n) => r.n === n), 'every reply matches its request')
    let name = ''
    try { await node.broker.request(to, { fail: true }) } catch (err) { name = (err as Error).name }
    assert(name === 'NotFoundError', `the remote error keeps its name, got ${name}`)
    assert(node.broker.rpcVersionWith(otherId) === 2, 'the tabs talk RPC 2.0')
    other.mesh!.broker.setRequestHandler(undefined)
  })

  it('durable sends to the other tab are delivered in order and acked', async () => {
    const got: unknown[] = []
    other.mesh!.broker.setMessageHandler(m => { got.push(m.data) })
    const ids = []
    for (let i = 0; i < 10; i++) ids.push((await node.broker.send({ kind: 'peer', id: otherId }, i)).id)
    for (const id of ids) await node.broker.ensureDelivery(id, { signal: AbortSignal.timeout(20_000) })
    assert(JSON.stringify(got) === JSON.stringify([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), `in order: ${JSON.stringify(got)}`)
    other.mesh!.broker.setMessageHandler(undefined)
  })
})
