import { MonitoringSystem, MeshView, decodeSnapshot, encodeSnapshot, selectSeries, HEAP_USED_METRIC } from '../../src/monitoring/index.ts'
import type { Alert } from '../../src/monitoring/index.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { assert, waitFor } from './helpers.ts'


// the monitoring system as a tab runs it: the small metrics registry (#platform/metrics resolves
// to the browser file), the OTel SDK in the page, performance.memory where Chromium has it
describe('monitoring in a tab', function () {
  this.timeout(30_000)

  it('records metrics in the browser registry and exposes them as Prometheus text', async () => {
    const m = new MonitoringSystem({ peerId: 'tab-a', eventLoop: false })
    const c = m.metrics.counter('agentmesh_test_clicks_total', { help: 'clicks', labelNames: ['button'] })
    c.inc(1, { button: 'deploy' }); c.inc(2, { button: 'deploy' })
    m.metrics.histogram('agentmesh_test_rpc_seconds', { help: 'rpc', buckets: [0.1, 1] }).observe(0.5)
    m.collectMetrics('agentmesh_test_peers', 4)
    const text = await m.metricsText()
    assert(text.includes('# TYPE agentmesh_test_clicks_total counter'), 'counter typed in the text')
    assert(text.includes('agentmesh_test_clicks_total{button="deploy"} 3'), 'counter value in the text')
    assert(text.includes('agentmesh_test_rpc_seconds_bucket{le="1"} 1'), 'histogram bucket in the text')
    assert(text.includes('agentmesh_test_peers 4'), 'ad-hoc gauge in the text')
    const snap = await m.metricsSnapshot()
    assert(selectSeries(snap, { name: 'agentmesh_test_clicks_total' })[0]?.value === 3, 'snapshot value')
    if ((performance as { memory?: unknown }).memory != null) {
      assert((selectSeries(snap, { name: HEAP_USED_METRIC })[0]?.value ?? 0) > 0, 'heap from performance.memory')
    }
    let threw = ''
    try { m.collectMetrics('bad name', 1) } catch (err) { threw = (err as Error).name }
    assert(threw === 'InvalidArgumentError', 'typed error for a bad metric name')
    await m.stop()
  })

  it('links spans across two peers in one trace with the OTel SDK in the page', async () => {
    const a = new MonitoringSystem({ peerId: 'tab-a', eventLoop: false })
    const b = new MonitoringSystem({ peerId: 'tab-b', eventLoop: false })
    const root = a.startTrace(undefined, 'request')
    const child = b.startSpan('handle', { parent: root.traceparent(), kind: 'server' })
    child.end(); root.end()
    const [handled] = b.recentSpans()
    assert(handled.traceId === root.traceId, 'same trace id on both peers')
    assert(handled.parentSpanId === root.spanId, 'the child points at the parent span')
    assert(handled.peer === 'tab-b', 'recorded by the second peer')
    assert(a.recentSpans()[0].name === 'request', 'root recorded on the first peer')
    await a.stop(); await b.stop()
  })

  it('measures event loop lag by timer drift in the page', async () => {
    const m = new MonitoringSystem({ peerId: 'tab-a', eventLoop: { intervalMs: 20, windowSamples: 500 } })
    m.start()
    await new Promise(resolve => setTimeout(resolve, 30))
    const until = performance.now() + 150
    while (performance.now() < until) { /* block the page */ }
    await waitFor(async () => Number((await m.checkHealth('event-loop')).lagMs) >= 100, 5_000, 'the lag to show')
    await m.stop()
  })

  it('fires and resolves alerts, and carries them in snapshots a MeshView merges', async () => {
    const clock = new ManualClock(0)
    const m = new MonitoringSystem({ peerId: 'tab-a', clock, eventLoop: false })
    const fired: Alert[] = []
    m.addEventListener('alert:fired', (e) => { fired.push(e.detail) })
    let backlog = 0
    m.addRule({ name: 'backlog', kind: 'threshold', sample: () => backlog, op: '>', value: 10, forMs: 2000 })
    m.start()
    backlog = 50
    for (let i = 0; i < 3; i++) { clock.advance(1000); await m.alertsSettled() }
    assert(fired.length === 1 && fired[0].name === 'backlog', 'the rule fired once')

    const view = new MeshView({ clock })
    view.ingest(encodeSnapshot(await m.buildSnapshot()), { from: 'tab-a' })
    const seen = view.get('tab-a')
    assert(seen?.alerts[0]?.name === 'backlog', 'the snapshot carries the active alert')
    let refused = ''
    try { decodeSnapshot(new TextEncoder().encode('{"v":1')) } catch (err) { refused = (err as Error).name }
    assert(refused === 'InvalidMessageError', 'malformed snapshot refused with a typed error')
    await m.stop()
  })
})
