/**
 * Browser metrics backend: prom-client needs Node modules, so tabs get this small registry with
 * the same interface (counters, gauges, histograms with labels, a snapshot and the Prometheus
 * text exposition for parity with Node peers). Names and labels are validated by the caller
 * (src/monitoring/metrics.ts).
 */
import type {
  Counter, Gauge, GaugeOptions, Histogram, HistogramOptions, HistogramSample, Labels,
  MemoryUsage, MetricOptions, MetricsBackend, MetricsSnapshot, MetricType
} from '../monitoring/types.ts'

/** prom-client's default buckets, so a histogram means the same on both platforms */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export function createMetricsBackend (): MetricsBackend {
  return new SmallMetricsBackend()
}

/** Chromium's non-standard performance.memory, when present */
export function readMemoryUsage (): MemoryUsage | undefined {
  const m = (globalThis.performance as { memory?: { usedJSHeapSize?: number, totalJSHeapSize?: number } } | undefined)?.memory
  if (m == null || typeof m.usedJSHeapSize !== 'number') return undefined
  return { heapUsedBytes: m.usedJSHeapSize, ...(typeof m.totalJSHeapSize === 'number' ? { heapTotalBytes: m.totalJSHeapSize } : {}) }
}

interface Family {
  name: string
  help: string
  type: MetricType
  labelNames: string[]
  /** counters and gauges: label key -> value */
  values: Map<string, { labels: Record<string, string>, value: number }>
  /** histograms: label key -> series */
  series: Map<string, { labels: Record<string, string>, counts: number[], count: number, sum: number }>
  buckets: number[]
  collect?: () => void
}

class SmallMetricsBackend implements MetricsBackend {
  readonly contentType = CONTENT_TYPE
  private readonly families = new Map<string, Family>()

  private family (name: string, type: MetricType, options: MetricOptions, buckets: number[] = []): Family {
    if (this.families.has(name)) throw new Error(`A metric with the name ${name} has already been registered.`)
    const f: Family = { name, help: options.help, type, labelNames: options.labelNames ?? [], values: new Map(), series: new Map(), buckets }
    this.families.set(name, f)
    return f
  }

  counter (name: string, options: MetricOptions): Counter {
    const f = this.family(name, 'counter', options)
    return {
      inc: (value = 1, labels) => {
        if (!(value >= 0)) throw new Error('It is not possible to decrease a counter')
        add(f, labels, value)
      }
    }
  }

  gauge (name: string, options: GaugeOptions): Gauge {
    const f = this.family(name, 'gauge', options)
    const gauge: Gauge = {
      set: (value, labels) => { entry(f, labels).value = value },
      inc: (value = 1, labels) => { add(f, labels, value) },
      dec: (value = 1, labels) => { add(f, labels, -value) },
      remove: (labels) => { f.values.delete(labelKey(f, labels)) }
    }
    const collect = options.collect
    if (collect != null) f.collect = () => { collect(gauge) }
    return gauge
  }

  histogram (name: string, options: HistogramOptions): Histogram {
    const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)].sort((a, b) => a - b)
    const f = this.family(name, 'histogram', options, buckets)
    const observe = (value: number, labels?: Labels): void => {
      const key = labelKey(f, labels)
      let s = f.series.get(key)
      if (s == null) {
        s = { labels: stringLabels(labels), counts: new Array<number>(buckets.length).fill(0), count: 0, sum: 0 }
        f.series.set(key, s)
      }
      for (let i = 0; i < buckets.length; i++) if (value <= buckets[i]) s.counts[i]++
      s.count++
      s.sum += value
    }
    return {
      observe,
      startTimer: (labels) => {
        const start = performance.now()
        return () => {
          const seconds = (performance.now() - start) / 1000
          observe(seconds, labels)
          return seconds
        }
      }
    }
  }

  async snapshot (names?: Iterable<string>): Promise<MetricsSnapshot> {
    const out: MetricsSnapshot = {}
    const families = names === undefined ? this.families.values() : [...names].map(n => this.families.get(n)).filter(f => f !== undefined)
    for (const f of families) {
      f.collect?.()
      if (f.type === 'histogram') {
        out[f.name] = {
          name: f.name,
          help: f.help,
          type: 'histogram',
          values: [...f.series.values()].map((s): HistogramSample => ({
            labels: { ...s.labels },
            count: s.count,
            sum: s.sum,
            buckets: f.buckets.map((le, i) => [le, s.counts[i]])
          }))
        }
      } else {
        out[f.name] = {
          name: f.name,
          help: f.help,
          type: f.type,
          values: [...f.values.values()].map(v => ({ labels: { ...v.labels }, value: v.value }))
        }
      }
    }
    return out
  }

  async metricsText (): Promise<string> {
    const snap = await this.snapshot()
    const lines: string[] = []
    for (const f of Object.values(snap)) {
      lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`)
      if (f.type === 'histogram') {
        for (const s of f.values) {
          for (const [le, count] of s.buckets) lines.push(`${f.name}_bucket${labelText({ ...s.labels, le: String(le) })} ${count}`)
          lines.push(`${f.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`)
          lines.push(`${f.name}_sum${labelText(s.labels)} ${s.sum}`, `${f.name}_count${labelText(s.labels)} ${s.count}`)
        }
      } else {
        for (const v of f.values) lines.push(`${f.name}${labelText(v.labels)} ${v.value}`)
      }
      lines.push('')
    }
    return lines.join('\n') + '\n'
  }
}

function stringLabels (labels: Labels | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (labels != null) for (const [k, v] of Object.entries(labels)) out[k] = String(v)
  return out
}

/** checks labels against the declared names (as prom-client does) and returns the series key */
function labelKey (f: Family, labels: Labels | undefined): string {
  if (labels == null) return ''
  let key = ''
  for (const k of Object.keys(labels)) {
    if (!f.labelNames.includes(k)) throw new Error(`Added label "${k}" is not included in initial labelset: ${JSON.stringify(f.labelNames)}`)
  }
  for (const k of f.labelNames) if (labels[k] !== undefined) key += `${k}\u0000${String(labels[k])}\u0001`
  return key
}

function entry (f: Family, labels: Labels | undefined): { labels: Record<string, string>, value: number } {
  const key = labelKey(f, labels)
  let e = f.values.get(key)
  if (e == null) {
    e = { labels: stringLabels(labels), value: 0 }
    f.values.set(key, e)
  }
  return e
}

function add (f: Family, labels: Labels | undefined, delta: number): void {
  entry(f, labels).value += delta
}

function escapeHelp (s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

function labelText (labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}
