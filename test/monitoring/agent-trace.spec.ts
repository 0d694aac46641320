/**
 * One request from peer A to an agent living on peer B is one trace: the client span on A, the
 * server span on B (its parent is A's span) and the agent's handler span under it.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createNode, type MeshNode } from '../../src/node.ts'
import { waitFor } from '../network/harness.ts'

describe('tracing a request to an agent across peers', () => {
  let relay: MeshNode
  let a: MeshNode
  let b: MeshNode

  before(async () => {
    relay = await createNode({ mesh: 'trace-agents', role: 'relay' })
    const boot = relay.libp2p.getMultiaddrs().map(x => x.toString()).filter(x => x.includes('/ws/'))
    a = await createNode({ mesh: 'trace-agents', bootstrap: boot })
    b = await createNode({ mesh: 'trace-agents', bootstrap: boot })
    await waitFor(() => [relay, a, b].every(n => n.consensus.status().leader != null), 30_000, 'a Raft leader')
  })
  after(async () => { await Promise.all([a, b, relay].map(async n => await n?.stop())) })

  it('has one trace id on both peers with the parent links right', async () => {
    // a peer advertises the kinds it hosts only while it holds its node lease
    await waitFor(() => ((a.network.member(b.peerId)?.record.ext.kinds ?? []) as string[]).includes('echo'), 15_000, 'B to offer echo')
    const placed = await a.agents.deployAgent('traced-echo', { kind: 'echo', node: b.peerId })
    assert.equal(placed.node, b.peerId)
    const root = a.monitoring.startTrace(undefined, 'test.call')
    const reply = await a.broker.request('traced-echo', { hello: 'trace' }, { timeoutMs: 15_000, traceparent: root.traceparent() })
    root.end()
    assert.deepEqual(reply, { hello: 'trace' })

    const traceId = root.traceId
    const client = a.monitoring.recentSpans(10_000).find(s => s.traceId === traceId && s.name === 'rpc.request')
    assert.ok(client != null, 'a client span on A in the trace')
    assert.equal(client.parentSpanId, root.spanId)
    let server: ReturnType<MeshNode['monitoring']['recentSpans']>[number] | undefined
    await waitFor(() => (server = b.monitoring.recentSpans(10_000).find(s => s.traceId === traceId && s.name === 'rpc.handle')) != null, 5000, 'the server span on B')
    assert.equal(server!.parentSpanId, client.spanId, 'B\'s server span is a child of A\'s client span')
    assert.equal(server!.peer, b.peerId)
    const onB = b.monitoring.recentSpans(10_000).filter(s => s.traceId === traceId)
    const handler = onB.find(s => s.parentSpanId === server!.spanId)
    assert.ok(handler != null, `the agent's work on B is under the server span (spans on B: ${onB.map(s => s.name).join(', ')})`)
  })

  it('traces Raft proposals: a KV write leaves a raft.propose span on the proposing peer', async () => {
    await a.consensus.kv.put('traced/key', 1)
    const span = a.monitoring.recentSpans(10_000).find(s => s.name === 'raft.propose' && s.attributes['agentmesh.raft.command'] === 'put')
    assert.ok(span != null, 'a raft.propose span for the put')
    assert.ok(span.duration >= 0)
  })

  it('counts a planned migration on the peer the agent left', async () => {
    await a.agents.migrateAgent('traced-echo', a.peerId)
    const text = await b.monitoring.metricsText()
    assert.match(text, /agentmesh_agent_migrations_total\{kind="echo"\} 1/)
    assert.deepEqual(await a.broker.request('traced-echo', { after: 'move' }, { timeoutMs: 15_000 }), { after: 'move' })
  })
})
