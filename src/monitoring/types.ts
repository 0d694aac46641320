/**
 * The monitoring contract every component reports into. MonitoringSystem (this folder) is the
 * real implementation; components receive it through their components interface.
 */

export type Labels = Record<string, string | number>

export interface Counter {
  inc: (value?: number, labels?: Labels) => void
}

export interface Gauge {
  set: (value: number, labels?: Labels) => void
  inc: (value?: number, labels?: Labels) => void
  dec: (value?: number, labels?: Labels) => void
  /**
   * forgets the series with exactly these labels (the document closed, the peer left), so label
   * sets of things that are gone do not pile up for the life of the process. Optional: test
   * doubles may leave it out
   */
  remove?: (labels: Labels) => void
}

export interface Histogram {
  observe: (value: number, labels?: Labels) => void
  /** starts a timer; calling the result observes the elapsed seconds */
  startTimer: (labels?: Labels) => () => number
}

export interface MetricOptions {
  help: string
  labelNames?: string[]
}

export interface HistogramOptions extends MetricOptions {
  /** bucket upper bounds, in the metric's unit (seconds for *_seconds) */
  buckets?: number[]
}

export interface GaugeOptions extends MetricOptions {
  /** called when metrics are read, to refresh the value (e.g. queue depth) */
  collect?: (gauge: Gauge) => void
}

/** Metric names are `agentmesh_<component>_<what>[_unit]`, e.g. `agentmesh_rpc_latency_seconds`. */
export interface MetricsRegistry {
  counter: (name: string, options: MetricOptions) => Counter
  gauge: (name: string, options: GaugeOptions) => Gauge
  histogram: (name: string, options: HistogramOptions) => Histogram
}

export type SpanKind = 'internal' | 'client' | 'server' | 'producer' | 'consumer'

export interface StartSpanOptions {
  /** W3C traceparent of the parent (from an envelope), or a parent span */
  parent?: string | Span
  kind?: SpanKind
  attributes?: Record<string, string | number | boolean>
}

export interface Span {
  readonly traceId: string
  readonly spanId: string
  /** the W3C traceparent header value for this span, to put in outgoing envelopes */
  traceparent: () => string
  setAttribute: (key: string, value: string | number | boolean) => void
  recordError: (err: unknown) => void
  end: () => void
}

export interface Tracing {
  startSpan: (name: string, options?: StartSpanOptions) => Span
}

export type HealthStatus = 'ok' | 'degraded' | 'down'

export interface HealthResult {
  status: HealthStatus
  /** short human-readable reason when not ok */
  detail?: string
  [key: string]: unknown
}

export type HealthCheck = () => HealthResult | Promise<HealthResult>

export interface HealthCheckOptions {
  /**
   * a critical component that is down makes the whole peer down; a non-critical one only makes it
   * degraded (default true)
   */
  critical?: boolean
}

export interface HealthRegistry {
  /** registers (or replaces) the check for a component: network, consensus, storage, event-loop, ... */
  registerHealthCheck: (component: string, check: HealthCheck, options?: HealthCheckOptions) => void
}

/** What a component needs from monitoring: metrics, spans and a place to report health. */
export interface Telemetry extends Tracing, HealthRegistry {
  metrics: MetricsRegistry
}

// ---------------------------------------------------------------------------------------------
// Metric snapshots and the backend behind the registry (prom-client in Node, a small registry in
// browsers: `#platform/metrics`). Extensions of the contract above; components only need
// MetricsRegistry.

export type MetricType = 'counter' | 'gauge' | 'histogram'

/** one labelled value of a counter or gauge */
export interface MetricSample {
  labels: Record<string, string>
  value: number
}

/** one labelled series of a histogram; `buckets` are cumulative counts per finite upper bound */
export interface HistogramSample {
  labels: Record<string, string>
  count: number
  sum: number
  buckets: Array<[le: number, count: number]>
}

export type MetricFamilySnapshot =
  | { name: string, help: string, type: 'counter' | 'gauge', values: MetricSample[] }
  | { name: string, help: string, type: 'histogram', values: HistogramSample[] }

/** every current metric value, by metric name; JSON-able */
export type MetricsSnapshot = Record<string, MetricFamilySnapshot>

/** a registry that can also be read: what `#platform/metrics` provides */
export interface MetricsBackend extends MetricsRegistry {
  /** the Prometheus text exposition of every metric */
  metricsText: () => Promise<string>
  /** the HTTP Content-Type of `metricsText()` */
  readonly contentType: string
  /** every metric's values, or only those of the metrics named (a name not registered is left out) */
  snapshot: (names?: Iterable<string>) => Promise<MetricsSnapshot>
}

/** process memory as far as the platform reveals it (bytes); absent fields are unknown */
export interface MemoryUsage {
  heapUsedBytes?: number
  heapTotalBytes?: number
  residentBytes?: number
  /** memory of C++ objects bound to JS objects (Node: Buffers, ArrayBuffers, native handles) */
  externalBytes?: number
  /** the part of externalBytes held by ArrayBuffers and Buffers */
  arrayBuffersBytes?: number
}
