import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { MonitoringSystem } from '../../src/monitoring/index.ts'
import type { SpanRecord } from '../../src/monitoring/index.ts'
import { gossipLinked, startPeer, waitFor } from './broker-peers.ts'
import type { Peer } from './broker-peers.ts'

interface TracedPeer extends Peer { monitoring: MonitoringSystem }

async function tracedPeer (seed: number): Promise<TracedPeer> {
  const monitoring = new MonitoringSystem({ peerId: `traced-${seed}`, eventLoop: false })
  const peer = await startPeer(undefined, seed, undefined, false, 20, undefined, { telemetry: monitoring })
  return { ...peer, monitoring }
}

describe('MessageBroker tracing across peers', { timeout: 60_000 }, () => {
  let a: TracedPeer
  let b: TracedPeer
  let c: TracedPeer

  before(async () => {
    a = await tracedPeer(41)
    b = await tracedPeer(42)
    c = await tracedPeer(43)
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0])
    await b.libp2p.dial(c.libp2p.getMultiaddrs()[0])
  })

  after(async () => {
    for (const p of [a, b, c]) { await p.broker.stop(); await p.libp2p.stop(); await p.monitoring.stop() }
  })

  /** the one span named `name` in `trace` on peer `p` (waits for it to end) */
  async function spanOf (p: TracedPeer, trace: string, name: string): Promise<SpanRecord> {
    let found: SpanRecord[] = []
    await waitFor(() => { found = p.monitoring.recentSpans().filter(s => s.traceId === trace && s.name === name); return found.length > 0 }, 5000, `${name} on ${p.id}`)
    assert.equal(found.length, 1, `one ${name} span on ${p.id} in the trace`)
    return found[0]
  }

  it('an RPC from A to B whose handler asks C is one trace on all three, with the right parents', async () => {
    c.broker.setRequestHandler(req => ({ c: req.data }))
    b.broker.setRequestHandler(async (req) => ({ b: await b.broker.request({ kind: 'peer', id: c.id }, req.data, { traceparent: req.traceparent }) }))
    assert.deepEqual(await a.broker.request({ kind: 'peer', id: b.id }, 'hi'), { b: { c: 'hi' } })

    const aClient = a.monitoring.recentSpans().filter(s => s.name === 'rpc.request').at(-1)
    assert.ok(aClient != null)
    const trace = aClient.traceId
    assert.equal(aClient.kind, 'client')
    assert.equal(aClient.parentSpanId, undefined, 'A started the trace')
    const bServer = await spanOf(b, trace, 'rpc.handle')
    const bClient = await spanOf(b, trace, 'rpc.request')
    const cServer = await spanOf(c, trace, 'rpc.handle')
    assert.equal(bServer.kind, 'server')
    assert.equal(bServer.parentSpanId, aClient.spanId, "B's server span is a child of A's request")
    assert.equal(bClient.parentSpanId, bServer.spanId, "B's request to C runs inside its handler's span")
    assert.equal(cServer.parentSpanId, bClient.spanId, "C's server span is a child of B's request")
    // B's server span encloses its request to C
    assert.ok(bServer.start <= bClient.start && bClient.start + bClient.duration <= bServer.start + bServer.duration + 1)
  })

  it('a publication and a durable send are traced from the sender into the receiver', async () => {
    const root = a.monitoring.startTrace(undefined, 'test.root')
    const trace = root.traceId
    let delivered = false
    b.broker.subscribe('traced', () => { delivered = true })
    await waitFor(() => a.libp2p.services.pubsub.getSubscribers('agentmesh/msgtest/v1/t/traced').length > 0 && gossipLinked(a, b), 10_000, 'subscription')
    await a.broker.publishMessage('traced', 1, { traceparent: root.traceparent() })
    await waitFor(() => delivered, 10_000, 'the publication at B')
    const publish = await spanOf(a, trace, 'broker.publish')
    assert.equal(publish.parentSpanId, root.spanId)
    assert.equal((await spanOf(b, trace, 'broker.deliver')).parentSpanId, publish.spanId)

    b.broker.setMessageHandler(() => {})
    const { id } = await a.broker.send({ kind: 'peer', id: b.id }, 2, { traceparent: root.traceparent() })
    await a.broker.ensureDelivery(id, { signal: AbortSignal.timeout(10_000) })
    root.end()
    const send = await spanOf(a, trace, 'broker.send')
    assert.equal(send.parentSpanId, root.spanId)
    assert.equal((await spanOf(a, trace, 'broker.deliver-attempt')).parentSpanId, send.spanId)
    assert.equal((await spanOf(b, trace, 'broker.receive')).parentSpanId, send.spanId)
  })
})
