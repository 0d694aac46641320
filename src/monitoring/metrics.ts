/**
 * The metrics registry handed to components: validates names and labels, caches metrics by name
 * (asking twice for the same metric returns the same one), turns backend errors into typed errors,
 * and adds the seed's ad-hoc `collectMetrics` plus extra text sources (libp2p's own metrics).
 * The storage behind it is `#platform/metrics` (prom-client in Node, a small registry in browsers).
 */
import { InvalidArgumentError } from '../errors.ts'
import { LABEL_NAME_PATTERN, MAX_ADHOC_METRICS, MAX_LABELS_PER_METRIC, MAX_METRIC_NAME_CHARS, METRIC_NAME_PATTERN } from './constants.ts'
import type {
  Counter, Gauge, GaugeOptions, Histogram, HistogramOptions, HistogramSample, Labels, MetricOptions,
  MetricsBackend, MetricsRegistry, MetricsSnapshot, MetricType
} from './types.ts'

/** a source of extra Prometheus text appended to metricsText(), e.g. libp2p's metrics */
export type MetricsTextSource = () => string | Promise<string>

export function validateMetricName (name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_METRIC_NAME_CHARS || !METRIC_NAME_PATTERN.test(name)) {
    throw new InvalidArgumentError(`invalid metric name ${JSON.stringify(name)}: must match ${METRIC_NAME_PATTERN.source}`, { details: { name } })
  }
  return name
}

export function validateLabelName (name: unknown): string {
  if (typeof name !== 'string' || !LABEL_NAME_PATTERN.test(name) || name.startsWith('__') || name === 'le' || name === 'quantile') {
    throw new InvalidArgumentError(`invalid label name ${JSON.stringify(name)}`, { details: { name } })
  }
  return name
}

function validateLabelNames (names: string[] | undefined): string[] {
  const list = names ?? []
  if (list.length > MAX_LABELS_PER_METRIC) throw new InvalidArgumentError(`at most ${MAX_LABELS_PER_METRIC} labels per metric`)
  for (const n of list) validateLabelName(n)
  if (new Set(list).size !== list.length) throw new InvalidArgumentError('duplicate label names')
  return list
}

function typed<A extends unknown[], R> (metric: string, fn: (...args: A) => R): (...args: A) => R {
  return (...args: A): R => {
    try {
      return fn(...args)
    } catch (err) {
      throw new InvalidArgumentError(`metric ${metric}: ${(err as Error).message}`, { cause: err })
    }
  }
}

interface Entry { type: MetricType, labelNames: string[], metric: Counter | Gauge | Histogram }

export class MetricsHub implements MetricsRegistry {
  private readonly backend: MetricsBackend
  private readonly entries = new Map<string, Entry>()
  private readonly adhoc = new Set<string>()
  private readonly textSources = new Map<string, MetricsTextSource>()

  constructor (backend: MetricsBackend) {
    this.backend = backend
  }

  get contentType (): string {
    return this.backend.contentType
  }

  counter (name: string, options: MetricOptions): Counter {
    return this.getOrCreate(name, 'counter', options, (labelNames) => {
      const c = this.backend.counter(name, { ...options, labelNames })
      return { inc: typed(name, c.inc) }
    }) as Counter
  }

  gauge (name: string, options: GaugeOptions): Gauge {
    return this.getOrCreate(name, 'gauge', options, (labelNames) => {
      const g = this.backend.gauge(name, { ...options, labelNames })
      const remove = g.remove
      return { set: typed(name, g.set), inc: typed(name, g.inc), dec: typed(name, g.dec), ...(remove != null ? { remove: typed(name, remove) } : {}) }
    }) as Gauge
  }

  histogram (name: string, options: HistogramOptions): Histogram {
    if (options.buckets != null && (options.buckets.length === 0 || options.buckets.some(b => !Number.isFinite(b)))) {
      throw new InvalidArgumentError(`metric ${name}: buckets must be finite numbers`)
    }
    return this.getOrCreate(name, 'histogram', options, (labelNames) => {
      const h = this.backend.histogram(name, { ...options, labelNames })
      return { observe: typed(name, h.observe), startTimer: typed(name, h.startTimer) }
    }) as Histogram
  }

  /**
   * The seed's method: records an ad-hoc value as a gauge, created on first use with the given
   * label names. Throws InvalidArgumentError for a bad name, a non-finite value, labels that differ
   * from the first use, or a name already used by another metric type.
   */
  collectMetrics (metricName: string, value: number, labels?: Labels): void {
    validateMetricName(metricName)
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new InvalidArgumentError(`metric ${metricName}: value must be a finite number`, { details: { value } })
    }
    const labelNames = labels == null ? [] : Object.keys(labels).sort()
    const existing = this.entries.get(metricName)
    if (existing == null && this.adhoc.size >= MAX_ADHOC_METRICS) {
      throw new InvalidArgumentError(`too many ad-hoc metrics (max ${MAX_ADHOC_METRICS})`)
    }
    if (existing != null && labelNames.some(n => !existing.labelNames.includes(n))) {
      throw new InvalidArgumentError(`metric ${metricName}: labels ${JSON.stringify(labelNames)} are not among ${JSON.stringify(existing.labelNames)}`)
    }
    const gauge = this.gauge(metricName, { help: `ad-hoc value recorded by collectMetrics (${metricName})`, labelNames })
    if (existing == null) this.adhoc.add(metricName)
    gauge.set(value, labels)
  }

  /** adds (or replaces) a source of extra Prometheus text, appended to metricsText() */
  addTextSource (name: string, source: MetricsTextSource): void {
    this.textSources.set(name, source)
  }

  removeTextSource (name: string): void {
    this.textSources.delete(name)
  }

  /** the Prometheus text exposition: our metrics, then each extra source's text */
  async metricsText (): Promise<string> {
    const parts = [await this.backend.metricsText()]
    for (const source of this.textSources.values()) {
      const text = await source()
      if (text.length > 0) parts.push(text.endsWith('\n') ? text : text + '\n')
    }
    return parts.join('')
  }

  /** every metric's values, or only those of the metrics named */
  async snapshot (names?: Iterable<string>): Promise<MetricsSnapshot> {
    return await this.backend.snapshot(names)
  }

  private getOrCreate (name: string, type: MetricType, options: MetricOptions, create: (labelNames: string[]) => Counter | Gauge | Histogram): Counter | Gauge | Histogram {
    validateMetricName(name)
    const labelNames = validateLabelNames(options.labelNames)
    const existing = this.entries.get(name)
    if (existing != null) {
      if (existing.type !== type) throw new InvalidArgumentError(`metric ${name} is already a ${existing.type}, not a ${type}`)
      return existing.metric
    }
    let metric: Counter | Gauge | Histogram
    try {
      metric = create(labelNames)
    } catch (err) {
      throw new InvalidArgumentError(`metric ${name}: ${(err as Error).message}`, { cause: err })
    }
    this.entries.set(name, { type, labelNames, metric })
    return metric
  }
}

/** the q-quantile (0..1) of a histogram series, interpolated within its bucket as Prometheus does */
export function histogramQuantile (series: Pick<HistogramSample, 'buckets' | 'count'>, q: number): number | undefined {
  if (series.count <= 0 || series.buckets.length === 0) return undefined
  const rank = Math.min(Math.max(q, 0), 1) * series.count
  let prevLe = 0
  let prevCount = 0
  for (const [le, count] of series.buckets) {
    if (count >= rank) {
      if (count === prevCount) return le
      return prevLe + (le - prevLe) * ((rank - prevCount) / (count - prevCount))
    }
    prevLe = le
    prevCount = count
  }
  // in the +Inf bucket: the best we can say is the highest finite bound
  return series.buckets[series.buckets.length - 1][0]
}

/** several histogram series (same buckets) added together, e.g. the latency over every method */
export function mergeHistogramSeries (series: Iterable<Pick<HistogramSample, 'buckets' | 'count'>>): Pick<HistogramSample, 'buckets' | 'count'> {
  const merged = new Map<number, number>()
  let count = 0
  for (const s of series) {
    count += s.count
    for (const [le, c] of s.buckets) merged.set(le, (merged.get(le) ?? 0) + c)
  }
  return { count, buckets: [...merged].sort((a, b) => a[0] - b[0]) }
}

export type HistogramStat = 'count' | 'sum' | 'mean' | 'p50' | 'p90' | 'p95' | 'p99'

/** which series of which metric an alert rule or snapshot reads */
export interface MetricSelector {
  name: string
  /** only series whose labels include these */
  labels?: Labels
  /** for histograms: what to read (default p99) */
  stat?: HistogramStat
}

export interface SeriesValue {
  labels: Record<string, string>
  value: number
}

function histogramStat (s: HistogramSample, stat: HistogramStat): number | undefined {
  switch (stat) {
    case 'count': return s.count
    case 'sum': return s.sum
    case 'mean': return s.count > 0 ? s.sum / s.count : undefined
    case 'p50': return histogramQuantile(s, 0.5)
    case 'p90': return histogramQuantile(s, 0.9)
    case 'p95': return histogramQuantile(s, 0.95)
    case 'p99': return histogramQuantile(s, 0.99)
  }
}

/** the values of a metric's series that match the selector (empty when the metric is unknown) */
export function selectSeries (snapshot: MetricsSnapshot, selector: MetricSelector): SeriesValue[] {
  const family = snapshot[selector.name]
  if (family == null) return []
  const want = Object.entries(selector.labels ?? {}).map(([k, v]) => [k, String(v)] as const)
  const matches = (labels: Record<string, string>): boolean => want.every(([k, v]) => labels[k] === v)
  const out: SeriesValue[] = []
  if (family.type === 'histogram') {
    for (const s of family.values) {
      if (!matches(s.labels)) continue
      const value = histogramStat(s, selector.stat ?? 'p99')
      if (value !== undefined) out.push({ labels: s.labels, value })
    }
  } else {
    for (const s of family.values) if (matches(s.labels)) out.push({ labels: s.labels, value: s.value })
  }
  return out
}
