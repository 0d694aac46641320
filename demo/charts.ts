/**
 * Message-rate and latency charts (uPlot). Rates come from every peer's snapshot counters
 * (messages sent and received, summed over the mesh); latency from this tab's own RPC-latency
 * histogram, per refresh interval (mean and p99 of the requests made in it), beside the highest
 * p99 any peer reports in its snapshot.
 */
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { MeshSnapshot, MetricsSnapshot } from '../src/monitoring/index.ts'
import { LatencyTracker, RateTracker, RPC_LATENCY_METRIC, tickLabel } from './rates.ts'

/** points kept per series (one per refresh) */
const HISTORY_POINTS = 120
const SENT = 'agentmesh_messaging_sent_total'
const RECEIVED = 'agentmesh_messaging_received_total'

type Series = Array<number | null>

function chart (container: HTMLElement, title: string, series: Array<{ label: string, stroke: string }>, unit: string): uPlot {
  const width = Math.max(280, container.clientWidth || 420)
  return new uPlot({
    title,
    width,
    height: 160,
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{ stroke: '#58627a', grid: { stroke: '#eceef2' } }, { stroke: '#58627a', grid: { stroke: '#eceef2' }, size: 64, values: (_u, ticks) => ticks.map(t => tickLabel(t, unit)) }],
    series: [{}, ...series.map(s => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: true }))]
  }, [[], ...series.map(() => [])], container)
}

export class Charts {
  private readonly rate: uPlot
  private readonly latency: uPlot
  private readonly sent = new RateTracker()
  private readonly received = new RateTracker()
  private readonly lat = new LatencyTracker()
  private readonly data: { t: number[], sent: Series, received: Series, mean: Series, p99: Series, meshP99: Series } =
    { t: [], sent: [], received: [], mean: [], p99: [], meshP99: [] }

  constructor (rateBox: HTMLElement, latencyBox: HTMLElement) {
    this.rate = chart(rateBox, 'messages / s (whole mesh)', [{ label: 'sent', stroke: '#4fc3f7' }, { label: 'received', stroke: '#aed581' }], '')
    this.latency = chart(latencyBox, 'RPC latency', [
      { label: 'this tab mean', stroke: '#ffb74d' }, { label: 'this tab p99', stroke: '#e57373' }, { label: 'worst peer p99 (all time)', stroke: '#ba68c8' }
    ], ' ms')
  }

  update (snapshots: MeshSnapshot[], own: MetricsSnapshot, nowMs: number): void {
    const d = this.data
    d.t.push(nowMs / 1000)
    d.sent.push(this.sent.update(snapshots, SENT))
    d.received.push(this.received.update(snapshots, RECEIVED))
    const l = this.lat.update(own)
    d.mean.push(l.meanMs)
    d.p99.push(l.p99Ms)
    const peerP99 = snapshots.map(s => s.metrics[`${RPC_LATENCY_METRIC}:p99`]).filter((v): v is number => v !== undefined)
    d.meshP99.push(peerP99.length > 0 ? Math.max(...peerP99) * 1000 : null)
    for (const s of Object.values(d)) if (s.length > HISTORY_POINTS) s.shift()
    this.rate.setData([d.t, d.sent, d.received])
    this.latency.setData([d.t, d.mean, d.p99, d.meshP99])
  }

  destroy (): void {
    this.rate.destroy()
    this.latency.destroy()
  }
}
