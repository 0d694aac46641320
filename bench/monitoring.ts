/**
 * Micro-benchmark of the monitoring hot paths: the cost of a span with tracing on vs off, and of
 * a metric observation through our registry vs prom-client called directly (the baseline).
 *   node --conditions=agentmesh-source --import tsx bench/monitoring.ts [--quick]
 * Figures are ns per operation (median of 5 rounds); machine-dependent, never asserted.
 */
import * as prom from 'prom-client'
import { MonitoringSystem } from '../src/monitoring/index.ts'
import { createMetricsBackend as browserBackend } from '../src/platform/metrics.browser.ts'
import { MetricsHub, parseTraceparent } from '../src/monitoring/index.ts'

const quick = process.argv.includes('--quick')
const ROUNDS = 5
const N = quick ? 20_000 : 200_000

function measure (name: string, n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 5_000); i++) fn(i) // warm up
  const rounds: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) fn(i)
    rounds.push(Number(process.hrtime.bigint() - start) / n)
  }
  rounds.sort((a, b) => a - b)
  return rounds[Math.floor(ROUNDS / 2)]
}

interface Row { what: string, ours: number, baseline?: number, baselineName?: string }
const rows: Row[] = []

// ---------------------------------------------------------------- spans
const on = new MonitoringSystem({ peerId: 'bench-on', eventLoop: false })
const off = new MonitoringSystem({ peerId: 'bench-off', eventLoop: false, tracing: false })
const parent = on.startSpan('parent')
const wire = parent.traceparent()

const spanOn = measure('span on', N / 4, () => { const s = on.startSpan('op', { parent: wire }); s.setAttribute('k', 1); s.end() })
const spanOff = measure('span off', N, () => { const s = off.startSpan('op', { parent: wire }); s.setAttribute('k', 1); s.end() })
rows.push({ what: 'span start+attr+end, child of a traceparent', ours: spanOn, baseline: spanOff, baselineName: 'tracing off' })
const rootOn = measure('root on', N / 4, () => { on.startSpan('op').end() })
const rootOff = measure('root off', N, () => { off.startSpan('op').end() })
rows.push({ what: 'root span start+end', ours: rootOn, baseline: rootOff, baselineName: 'tracing off' })
rows.push({ what: 'traceparent() + parseTraceparent()', ours: measure('tp', N, () => { parseTraceparent(parent.traceparent()) }) })

// ---------------------------------------------------------------- metrics
const m = new MonitoringSystem({ peerId: 'bench-metrics', eventLoop: false })
const reg = new prom.Registry()
const rawCounter = new prom.Counter({ name: 'raw_total', help: 'x', labelNames: ['topic'], registers: [reg] })
const rawHist = new prom.Histogram({ name: 'raw_seconds', help: 'x', labelNames: ['method'], registers: [reg] })
const rawPlain = new prom.Counter({ name: 'raw_plain_total', help: 'x', registers: [reg] })
const counter = m.metrics.counter('agentmesh_bench_total', { help: 'x', labelNames: ['topic'] })
const plain = m.metrics.counter('agentmesh_bench_plain_total', { help: 'x' })
const hist = m.metrics.histogram('agentmesh_bench_seconds', { help: 'x', labelNames: ['method'] })
const labels = { topic: 't1' }
const hlabels = { method: 'get' }

rows.push({ what: 'counter.inc() no labels', ours: measure('c', N, () => { plain.inc() }), baseline: measure('rc', N, () => { rawPlain.inc() }), baselineName: 'prom-client direct' })
rows.push({ what: 'counter.inc(1, labels)', ours: measure('cl', N, () => { counter.inc(1, labels) }), baseline: measure('rcl', N, () => { rawCounter.inc(labels, 1) }), baselineName: 'prom-client direct' })
rows.push({ what: 'histogram.observe(v, labels)', ours: measure('h', N, (i) => { hist.observe((i % 100) / 1000, hlabels) }), baseline: measure('rh', N, (i) => { rawHist.observe(hlabels, (i % 100) / 1000) }), baselineName: 'prom-client direct' })
rows.push({ what: 'collectMetrics(name, v, labels)', ours: measure('cm', N / 4, (i) => { m.collectMetrics('agentmesh_bench_adhoc', i, labels) }) })

const browserHub = new MetricsHub(browserBackend())
const bh = browserHub.histogram('agentmesh_bench_seconds', { help: 'x', labelNames: ['method'] })
const bc = browserHub.counter('agentmesh_bench_total', { help: 'x', labelNames: ['topic'] })
rows.push({ what: 'browser registry: counter.inc(1, labels)', ours: measure('bc', N, () => { bc.inc(1, labels) }) })
rows.push({ what: 'browser registry: histogram.observe(v, labels)', ours: measure('bh', N, (i) => { bh.observe((i % 100) / 1000, hlabels) }) })

const start = process.hrtime.bigint()
const text = await m.metricsText()
const textMs = Number(process.hrtime.bigint() - start) / 1e6

// ---------------------------------------------------------------- report
const fmt = (ns: number): string => ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`
console.log(`monitoring micro-benchmark (node ${process.version}, ${N} ops x ${ROUNDS} rounds, median ns/op)`)
console.log(`${'operation'.padEnd(50)} ${'ours'.padStart(10)}   baseline`)
for (const r of rows) {
  const base = r.baseline != null ? `${fmt(r.baseline).padStart(10)} (${r.baselineName}; ratio ${(r.ours / r.baseline).toFixed(1)}x)` : ''
  console.log(`${r.what.padEnd(50)} ${fmt(r.ours).padStart(10)}   ${base}`)
}
console.log(`metricsText() of ${text.length} bytes: ${textMs.toFixed(2)} ms`)
console.log(`spans kept in the ring: ${on.recentSpans().length} (bounded)`)
await on.stop(); await off.stop(); await m.stop()
