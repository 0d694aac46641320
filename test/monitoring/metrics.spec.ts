import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createMetricsBackend as promBackend } from '../../src/platform/metrics.node.ts'
import { createMetricsBackend as browserBackend } from '../../src/platform/metrics.browser.ts'
import { MetricsHub, MonitoringSystem, histogramQuantile, selectSeries, EVENT_LOOP_LAG_METRIC } from '../../src/monitoring/index.ts'
import type { MetricsBackend } from '../../src/monitoring/index.ts'
import { ManualClock } from '../../src/util/clock.ts'
import type { Clock } from '../../src/util/clock.ts'
import { parsePromText, sampleValue } from './prom-text.ts'

// one suite, run against both platform backends: prom-client (Node) and the small browser registry
for (const [platform, create] of [['node (prom-client)', promBackend], ['browser', browserBackend]] as Array<[string, () => MetricsBackend]>) {
  describe(`metrics registry: ${platform}`, () => {
    it('counters, gauges and histograms move with activity and show in the snapshot', async () => {
      const hub = new MetricsHub(create())
      const sent = hub.counter('agentmesh_test_messages_total', { help: 'messages sent', labelNames: ['topic'] })
      const depth = hub.gauge('agentmesh_test_queue_depth', { help: 'queue depth' })
      const lat = hub.histogram('agentmesh_test_latency_seconds', { help: 'latency', labelNames: ['method'], buckets: [0.01, 0.1, 1] })

      sent.inc(1, { topic: 'a' }); sent.inc(2, { topic: 'a' }); sent.inc(1, { topic: 'b' })
      depth.set(10); depth.inc(5); depth.dec(3)
      for (const v of [0.005, 0.05, 0.05, 0.5, 5]) lat.observe(v, { method: 'get' })

      const snap = await hub.snapshot()
      assert.deepEqual(selectSeries(snap, { name: 'agentmesh_test_messages_total', labels: { topic: 'a' } }).map(s => s.value), [3])
      assert.deepEqual(selectSeries(snap, { name: 'agentmesh_test_messages_total', labels: { topic: 'b' } }).map(s => s.value), [1])
      assert.deepEqual(selectSeries(snap, { name: 'agentmesh_test_queue_depth' }).map(s => s.value), [12])
      const h = snap.agentmesh_test_latency_seconds
      assert.equal(h.type, 'histogram')
      assert.equal(h.values.length, 1)
      const series = h.values[0]
      assert.ok('count' in series)
      assert.equal(series.count, 5)
      assert.ok(Math.abs(series.sum - 5.605) < 1e-9)
      assert.deepEqual(series.buckets, [[0.01, 1], [0.1, 3], [1, 4]])
      assert.deepEqual(series.labels, { method: 'get' })
      // the snapshot is plain JSON
      assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap)
    })

    it('a snapshot of named metrics holds those and no others, and still runs their collect callbacks', async () => {
      const hub = new MetricsHub(create())
      hub.counter('agentmesh_test_a_total', { help: 'a' }).inc(2)
      hub.counter('agentmesh_test_b_total', { help: 'b' }).inc(3)
      let collected = 0
      hub.gauge('agentmesh_test_c', { help: 'c', collect: (g) => { g.set(++collected) } })
      hub.histogram('agentmesh_test_d_seconds', { help: 'd', buckets: [1] }).observe(0.5)

      const snap = await hub.snapshot(['agentmesh_test_c', 'agentmesh_test_d_seconds', 'agentmesh_test_unknown'])
      assert.deepEqual(Object.keys(snap).sort(), ['agentmesh_test_c', 'agentmesh_test_d_seconds'])
      assert.deepEqual(selectSeries(snap, { name: 'agentmesh_test_c' }).map(s => s.value), [1])
      assert.deepEqual(selectSeries(snap, { name: 'agentmesh_test_d_seconds', stat: 'count' }).map(s => s.value), [1])
      assert.deepEqual(await hub.snapshot([]), {})
      // no names: everything, as before
      assert.deepEqual(Object.keys(await hub.snapshot()).sort(), ['agentmesh_test_a_total', 'agentmesh_test_b_total', 'agentmesh_test_c', 'agentmesh_test_d_seconds'])
    })

    it('metricsText() is valid Prometheus text with the right names, types and values', async () => {
      const hub = new MetricsHub(create())
      hub.counter('agentmesh_test_ops_total', { help: 'ops "quoted" \\ done', labelNames: ['kind'] }).inc(7, { kind: 'x"y' })
      hub.gauge('agentmesh_test_peers', { help: 'peers' }).set(3)
      const h = hub.histogram('agentmesh_test_rpc_seconds', { help: 'rpc', buckets: [0.1, 1] })
      h.observe(0.05); h.observe(0.5); h.observe(2)

      const text = await hub.metricsText()
      const families = parsePromText(text)
      assert.equal(families.get('agentmesh_test_ops_total')?.type, 'counter')
      assert.equal(families.get('agentmesh_test_peers')?.type, 'gauge')
      assert.equal(families.get('agentmesh_test_rpc_seconds')?.type, 'histogram')
      assert.equal(sampleValue(families, 'agentmesh_test_ops_total', { kind: 'x"y' }), 7)
      assert.equal(sampleValue(families, 'agentmesh_test_peers'), 3)
      assert.equal(sampleValue(families, 'agentmesh_test_rpc_seconds_bucket', { le: '0.1' }), 1)
      assert.equal(sampleValue(families, 'agentmesh_test_rpc_seconds_bucket', { le: '1' }), 2)
      assert.equal(sampleValue(families, 'agentmesh_test_rpc_seconds_bucket', { le: '+Inf' }), 3)
      assert.equal(sampleValue(families, 'agentmesh_test_rpc_seconds_count'), 3)
      assert.equal(sampleValue(families, 'agentmesh_test_rpc_seconds_sum'), 2.55)
      assert.match(hub.contentType, /^text\/plain; version=0\.0\.4/)
    })

    it('a gauge with collect() is refreshed when read', async () => {
      const hub = new MetricsHub(create())
      let depth = 1
      hub.gauge('agentmesh_test_outbox_depth', { help: 'outbox', collect: (g) => { g.set(depth) } })
      assert.equal(selectSeries(await hub.snapshot(), { name: 'agentmesh_test_outbox_depth' })[0].value, 1)
      depth = 42
      assert.equal(sampleValue(parsePromText(await hub.metricsText()), 'agentmesh_test_outbox_depth'), 42)
    })

    it('refuses bad names, bad labels and type clashes with InvalidArgumentError', async () => {
      const hub = new MetricsHub(create())
      assert.throws(() => hub.counter('1bad', { help: 'x' }), { name: 'InvalidArgumentError' })
      assert.throws(() => hub.counter('has-dash', { help: 'x' }), { name: 'InvalidArgumentError' })
      assert.throws(() => hub.gauge('agentmesh_ok', { help: 'x', labelNames: ['__reserved'] }), { name: 'InvalidArgumentError' })
      const c = hub.counter('agentmesh_test_c_total', { help: 'x', labelNames: ['a'] })
      assert.equal(hub.counter('agentmesh_test_c_total', { help: 'x', labelNames: ['a'] }), c, 'same metric on a second ask')
      assert.throws(() => hub.gauge('agentmesh_test_c_total', { help: 'x' }), { name: 'InvalidArgumentError' })
      assert.throws(() => { c.inc(1, { nope: 'x' }) }, { name: 'InvalidArgumentError' })
      assert.throws(() => { c.inc(-1) }, { name: 'InvalidArgumentError' })
    })

    it('collectMetrics records ad-hoc gauges and validates them', async () => {
      const hub = new MetricsHub(create())
      hub.collectMetrics('agentmesh_custom_temperature', 21.5, { room: 'lab' })
      hub.collectMetrics('agentmesh_custom_temperature', 22, { room: 'lab' })
      hub.collectMetrics('agentmesh_custom_temperature', 18, { room: 'hall' })
      const snap = await hub.snapshot()
      assert.equal(snap.agentmesh_custom_temperature.type, 'gauge')
      assert.deepEqual(selectSeries(snap, { name: 'agentmesh_custom_temperature', labels: { room: 'lab' } }).map(s => s.value), [22])
      assert.deepEqual(selectSeries(snap, { name: 'agentmesh_custom_temperature', labels: { room: 'hall' } }).map(s => s.value), [18])
      assert.throws(() => { hub.collectMetrics('bad name', 1) }, { name: 'InvalidArgumentError' })
      assert.throws(() => { hub.collectMetrics('agentmesh_custom_x', Number.NaN) }, { name: 'InvalidArgumentError' })
      assert.throws(() => { hub.collectMetrics('agentmesh_custom_temperature', 1, { other: 'x' }) }, { name: 'InvalidArgumentError' })
      hub.counter('agentmesh_custom_counter_total', { help: 'x' })
      assert.throws(() => { hub.collectMetrics('agentmesh_custom_counter_total', 1) }, { name: 'InvalidArgumentError' })
    })
  })
}

describe('MonitoringSystem metrics', () => {
  it('keeps each instance in its own registry and appends extra text sources', async () => {
    const a = new MonitoringSystem({ peerId: 'a', eventLoop: false, extraMetricsText: () => '# TYPE libp2p_connections gauge\nlibp2p_connections 4' })
    const b = new MonitoringSystem({ peerId: 'b', eventLoop: false })
    a.metrics.counter('agentmesh_test_shared_total', { help: 'x' }).inc(5)
    b.metrics.counter('agentmesh_test_shared_total', { help: 'x' }).inc(1)
    const fa = parsePromText(await a.metricsText())
    const fb = parsePromText(await b.metricsText())
    assert.equal(sampleValue(fa, 'agentmesh_test_shared_total'), 5)
    assert.equal(sampleValue(fb, 'agentmesh_test_shared_total'), 1)
    assert.equal(sampleValue(fa, 'libp2p_connections'), 4)
    assert.equal(sampleValue(fb, 'libp2p_connections'), undefined)
    b.addMetricsTextSource('libp2p', async () => 'libp2p_streams{protocol="/x"} 2\n')
    assert.match(await b.metricsText(), /libp2p_streams\{protocol="\/x"\} 2/)
    assert.ok((sampleValue(fa, 'agentmesh_process_heap_used_bytes') ?? 0) > 0, 'Node memory metrics present')
    // native memory beside the heap, to tell a JS leak from buffers or handles piling up
    assert.ok((sampleValue(fa, 'agentmesh_process_external_memory_bytes') ?? 0) > 0, 'external memory present')
    assert.ok((sampleValue(fa, 'agentmesh_process_array_buffers_bytes') ?? -1) >= 0, 'array buffer memory present')
    await a.stop(); await b.stop()
  })

  it('measures event loop lag by timer drift through the Clock and reports it in health', async () => {
    // a clock whose timers fire `delay` ms late, as on a busy loop
    const manual = new ManualClock(0)
    let delay = 0
    const late: Clock = {
      now: () => manual.now(),
      monotonic: () => manual.monotonic(),
      setTimeout: (fn, ms) => manual.setTimeout(fn, ms + delay),
      clearTimeout: (h) => { manual.clearTimeout(h) },
      setInterval: (fn, ms) => manual.setInterval(fn, ms),
      clearInterval: (h) => { manual.clearInterval(h) }
    }
    const m = new MonitoringSystem({ peerId: 'p', clock: late, eventLoop: { intervalMs: 100, windowSamples: 2 } })
    m.start()
    manual.advance(250)
    assert.equal((await m.checkHealth('event-loop')).status, 'ok')
    delay = 300
    manual.advance(1000)
    const lag = selectSeries(await m.metricsSnapshot(), { name: EVENT_LOOP_LAG_METRIC })[0].value
    assert.ok(Math.abs(lag - 0.3) < 1e-9, `lag ${lag}`)
    assert.equal((await m.checkHealth('event-loop')).status, 'degraded')
    delay = 1500
    manual.advance(5000)
    assert.equal((await m.checkHealth('event-loop')).status, 'down')
    // event-loop is not critical: the peer is degraded, not down
    assert.equal((await m.checkHealth()).status, 'degraded')
    delay = 0
    manual.advance(1000)
    assert.equal((await m.checkHealth()).status, 'ok')
    await m.stop()
  })

  it('sees real event loop blocking with the system clock', async () => {
    // the health check reports the largest lag of the recent window, so a poll cannot miss it
    const m = new MonitoringSystem({ peerId: 'p', eventLoop: { intervalMs: 20, windowSamples: 500 } })
    m.start()
    await new Promise<void>(resolve => { setTimeout(resolve, 30) })
    const until = performance.now() + 150
    while (performance.now() < until) { /* block the loop */ }
    const deadline = Date.now() + 5000
    let lagMs = 0
    while (Date.now() < deadline) {
      lagMs = Number((await m.checkHealth('event-loop')).lagMs)
      if (lagMs >= 100) break
      await new Promise<void>(resolve => { setTimeout(resolve, 10) })
    }
    assert.ok(lagMs >= 100, `lag ${lagMs} ms`)
    const gaugeSeen = selectSeries(await m.metricsSnapshot(), { name: EVENT_LOOP_LAG_METRIC })
    assert.equal(gaugeSeen.length, 1)
    await m.stop()
  })

  it('estimates histogram quantiles by interpolating within buckets', () => {
    const series = { count: 100, buckets: [[0.1, 50], [0.2, 90], [1, 100]] as Array<[number, number]> }
    assert.ok(Math.abs(histogramQuantile(series, 0.5)! - 0.1) < 1e-9)
    assert.ok(Math.abs(histogramQuantile(series, 0.7)! - 0.15) < 1e-9)
    assert.ok(Math.abs(histogramQuantile(series, 0.95)! - 0.6) < 1e-9)
    assert.equal(histogramQuantile({ count: 0, buckets: [[1, 0]] }, 0.99), undefined)
    assert.equal(histogramQuantile({ count: 10, buckets: [[1, 5]] }, 0.99), 1, 'beyond the last bucket: its bound')
  })
})

describe('MonitoringSystem lifecycle', () => {
  it('stop() leaves no timer behind', async () => {
    const manual = new ManualClock(0)
    const active = new Set<unknown>()
    const counting: Clock = {
      now: () => manual.now(),
      monotonic: () => manual.monotonic(),
      setTimeout: (fn, ms) => { const h = manual.setTimeout(() => { active.delete(h); fn() }, ms); active.add(h); return h },
      clearTimeout: (h) => { active.delete(h); manual.clearTimeout(h) },
      setInterval: (fn, ms) => { const h = manual.setInterval(fn, ms); active.add(h); return h },
      clearInterval: (h) => { active.delete(h); manual.clearInterval(h) }
    }
    const m = new MonitoringSystem({ peerId: 'p', clock: counting })
    m.start()
    m.startPublishing(async () => {}, 1000)
    m.registerHealthCheck('x', () => ({ status: 'ok' }))
    manual.advance(3000)
    assert.ok(active.size >= 3, `timers running: ${active.size}`)
    await m.stop()
    assert.equal(active.size, 0)
  })

  it('runs on the browser registry too (the one tabs get)', async () => {
    const m = new MonitoringSystem({ peerId: 'tab', eventLoop: false, metricsBackend: browserBackend() })
    m.metrics.histogram('agentmesh_test_rpc_seconds', { help: 'rpc' }).observe(0.2)
    m.addSnapshotMetric('agentmesh_test_rpc_seconds')
    m.collectMetrics('agentmesh_test_tabs', 2)
    const snap = await m.buildSnapshot()
    assert.equal(snap.metrics['agentmesh_test_rpc_seconds:count'], 1)
    assert.equal(sampleValue(parsePromText(await m.metricsText()), 'agentmesh_test_tabs'), 2)
    await m.stop()
  })
})
