/**
 * Pieces of building a mesh snapshot and the process metrics it shows: key metric values
 * summarised from the registry, trimming to the wire limit, and memory gauges.
 */
import { ARRAY_BUFFERS_METRIC, EXTERNAL_MEMORY_METRIC, HEAP_TOTAL_METRIC, HEAP_USED_METRIC, MAX_SNAPSHOT_METRICS, RESIDENT_MEMORY_METRIC } from './constants.ts'
import type { Logger } from '../util/logger.ts'
import { histogramQuantile, mergeHistogramSeries } from './metrics.ts'
import { encodeSnapshot } from './snapshot.ts'
import type { MeshSnapshot } from './snapshot.ts'
import { MessageTooLargeError } from '../errors.ts'
import type { MemoryUsage, MetricsRegistry, MetricsSnapshot } from './types.ts'

/**
 * The chosen metrics as single numbers: counters and gauges summed over their label sets;
 * histograms as `<name>:count` and `<name>:p99` over all series merged. At most MAX_SNAPSHOT_METRICS.
 */
export function keyMetricValues (metrics: MetricsSnapshot, names: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {}
  let n = 0
  for (const name of names) {
    const family = metrics[name]
    if (family == null) continue
    if (family.type === 'histogram') {
      if (n + 2 > MAX_SNAPSHOT_METRICS) continue
      const merged = mergeHistogramSeries(family.values)
      out[`${name}:count`] = merged.count
      const p99 = histogramQuantile(merged, 0.99)
      if (p99 !== undefined) out[`${name}:p99`] = p99
      n += 2
    } else if (family.values.length > 0 && n < MAX_SNAPSHOT_METRICS) {
      out[name] = family.values.reduce((sum, s) => sum + s.value, 0)
      n++
    }
  }
  return out
}

/** drops the largest extension fields until the snapshot fits the wire limit */
export function fitSnapshotToWire (snapshot: MeshSnapshot, log: Logger): MeshSnapshot {
  for (;;) {
    try {
      encodeSnapshot(snapshot)
      return snapshot
    } catch (err) {
      const names = Object.keys(snapshot.ext)
      if (!(err instanceof MessageTooLargeError) || names.length === 0) throw err
      const size = (name: string): number => JSON.stringify(snapshot.ext[name]).length
      const largest = names.reduce((a, b) => size(a) >= size(b) ? a : b)
      log.error('snapshot too large: dropping extension %s', largest)
      delete snapshot.ext[largest]
    }
  }
}

/** memory gauges for what the platform reveals, read whenever metrics are read */
export function registerMemoryMetrics (metrics: MetricsRegistry, read: () => MemoryUsage | undefined): void {
  const memory = read()
  if (memory == null) return
  const fields: Array<[keyof MemoryUsage, string, string]> = [
    ['heapUsedBytes', HEAP_USED_METRIC, 'JavaScript heap in use, bytes'],
    ['heapTotalBytes', HEAP_TOTAL_METRIC, 'JavaScript heap allocated, bytes'],
    ['residentBytes', RESIDENT_MEMORY_METRIC, 'resident set size, bytes'],
    ['externalBytes', EXTERNAL_MEMORY_METRIC, 'memory of native objects bound to JavaScript (buffers, handles), bytes'],
    ['arrayBuffersBytes', ARRAY_BUFFERS_METRIC, 'memory of ArrayBuffers and Buffers (part of external), bytes']
  ]
  for (const [field, name, help] of fields) {
    if (memory[field] == null) continue
    metrics.gauge(name, {
      help,
      collect: (gauge) => {
        const value = read()?.[field]
        if (value != null) gauge.set(value)
      }
    })
  }
}
