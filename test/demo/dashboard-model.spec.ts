/**
 * What the dashboard derives from mesh snapshots and spans: where each agent runs (also mid-
 * migration), whose Raft view to show, partition status, message rates and latency per refresh,
 * trace waterfall order, and the relay's WebSocket URL for the self-test.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { MeshSnapshot, MetricsSnapshot, SpanRecord } from '../../src/monitoring/index.ts'
import { agentsFromSnapshots, alertsFromSnapshots, liveEdges, peerRows, raftFromSnapshots, snapshotPartition } from '../../demo/model.ts'
import type { MemberView } from '../../demo/model.ts'
import type { NodeRecord } from '../../src/network/index.ts'
import { LatencyTracker, RateTracker, tickLabel } from '../../demo/rates.ts'
import { orderTrace } from '../../demo/traces.ts'
import { wsUrlOf } from '../../demo/doctor.ts'
import { hostPortOf } from '../../src/cli/doctor.ts'

function snap (peerId: string, fields: { seq?: number, time?: number, metrics?: Record<string, number>, ext?: Record<string, unknown> } = {}): MeshSnapshot {
  return { v: 1, peerId, time: fields.time ?? 1000, seq: fields.seq ?? 1, health: { status: 'ok', components: {} }, metrics: fields.metrics ?? {}, alerts: [], ext: fields.ext ?? {} }
}

const raft = (role: string, term: number, leader: string | null, commitIndex: number): Record<string, unknown> =>
  ({ role, term, leader, commitIndex, appliedIndex: commitIndex, voters: ['a', 'b', 'c'], learners: [] })

function member (peerId: string, status: string, role: NodeRecord['role'], agents: number): MemberView {
  const record: NodeRecord = {
    peerId, mesh: 'demo', role, raft: 'none', addrs: [], capabilities: { cpu: 1, memoryMb: 64, tags: [] },
    load: { agents, cpu: 0, memoryMb: 0, rssMb: 50, eventLoopLagMs: 1 }, links: [], version: '0', incarnation: 1, seq: 1, ts: 0,
    heartbeatMs: 1000, hidden: false, ext: {}
  }
  return { peerId, status, self: peerId === 'me', record }
}

describe('dashboard model', () => {
  it('a failed peer shows 0 agents and no edges at once, not what its last record and our open link said', () => {
    const members = [member('me', 'alive', 'browser', 1), member('tab', 'failed', 'browser', 3), member('node', 'alive', 'node', 2), member('slow', 'suspect', 'browser', 4)]
    const rows = peerRows(members, [snap('node', { ext: { raft: raft('follower', 2, 'x', 5) } })], 'learner')
    assert.deepEqual(rows.map(r => [r.peerId, r.status, r.agents, r.raftRole]), [
      ['me', 'alive', 1, 'learner'], ['tab', 'failed', 0, '–'], ['node', 'alive', 2, 'follower'], ['slow', 'suspect', 4, '–']
    ])
    const edges = liveEdges([
      { from: 'me', to: 'tab', transport: 'webrtc' },
      { from: 'node', to: 'tab', transport: 'circuit-relay' },
      { from: 'me', to: 'node', transport: 'websockets' },
      { from: 'me', to: 'slow', transport: 'webrtc' }
    ], rows)
    assert.deepEqual(edges, [{ from: 'me', to: 'node', transport: 'websockets' }, { from: 'me', to: 'slow', transport: 'webrtc' }])
  })

  it('shows an alert the whole mesh raises once, naming the peers that raise it, newest first', () => {
    const alert = (name: string, message: string, firedAt: number) =>
      ({ name, severity: 'warning' as const, message, labels: {}, firedAt })
    const rows = alertsFromSnapshots([
      { ...snap('b'), alerts: [alert('node_failed', 'node_failed: 1 > 0', 20), alert('backlog', 'queue 900', 5)] },
      { ...snap('a'), alerts: [alert('node_failed', 'node_failed: 1 > 0', 30)] },
      { ...snap('c'), alerts: [alert('node_failed', 'node_failed: 2 > 0', 10)] }
    ])
    assert.deepEqual(rows.map(r => [r.name, r.message, r.peers, r.firedAt]), [
      ['node_failed', 'node_failed: 1 > 0', ['a', 'b'], 30],
      ['node_failed', 'node_failed: 2 > 0', ['c'], 10],
      ['backlog', 'queue 900', ['b'], 5]
    ])
  })

  it('places each agent on the peer hosting it at the highest epoch (mid-migration both report it)', () => {
    const agents = agentsFromSnapshots([
      snap('old', { ext: { agents: [{ id: 'c1', kind: 'counter', epoch: 3, status: 'active' }, { id: 'e1', kind: 'echo', epoch: 1, status: 'active' }] } }),
      snap('new', { ext: { agents: [{ id: 'c1', kind: 'counter', epoch: 4, status: 'activating' }, { id: 'bad', epoch: 'x' }, 'junk'] } })
    ])
    assert.deepEqual(agents, [
      { id: 'c1', kind: 'counter', epoch: 4, status: 'activating', node: 'new' },
      { id: 'e1', kind: 'echo', epoch: 1, status: 'active', node: 'old' }
    ])
    assert.deepEqual(agentsFromSnapshots([snap('p', { ext: { agents: { not: 'a list' } } })]), [])
  })

  it("shows the leader's view of the Raft group, else the newest term seen", () => {
    const view = raftFromSnapshots([
      snap('a', { ext: { raft: raft('follower', 3, 'b', 10) } }),
      snap('b', { ext: { raft: raft('leader', 3, 'b', 12) } }),
      snap('tab', { ext: { raft: raft('none', 0, null, 0) } }),
      snap('c', { ext: { raft: { role: 'follower' } } })
    ])
    assert.equal(view?.from, 'b')
    assert.equal(view?.commitIndex, 12)
    const newer = raftFromSnapshots([snap('a', { ext: { raft: raft('leader', 2, 'a', 50) } }), snap('b', { ext: { raft: raft('candidate', 4, null, 40) } })])
    assert.equal(newer?.from, 'b', 'a higher term beats a stale leader')
    assert.equal(raftFromSnapshots([snap('tab', { ext: { raft: raft('none', 0, null, 0) } })]), undefined)
  })

  it('reads the partition status peers publish', () => {
    assert.deepEqual(snapshotPartition(snap('a', { ext: { partition: { partitioned: true, reachable: ['a', 'b'], majority: false } } })),
      { partitioned: true, reachable: 2, majority: false })
    assert.equal(snapshotPartition(snap('a', { ext: { partition: { partitioned: 'yes' } } })), undefined)
    assert.equal(snapshotPartition(snap('a')), undefined)
  })
})

describe('dashboard rates', () => {
  const SENT = 'agentmesh_messaging_sent_total'

  it('turns counters in snapshots into a mesh-wide rate per second', () => {
    const r = new RateTracker()
    assert.equal(r.update([snap('a', { seq: 1, time: 0, metrics: { [SENT]: 100 } }), snap('b', { seq: 1, time: 0, metrics: { [SENT]: 0 } })], SENT), 0)
    // a: +20 in 2 s, b: +30 in 1 s
    assert.equal(r.update([snap('a', { seq: 2, time: 2000, metrics: { [SENT]: 120 } }), snap('b', { seq: 2, time: 1000, metrics: { [SENT]: 30 } })], SENT), 40)
    // the same snapshots again change nothing
    assert.equal(r.update([snap('a', { seq: 2, time: 2000, metrics: { [SENT]: 120 } }), snap('b', { seq: 2, time: 1000, metrics: { [SENT]: 30 } })], SENT), 40)
    // b restarted (counter reset): no negative rate; a left the view: its rate goes
    assert.equal(r.update([snap('b', { seq: 1, time: 3000, metrics: { [SENT]: 5 } })], SENT), 30)
    assert.equal(r.update([snap('b', { seq: 2, time: 4000, metrics: { [SENT]: 15 } })], SENT), 10)
  })

  it('gives the mean and p99 latency of the requests finished since the last reading', () => {
    const hist = (count: number, sum: number, buckets: Array<[number, number]>): MetricsSnapshot => ({
      agentmesh_rpc_latency_seconds: { name: 'agentmesh_rpc_latency_seconds', help: '', type: 'histogram', values: [{ labels: {}, count, sum, buckets }] }
    })
    const l = new LatencyTracker()
    assert.deepEqual(l.update({}), { meanMs: null, p99Ms: null })
    assert.deepEqual(l.update(hist(10, 0.05, [[0.001, 0], [0.01, 10], [0.1, 10]])), { meanMs: null, p99Ms: null })
    // 10 more requests, all between 10 and 100 ms, 0.5 s in all
    const next = l.update(hist(20, 0.55, [[0.001, 0], [0.01, 10], [0.1, 20]]))
    assert.equal(next.meanMs, 50)
    assert.ok(next.p99Ms != null && next.p99Ms > 10 && next.p99Ms <= 100, String(next.p99Ms))
    assert.deepEqual(l.update(hist(20, 0.55, [[0.001, 0], [0.01, 10], [0.1, 20]])), { meanMs: null, p99Ms: null }, 'no new requests')
  })
})

describe('dashboard chart axes', () => {
  it('labels latency ticks of a second or more in seconds, so they fit the axis', () => {
    assert.equal(tickLabel(250, ' ms'), '250 ms')
    assert.equal(tickLabel(10000, ' ms'), '10 s')
    assert.equal(tickLabel(2500, ' ms'), '2.5 s')
    assert.equal(tickLabel(4, ''), '4')
  })
})

describe('dashboard traces and self-test', () => {
  const span = (spanId: string, start: number, parentSpanId?: string): SpanRecord =>
    ({ traceId: 't', spanId, name: spanId, peer: 'p', kind: 'internal', start, duration: 1, attributes: {}, status: 'ok', ...(parentSpanId != null ? { parentSpanId } : {}) })

  it('orders a trace parent first, children by start, with depths; a span whose parent is elsewhere is a root', () => {
    const order = orderTrace([span('child2', 5, 'root'), span('grandchild', 3, 'child1'), span('root', 0), span('child1', 2, 'root'), span('remote', 1, 'on-another-peer')])
    assert.deepEqual(order.map(o => `${o.span.spanId}:${o.depth}`), ['root:0', 'child1:1', 'grandchild:2', 'child2:1', 'remote:0'])
  })

  it('finds the WebSocket URL and the host and port of relay addresses', () => {
    assert.equal(wsUrlOf('/ip4/127.0.0.1/tcp/9090/ws/p2p/12D3KooWabc'), 'ws://127.0.0.1:9090')
    assert.equal(wsUrlOf('/dns4/relay.example/tcp/443/tls/ws/p2p/12D3KooWabc'), 'wss://relay.example:443')
    assert.equal(wsUrlOf('/ip6/::1/tcp/9090/ws'), 'ws://[::1]:9090')
    assert.equal(wsUrlOf('/ip4/127.0.0.1/tcp/9090/p2p/12D3KooWabc'), undefined)
    assert.deepEqual(hostPortOf('/ip4/10.0.0.2/tcp/4001/p2p/x'), { host: '10.0.0.2', port: 4001 })
    assert.equal(hostPortOf('/p2p-circuit'), undefined)
  })
})
