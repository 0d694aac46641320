/**
 * Node metrics backend: prom-client, one Registry per MonitoringSystem (several live in one test
 * process, so the global registry is never used). Names and labels are validated by the caller
 * (src/monitoring/metrics.ts); this file only adapts prom-client to the contract.
 */
import * as prom from 'prom-client'
import type {
  Counter, Gauge, GaugeOptions, Histogram, HistogramOptions, HistogramSample, Labels,
  MemoryUsage, MetricOptions, MetricSample, MetricsBackend, MetricsSnapshot
} from '../monitoring/types.ts'

type PromLabels = Record<string, string | number>

export function createMetricsBackend (): MetricsBackend {
  return new PromMetricsBackend()
}

/** process.memoryUsage(), in bytes */
export function readMemoryUsage (): MemoryUsage | undefined {
  const m = process.memoryUsage()
  return { heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, residentBytes: m.rss, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers }
}

class PromMetricsBackend implements MetricsBackend {
  private readonly registry = new prom.Registry()

  get contentType (): string {
    return this.registry.contentType
  }

  counter (name: string, options: MetricOptions): Counter {
    const c = new prom.Counter({ name, help: options.help, labelNames: options.labelNames ?? [], registers: [this.registry] })
    return {
      inc: (value = 1, labels?: Labels) => {
        if (labels == null) c.inc(value)
        else c.inc(labels as PromLabels, value)
      }
    }
  }

  gauge (name: string, options: GaugeOptions): Gauge {
    let wrapper: Gauge | undefined
    const collect = options.collect
    const g = new prom.Gauge({
      name,
      help: options.help,
      labelNames: options.labelNames ?? [],
      registers: [this.registry],
      ...(collect != null ? { collect () { collect(wrapper!) } } : {})
    })
    wrapper = {
      set: (value, labels) => { if (labels == null) g.set(value); else g.set(labels as PromLabels, value) },
      inc: (value = 1, labels) => { if (labels == null) g.inc(value); else g.inc(labels as PromLabels, value) },
      dec: (value = 1, labels) => { if (labels == null) g.dec(value); else g.dec(labels as PromLabels, value) },
      remove: (labels) => { g.remove(labels as PromLabels) }
    }
    return wrapper
  }

  histogram (name: string, options: HistogramOptions): Histogram {
    const h = new prom.Histogram({
      name,
      help: options.help,
      labelNames: options.labelNames ?? [],
      registers: [this.registry],
      ...(options.buckets != null ? { buckets: options.buckets } : {})
    })
    return {
      observe: (value, labels) => { if (labels == null) h.observe(value); else h.observe(labels as PromLabels, value) },
      startTimer: (labels) => h.startTimer(labels as PromLabels | undefined)
    }
  }

  async metricsText (): Promise<string> {
    return await this.registry.metrics()
  }

  async snapshot (names?: Iterable<string>): Promise<MetricsSnapshot> {
    const out: MetricsSnapshot = {}
    for (const m of await this.read(names)) {
      const type = String(m.type)
      if (type === 'histogram') {
        out[m.name] = { name: m.name, help: m.help, type: 'histogram', values: histogramSamples(m.name, m.values) }
      } else if (type === 'counter' || type === 'gauge') {
        out[m.name] = {
          name: m.name,
          help: m.help,
          type,
          values: m.values.map((v): MetricSample => ({ labels: stringLabels(v.labels), value: v.value }))
        }
      }
    }
    return out
  }

  /** what prom-client says of every metric, or of the named ones only (reading all of them is not free) */
  private async read (names?: Iterable<string>): Promise<MetricJson[]> {
    if (names === undefined) return await this.registry.getMetricsAsJSON()
    const out: MetricJson[] = []
    for (const name of names) {
      const metric = this.registry.getSingleMetric(name)
      if (metric !== undefined) out.push(await metric.get() as MetricJson)
    }
    return out
  }
}

type MetricJson = Awaited<ReturnType<prom.Registry['getMetricsAsJSON']>>[number]

function stringLabels (labels: Record<string, unknown> | undefined, skip?: string): Record<string, string> {
  const out: Record<string, string> = {}
  if (labels == null) return out
  for (const [k, v] of Object.entries(labels)) {
    if (k !== skip && v !== undefined) out[k] = String(v)
  }
  return out
}

/** prom-client lists a histogram as `_bucket` (with `le`), `_sum` and `_count` values: regroup them by label set */
function histogramSamples (name: string, values: Array<{ labels: Record<string, unknown>, value: number, metricName?: string }>): HistogramSample[] {
  const series = new Map<string, HistogramSample>()
  const seriesOf = (labels: Record<string, string>): HistogramSample => {
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
    let s = series.get(key)
    if (s == null) {
      s = { labels, count: 0, sum: 0, buckets: [] }
      series.set(key, s)
    }
    return s
  }
  for (const v of values) {
    const metricName = v.metricName ?? name
    const s = seriesOf(stringLabels(v.labels, 'le'))
    if (metricName === `${name}_sum`) s.sum = v.value
    else if (metricName === `${name}_count`) s.count = v.value
    else if (metricName === `${name}_bucket`) {
      const le = Number(v.labels.le)
      if (Number.isFinite(le)) s.buckets.push([le, v.value])
    }
  }
  for (const s of series.values()) s.buckets.sort((a, b) => a[0] - b[0])
  return [...series.values()]
}
