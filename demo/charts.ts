/**
 * Message-rate and latency charts (uPlot). Rates come from every peer's snapshot counters
 * (messages sent and received, summed over the mesh); latency from this tab's own RPC-latency
 * histogram, per refresh interval (mean and p99 of the requests made in it), beside the highest
 * p99 any peer reports in its snapshot.
 */
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { MeshSnapshot, MetricsSnapshot } from '../src/monitoring/index.ts'
import { histogramQuantile } from '../src/monitoring/index.ts'

/** points kept per series (one per refresh) */
const HISTORY_POINTS = 120
const SENT = 'agentmesh_messaging_sent_total'
const RECEIVED = 'agentmesh_messaging_received_total'
const RPC = 'agentmesh_rpc_latency_seconds'

type Series = Array<number | null>

/** turns per-peer cumulative counters into a per-second rate (a restart resets a counter: no negative rates) */
export class RateTracker {
  private readonly last = new Map<string, { seq: number, time: number, value: number }>()
  private readonly rates = new Map<string, number>()

  /** takes in the snapshots and returns the mesh-wide rate of `metric` per second */
  update (snapshots: MeshSnapshot[], metric: string): number {
    const live = new Set<string>()
    for (const s of snapshots) {
      live.add(s.peerId)
      const value = s.metrics[metric]
      if (value === undefined) continue
      const prev = this.last.get(s.peerId)
      if (prev != null && s.seq === prev.seq) continue
      if (prev != null && s.time > prev.time && value >= prev.value) this.rates.set(s.peerId, (value - prev.value) / ((s.time - prev.time) / 1000))
      this.last.set(s.peerId, { seq: s.seq, time: s.time, value })
    }
    for (const id of [...this.rates.keys()]) if (!live.has(id)) { this.rates.delete(id); this.last.delete(id) }
    let sum = 0
    for (const r of this.rates.values()) sum += r
    return sum
  }
}

type Hist = { count: number, sum: number, buckets: Array<[number, number]> }

/** the requests this peer finished since the previous call: their mean and p99 latency in ms */
export class LatencyTracker {
  private prev?: Hist

  update (metrics: MetricsSnapshot): { meanMs: number | null, p99Ms: number | null } {
    const family = metrics[RPC]
    if (family == null || family.type !== 'histogram') return { meanMs: null, p99Ms: null }
    const h: Hist = { count: 0, sum: 0, buckets: [] }
    for (const v of family.values) {
      h.count += v.count
      h.sum += v.sum
      v.buckets.forEach(([le, c], i) => { h.buckets[i] = [le, (h.buckets[i]?.[1] ?? 0) + c] })
    }
    const prev = this.prev
    this.prev = h
    if (prev == null || h.count <= prev.count) return { meanMs: null, p99Ms: null }
    const delta: Hist = {
      count: h.count - prev.count,
      sum: h.sum - prev.sum,
      buckets: h.buckets.map(([le, c], i) => [le, c - (prev.buckets[i]?.[1] ?? 0)])
    }
    const p99 = histogramQuantile(delta, 0.99)
    return { meanMs: delta.sum / delta.count * 1000, p99Ms: p99 !== undefined ? p99 * 1000 : null }
  }
}

function chart (container: HTMLElement, title: string, series: Array<{ label: string, stroke: string }>, unit: string): uPlot {
  const width = Math.max(280, container.clientWidth || 420)
  return new uPlot({
    title,
    width,
    height: 160,
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{ stroke: '#58627a', grid: { stroke: '#eceef2' } }, { stroke: '#58627a', grid: { stroke: '#eceef2' }, values: (_u, ticks) => ticks.map(t => `${t}${unit}`) }],
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
    const peerP99 = snapshots.map(s => s.metrics[`${RPC}:p99`]).filter((v): v is number => v !== undefined)
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
