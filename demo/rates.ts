/**
 * Rates and latencies for the dashboard's charts, from cumulative metrics: per-peer counters in
 * mesh snapshots become a mesh-wide rate per second; this peer's RPC-latency histogram becomes the
 * mean and p99 of the requests finished since the previous reading.
 */
import type { MeshSnapshot, MetricsSnapshot } from '../src/monitoring/index.ts'
import { histogramQuantile } from '../src/monitoring/index.ts'

export const RPC_LATENCY_METRIC = 'agentmesh_rpc_latency_seconds'

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
    const family = metrics[RPC_LATENCY_METRIC]
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

/** a y-axis tick short enough for the axis: 10000 ms reads 10 s (it was cut to "0000 ms") */
export function tickLabel (value: number, unit: string): string {
  if (unit.trim() === 'ms' && Math.abs(value) >= 1000) return `${Number((value / 1000).toFixed(2))} s`
  return `${value}${unit}`
}
