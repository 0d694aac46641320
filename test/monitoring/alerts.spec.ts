import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  MonitoringSystem, nodeFailedRule, noRaftLeaderRule, quorumLostRule, rpcLatencyRule, outboxBacklogRule, syncLagRule,
  histogramQuantileSource, metricSumSource
} from '../../src/monitoring/index.ts'
import type { Alert, SampleValue } from '../../src/monitoring/index.ts'
import { ManualClock } from '../../src/util/clock.ts'

function setup (): { m: MonitoringSystem, clock: ManualClock, fired: Alert[], resolved: Alert[], step: (ms: number) => Promise<void> } {
  const clock = new ManualClock(0)
  const m = new MonitoringSystem({ peerId: 'p1', clock, eventLoop: false, alertEvalIntervalMs: 1000 })
  const fired: Alert[] = []
  const resolved: Alert[] = []
  m.addEventListener('alert:fired', (e) => { fired.push(e.detail) })
  m.addEventListener('alert:resolved', (e) => { resolved.push(e.detail) })
  m.start()
  // one evaluation per interval: advance a second at a time and let each evaluation finish
  const step = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 1000) {
      clock.advance(1000)
      await m.alertsSettled()
    }
  }
  return { m, clock, fired, resolved, step }
}

describe('alert rules', () => {
  it('a threshold rule fires once after the condition held for the window, and resolves when it clears', async () => {
    const { m, fired, resolved, step } = setup()
    let value = 10
    m.addRule({ name: 'queue_high', kind: 'threshold', sample: () => value, op: '>', value: 100, forMs: 5000, severity: 'critical' })
    await step(3000)
    assert.equal(fired.length, 0)

    value = 500 // condition true from the evaluation at t=4 s
    await step(5000)
    assert.equal(fired.length, 0, 'not yet held for 5 s')
    await step(1000)
    assert.equal(fired.length, 1)
    assert.equal(fired[0].name, 'queue_high')
    assert.equal(fired[0].severity, 'critical')
    assert.equal(fired[0].value, 500)
    assert.equal(fired[0].firedAt, 9000)
    assert.equal(fired[0].peer, 'p1')

    value = 700
    await step(10_000)
    assert.equal(fired.length, 1, 'deduplicated while firing')
    assert.equal(m.activeAlerts().length, 1)
    assert.equal(m.activeAlerts()[0].value, 700)

    value = 50
    await step(1000)
    assert.equal(resolved.length, 1)
    assert.equal(resolved[0].id, fired[0].id)
    assert.equal(resolved[0].state, 'resolved')
    assert.equal(m.activeAlerts().length, 0)
    assert.deepEqual(m.alertHistory().map(a => a.state), ['firing', 'resolved'])

    // a condition that comes back fires a new alert, after a full window again
    value = 200
    await step(5000)
    assert.equal(fired.length, 1)
    await step(1000)
    assert.equal(fired.length, 2)
    assert.notEqual(fired[1].id, fired[0].id)
    await m.stop()
  })

  it('a condition that flaps inside the window never fires', async () => {
    const { m, fired, step } = setup()
    let value = 0
    m.addRule({ name: 'flappy', kind: 'threshold', sample: () => value, op: '>=', value: 1, forMs: 3000 })
    for (let i = 0; i < 10; i++) {
      value = i % 3 === 2 ? 0 : 1
      await step(1000)
    }
    assert.equal(fired.length, 0)
    await m.stop()
  })

  it('keeps one alert per rule and label set', async () => {
    const { m, fired, resolved, step } = setup()
    let series: SampleValue = [{ labels: { peer: 'a' }, value: 1 }, { labels: { peer: 'b' }, value: 0 }]
    m.addRule(nodeFailedRule({ failed: () => series }))
    await step(1000)
    assert.deepEqual(fired.map(a => a.labels.peer), ['a'])
    series = [{ labels: { peer: 'a' }, value: 1 }, { labels: { peer: 'b' }, value: 1 }]
    await step(3000)
    assert.deepEqual(fired.map(a => a.labels.peer), ['a', 'b'])
    series = [{ labels: { peer: 'b' }, value: 1 }] // a is back (gone from the failed list)
    await step(1000)
    assert.deepEqual(resolved.map(a => a.labels.peer), ['a'])
    assert.deepEqual(m.activeAlerts().map(a => a.labels.peer), ['b'])
    await m.stop()
  })

  it('reads a metric from the registry', async () => {
    const { m, fired, resolved, step } = setup()
    const backlog = m.metrics.gauge('agentmesh_test_outbox_backlog', { help: 'backlog', labelNames: ['dest'] })
    m.addRule({ name: 'backlog', kind: 'threshold', metric: { name: 'agentmesh_test_outbox_backlog', labels: { dest: 'x' } }, op: '>', value: 10, labels: { team: 'core' } })
    backlog.set(50, { dest: 'y' })
    await step(2000)
    assert.equal(fired.length, 0, 'other label sets are not selected')
    backlog.set(50, { dest: 'x' })
    await step(1000)
    assert.equal(fired.length, 1)
    assert.deepEqual(fired[0].labels, { team: 'core', dest: 'x' })
    backlog.set(0, { dest: 'x' })
    await step(1000)
    assert.equal(resolved.length, 1)
    await m.stop()
  })

  it('an absence rule fires when no sample arrives for the window and resolves when one does', async () => {
    const { m, fired, resolved, step } = setup()
    let heartbeat: number | undefined = 1
    m.addRule({ name: 'heartbeat_missing', kind: 'absence', sample: () => heartbeat, forMs: 3000 })
    await step(5000)
    assert.equal(fired.length, 0)
    heartbeat = undefined
    await step(2000)
    assert.equal(fired.length, 0)
    await step(1000)
    assert.equal(fired.length, 1)
    await step(5000)
    assert.equal(fired.length, 1, 'deduplicated')
    heartbeat = 1
    await step(1000)
    assert.equal(resolved.length, 1)
    assert.equal(m.activeAlerts().length, 0)
    await m.stop()
  })

  it('default rules: no Raft leader, quorum lost, RPC p99, outbox backlog, sync lag', async () => {
    const { m, fired, resolved, step } = setup()
    let hasLeader = true
    let hasQuorum = true
    let syncLag = 1
    const rpc = m.metrics.histogram('agentmesh_test_rpc_latency_seconds', { help: 'rpc', labelNames: ['method'] })
    const outbox = m.metrics.gauge('agentmesh_test_outbox_messages', { help: 'outbox', labelNames: ['dest'] })
    const read = async () => await m.metricsSnapshot()
    m.addRule(noRaftLeaderRule({ hasLeader: () => hasLeader }, { forMs: 5000 }))
    m.addRule(quorumLostRule({ hasQuorum: () => hasQuorum }, { forMs: 2000 }))
    m.addRule(rpcLatencyRule({ p99Seconds: histogramQuantileSource(read, { name: 'agentmesh_test_rpc_latency_seconds' }, 0.99) }, { boundSeconds: 0.5, forMs: 0 }))
    m.addRule(outboxBacklogRule({ backlog: metricSumSource(read, { name: 'agentmesh_test_outbox_messages' }) }, { max: 100, forMs: 0 }))
    m.addRule(syncLagRule({ lagSeconds: () => syncLag }, { maxSeconds: 10, forMs: 0 }))

    for (let i = 0; i < 100; i++) rpc.observe(0.02, { method: 'get' })
    outbox.set(60, { dest: 'a' }); outbox.set(30, { dest: 'b' })
    await step(3000)
    assert.equal(fired.length, 0)

    hasLeader = false
    hasQuorum = false
    for (let i = 0; i < 10; i++) rpc.observe(3, { method: 'put' }) // p99 now in the slow buckets
    outbox.set(80, { dest: 'b' })
    syncLag = 30
    await step(1000)
    assert.deepEqual(fired.map(a => a.name).sort(), ['outbox_backlog', 'rpc_latency_p99_high', 'sync_lag_high'])
    await step(2000)
    assert.ok(fired.some(a => a.name === 'raft_quorum_lost' && a.severity === 'critical'))
    assert.ok(!fired.some(a => a.name === 'raft_no_leader'))
    await step(3000)
    assert.ok(fired.some(a => a.name === 'raft_no_leader'))
    assert.equal(fired.length, 5)

    hasLeader = true
    hasQuorum = true
    syncLag = 0
    outbox.set(0, { dest: 'a' }); outbox.set(0, { dest: 'b' })
    await step(1000)
    assert.deepEqual(resolved.map(a => a.name).sort(), ['outbox_backlog', 'raft_no_leader', 'raft_quorum_lost', 'sync_lag_high'])
    assert.deepEqual(m.activeAlerts().map(a => a.name), ['rpc_latency_p99_high'])
    assert.equal(fired.length, 5)
    await m.stop()
  })

  it('refuses malformed rules with InvalidArgumentError', async () => {
    const { m } = setup()
    assert.throws(() => { m.addRule({ name: 'x', kind: 'threshold', op: '>', value: 1 }) }, { name: 'InvalidArgumentError' })
    assert.throws(() => { m.addRule({ name: 'bad name', kind: 'threshold', sample: () => 1, op: '>', value: 1 }) }, { name: 'InvalidArgumentError' })
    assert.throws(() => { m.addRule({ name: 'x', kind: 'threshold', sample: () => 1, op: '~' as '>', value: 1 }) }, { name: 'InvalidArgumentError' })
    assert.throws(() => { m.addRule({ name: 'x', kind: 'absence', sample: () => 1, forMs: -1 }) }, { name: 'InvalidArgumentError' })
    assert.throws(() => { m.addRule({ name: 'x', kind: 'other' } as never) }, { name: 'InvalidArgumentError' })
    await m.stop()
  })

  it('a sample that throws is logged and skipped; removing a rule resolves its alerts; stop() ends evaluation', async () => {
    const { m, clock, fired, resolved, step } = setup()
    let calls = 0
    let broken = false
    m.addRule({ name: 'r', kind: 'threshold', sample: () => { calls++; if (broken) throw new Error('x'); return 1 }, op: '>', value: 0 })
    await step(1000)
    assert.equal(fired.length, 1)
    broken = true
    await step(2000)
    assert.equal(resolved.length, 0, 'a failing sample changes nothing')
    assert.equal(m.removeRule('r'), true)
    assert.equal(resolved.length, 1)
    await m.stop()
    const before = calls
    clock.advance(10_000)
    await m.alertsSettled()
    assert.equal(calls, before)
  })
})

describe('generateAlert', () => {
  it('raises an alert event immediately, deduplicates while active, resolves by hand or by TTL', async () => {
    const { m, fired, resolved, step } = setup()
    const a = m.generateAlert('agent_crashed', 'agent c1 crashed', { severity: 'critical', labels: { agent: 'c1' } })
    assert.equal(fired.length, 1)
    assert.equal(fired[0].message, 'agent c1 crashed')
    assert.equal(a.source, 'manual')
    m.generateAlert('agent_crashed', 'agent c1 crashed again', { severity: 'critical', labels: { agent: 'c1' } })
    assert.equal(fired.length, 1)
    assert.equal(m.activeAlerts()[0].count, 2)
    assert.equal(m.activeAlerts()[0].message, 'agent c1 crashed again')
    m.generateAlert('agent_crashed', 'agent c2 crashed', { labels: { agent: 'c2' } })
    assert.equal(fired.length, 2)

    assert.equal(m.resolveAlert('agent_crashed', { agent: 'c1' }), true)
    assert.equal(resolved.length, 1)
    assert.equal(m.resolveAlert('agent_crashed', { agent: 'c1' }), false)

    m.generateAlert('short', 'expires', { ttlMs: 2000 })
    await step(2000)
    assert.ok(resolved.some(r => r.name === 'short'))
    assert.deepEqual(m.activeAlerts().map(x => x.labels.agent), ['c2'])
    assert.throws(() => m.generateAlert('', 'x'), { name: 'InvalidArgumentError' })
    assert.throws(() => m.generateAlert('x', 'x', { severity: 'loud' as 'info' }), { name: 'InvalidArgumentError' })

    const text = await m.metricsText()
    assert.match(text, /agentmesh_monitoring_alerts_fired_total\{severity="critical"\} 1/)
    await m.stop()
  })
})
