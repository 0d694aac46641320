/**
 * MonitoringSystem: the peer's metrics, spans, health checks, alerts and mesh snapshot, behind
 * the Telemetry contract that every other component reports into. The lowest layer: it imports
 * nothing from network, messaging, consensus or agents; they feed it through metrics, health
 * checks, alert rules and snapshot providers.
 */
import { createMetricsBackend, readMemoryUsage } from '#platform/metrics'
import { InvalidArgumentError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import { systemClock } from '../util/clock.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import { componentLogger } from '../util/logger.ts'
import type { ComponentLogger, Logger } from '../util/logger.ts'
import { systemRng } from '../util/prng.ts'
import type { Rng } from '../util/prng.ts'
import { AlertManager } from './alerts.ts'
import type { Alert, AlertRule, GenerateAlertOptions } from './alerts.ts'
import { MAX_SNAPSHOT_ALERTS, MAX_SNAPSHOT_COMPONENTS, MAX_SNAPSHOT_EXTENSIONS, SNAPSHOT_PUBLISH_INTERVAL_MS } from './constants.ts'
import { EventLoopMonitor } from './event-loop.ts'
import type { EventLoopMonitorInit } from './event-loop.ts'
import { TypedEventEmitter } from './events.ts'
import { EVENT_LOOP_LAG_METRIC, HEAP_USED_METRIC } from './constants.ts'
import { HealthChecker } from './health.ts'
import type { ComponentHealth, HealthReport } from './health.ts'
import { MetricsHub, validateMetricName } from './metrics.ts'
import type { MetricsTextSource } from './metrics.ts'
import { fitSnapshotToWire, keyMetricValues, registerMemoryMetrics } from './snapshot-build.ts'
import { encodeSnapshot, isSnapshotKey, toSnapshotAlert } from './snapshot.ts'
import type { MeshSnapshot } from './snapshot.ts'
import { MeshTracer } from './tracing.ts'
import type { SpanRecord } from './tracing.ts'
import type {
  Counter, HealthCheck, HealthCheckOptions, Labels, MetricsBackend, MetricsSnapshot, Span, StartSpanOptions, Telemetry
} from './types.ts'

export interface MonitoringSystemInit {
  peerId: string
  clock?: Clock
  rng?: Rng
  logger?: ComponentLogger
  /** record spans (default true); off, spans only carry trace ids */
  tracing?: boolean
  /** finished spans kept for recentSpans() */
  spanRingSize?: number
  /** OTLP/HTTP traces endpoint (e.g. http://127.0.0.1:4318/v1/traces); no export without it */
  otlpEndpoint?: string
  otlpHeaders?: Record<string, string>
  alertEvalIntervalMs?: number
  alertHistorySize?: number
  healthCheckTimeoutMs?: number
  /** event loop sampling and health thresholds; false to turn the sampler off */
  eventLoop?: Omit<EventLoopMonitorInit, 'clock' | 'onSample'> | false
  /** metric names whose values go into the mesh snapshot (besides the built-in ones) */
  snapshotMetrics?: string[]
  /** extra Prometheus text appended to metricsText(), e.g. libp2p's own metrics */
  extraMetricsText?: MetricsTextSource
  /** the metrics storage; by default the platform's (prom-client in Node) */
  metricsBackend?: MetricsBackend
}

export interface MonitoringEvents extends Record<string, unknown> {
  'alert:fired': Alert
  'alert:resolved': Alert
  'snapshot:published': MeshSnapshot
}

export type SnapshotProvider = () => unknown | Promise<unknown>
export type PublishSnapshot = (bytes: Uint8Array, options?: AbortOptions) => Promise<void>

export class MonitoringSystem extends TypedEventEmitter<MonitoringEvents> implements Telemetry {
  readonly peerId: string
  readonly metrics: MetricsHub
  readonly clock: Clock
  private readonly log: Logger
  private readonly tracer: MeshTracer
  private readonly health: HealthChecker
  private readonly alerts: AlertManager
  private readonly eventLoop?: EventLoopMonitor
  private readonly snapshotMetrics = new Set<string>([EVENT_LOOP_LAG_METRIC, HEAP_USED_METRIC])
  private readonly providers = new Map<string, SnapshotProvider>()
  private readonly publishResults: Counter
  private readonly alertsFired: Counter
  private seq = 0
  private started = false
  private publishTimer?: TimerHandle
  private publishAbort?: AbortController
  private publishing = false

  constructor (init: MonitoringSystemInit) {
    super()
    this.peerId = init.peerId
    this.clock = init.clock ?? systemClock
    this.log = componentLogger('monitoring', init.logger)
    const rng = init.rng ?? systemRng
    this.metrics = new MetricsHub(init.metricsBackend ?? createMetricsBackend())
    if (init.extraMetricsText != null) this.metrics.addTextSource('extra', init.extraMetricsText)
    this.tracer = new MeshTracer({
      peerId: this.peerId,
      rng,
      log: this.log,
      ...(init.tracing != null ? { tracing: init.tracing } : {}),
      ...(init.spanRingSize != null ? { spanRingSize: init.spanRingSize } : {}),
      ...(init.otlpEndpoint != null ? { otlpEndpoint: init.otlpEndpoint } : {}),
      ...(init.otlpHeaders != null ? { otlpHeaders: init.otlpHeaders } : {})
    })
    this.health = new HealthChecker({
      clock: this.clock,
      log: this.log,
      ...(init.healthCheckTimeoutMs != null ? { checkTimeoutMs: init.healthCheckTimeoutMs } : {})
    })
    this.alertsFired = this.metrics.counter('agentmesh_monitoring_alerts_fired_total', { help: 'alerts fired, by severity', labelNames: ['severity'] })
    this.publishResults = this.metrics.counter('agentmesh_monitoring_snapshots_published_total', { help: 'mesh snapshot publications, by result', labelNames: ['result'] })
    this.alerts = new AlertManager({
      peerId: this.peerId,
      clock: this.clock,
      log: this.log,
      readMetrics: async (names) => await this.metrics.snapshot(names),
      onFired: (alert) => {
        this.alertsFired.inc(1, { severity: alert.severity })
        this.safeDispatchEvent('alert:fired', alert)
      },
      onResolved: (alert) => { this.safeDispatchEvent('alert:resolved', alert) },
      ...(init.alertEvalIntervalMs != null ? { evalIntervalMs: init.alertEvalIntervalMs } : {}),
      ...(init.alertHistorySize != null ? { historySize: init.alertHistorySize } : {})
    })
    for (const name of init.snapshotMetrics ?? []) this.addSnapshotMetric(name)
    registerMemoryMetrics(this.metrics, readMemoryUsage)
    if (init.eventLoop !== false) {
      const lagGauge = this.metrics.gauge(EVENT_LOOP_LAG_METRIC, { help: 'event loop lag measured by timer drift, seconds' })
      const monitor = new EventLoopMonitor({ ...(init.eventLoop ?? {}), clock: this.clock, onSample: (lagMs) => { lagGauge.set(lagMs / 1000) } })
      this.eventLoop = monitor
      this.health.registerHealthCheck('event-loop', () => monitor.health(), { critical: false })
    }
  }

  // ------------------------------------------------------------------ lifecycle

  start (): void {
    if (this.started) return
    this.started = true
    this.eventLoop?.start()
    this.alerts.start()
  }

  /** stops every timer and the publisher, flushes and shuts down span export */
  async stop (): Promise<void> {
    this.started = false
    this.stopPublishing()
    this.eventLoop?.stop()
    this.alerts.stop()
    await this.alerts.settled()
    await this.tracer.shutdown()
  }

  // ------------------------------------------------------------------ metrics

  /** the seed's method: records an ad-hoc value (a gauge made on first use) */
  collectMetrics (metricName: string, value: number, labels?: Labels): void {
    this.metrics.collectMetrics(metricName, value, labels)
  }

  /** every metric in Prometheus text format (what `GET /metrics` serves) */
  async metricsText (): Promise<string> {
    return await this.metrics.metricsText()
  }

  /** the Content-Type for metricsText() */
  get metricsContentType (): string {
    return this.metrics.contentType
  }

  /** current metric values, JSON-able: every metric's, or only those of the metrics named */
  async metricsSnapshot (names?: Iterable<string>): Promise<MetricsSnapshot> {
    return await this.metrics.snapshot(names)
  }

  /** adds a source of extra Prometheus text (libp2p's metrics, ...) under a name */
  addMetricsTextSource (name: string, source: MetricsTextSource): void {
    this.metrics.addTextSource(name, source)
  }

  // ------------------------------------------------------------------ tracing

  startSpan (name: string, options?: StartSpanOptions): Span {
    return this.tracer.startSpan(name, options)
  }

  /** the seed's method: a root span, in the given trace (32 hex) or a new one */
  startTrace (traceId: string | undefined, operation: string, options?: Omit<StartSpanOptions, 'parent'>): Span {
    return this.tracer.startTrace(traceId, operation, options)
  }

  recentSpans (limit?: number): SpanRecord[] {
    return this.tracer.recentSpans(limit)
  }

  get tracingEnabled (): boolean {
    return this.tracer.tracingEnabled
  }

  setTracing (enabled: boolean): void {
    this.tracer.setTracing(enabled)
  }

  /** sends spans waiting for OTLP export now */
  async flushTraces (): Promise<void> {
    await this.tracer.flush()
  }

  // ------------------------------------------------------------------ health

  registerHealthCheck (component: string, check: HealthCheck, options?: HealthCheckOptions): void {
    this.health.registerHealthCheck(component, check, options)
  }

  unregisterHealthCheck (component: string): void {
    this.health.unregisterHealthCheck(component)
  }

  /** one component's health (NotFoundError if unknown), or with no argument the peer's overall health */
  async checkHealth (componentId?: undefined, options?: AbortOptions): Promise<HealthReport>
  async checkHealth (componentId: string, options?: AbortOptions): Promise<ComponentHealth>
  async checkHealth (componentId?: string, options?: AbortOptions): Promise<HealthReport | ComponentHealth> {
    if (componentId != null) return await this.health.checkComponent(componentId, options)
    return await this.health.checkAll(options)
  }

  // ------------------------------------------------------------------ alerts

  /** the seed's method: raises an alert now (deduplicated while one of the same type and labels is active) */
  generateAlert (alertType: string, message: string, options?: GenerateAlertOptions): Alert {
    return this.alerts.generateAlert(alertType, message, options)
  }

  resolveAlert (alertType: string, labels?: Labels): boolean {
    return this.alerts.resolveAlert(alertType, labels)
  }

  addRule (rule: AlertRule): void {
    this.alerts.addRule(rule)
  }

  removeRule (name: string): boolean {
    return this.alerts.removeRule(name)
  }

  activeAlerts (): Alert[] {
    return this.alerts.activeAlerts()
  }

  alertHistory (limit?: number): Alert[] {
    return this.alerts.alertHistory(limit)
  }

  /** evaluates the alert rules now (the interval does this every alertEvalIntervalMs) */
  async evaluateAlerts (): Promise<void> {
    await this.alerts.evaluate()
  }

  /** waits for an alert evaluation in progress (e.g. one a ManualClock tick started) */
  async alertsSettled (): Promise<void> {
    await this.alerts.settled()
  }

  // ------------------------------------------------------------------ mesh snapshot

  /** a provider fills `ext[name]` of every snapshot ('agents', 'links', 'raft', ...) */
  registerSnapshotProvider (name: string, provider: SnapshotProvider): void {
    if (typeof name !== 'string' || !isSnapshotKey(name)) throw new InvalidArgumentError(`invalid snapshot provider name ${JSON.stringify(name)}`)
    if (typeof provider !== 'function') throw new InvalidArgumentError('a snapshot provider must be a function')
    if (!this.providers.has(name) && this.providers.size >= MAX_SNAPSHOT_EXTENSIONS) {
      throw new InvalidArgumentError(`at most ${MAX_SNAPSHOT_EXTENSIONS} snapshot providers`)
    }
    this.providers.set(name, provider)
  }

  unregisterSnapshotProvider (name: string): void {
    this.providers.delete(name)
  }

  /** puts a metric's value into every snapshot (counters and gauges summed over labels; histograms as count and p99) */
  addSnapshotMetric (name: string): void {
    validateMetricName(name)
    this.snapshotMetrics.add(name)
  }

  async buildSnapshot (options: AbortOptions = {}): Promise<MeshSnapshot> {
    const [health, metrics] = await Promise.all([this.health.checkAll(options), this.metrics.snapshot(this.snapshotMetrics)])
    const snapshot: MeshSnapshot = {
      v: 1,
      peerId: this.peerId,
      time: this.clock.now(),
      seq: ++this.seq,
      health: {
        status: health.status,
        components: Object.fromEntries(Object.entries(health.components).slice(0, MAX_SNAPSHOT_COMPONENTS).map(([k, c]) => [k, c.status]))
      },
      metrics: keyMetricValues(metrics, this.snapshotMetrics),
      alerts: this.alerts.activeAlerts().slice(-MAX_SNAPSHOT_ALERTS).map(toSnapshotAlert),
      ext: {}
    }
    for (const [name, provider] of this.providers) {
      try {
        const value = await provider()
        if (value !== undefined) snapshot.ext[name] = JSON.parse(JSON.stringify(value))
      } catch (err) {
        this.log.error('snapshot provider %s failed: %e', name, err)
      }
    }
    return fitSnapshotToWire(snapshot, this.log)
  }

  /**
   * Publishes an encoded snapshot now and then every `intervalMs`; errors are logged and counted,
   * never thrown. Replaces an earlier publisher; stopPublishing() or stop() ends it.
   */
  startPublishing (publish: PublishSnapshot, intervalMs = SNAPSHOT_PUBLISH_INTERVAL_MS): void {
    this.stopPublishing()
    const abort = new AbortController()
    this.publishAbort = abort
    const tick = async (): Promise<void> => {
      if (this.publishing || abort.signal.aborted) return
      this.publishing = true
      try {
        const snapshot = await this.buildSnapshot({ signal: abort.signal })
        if (abort.signal.aborted) return
        await publish(encodeSnapshot(snapshot), { signal: abort.signal })
        this.publishResults.inc(1, { result: 'ok' })
        this.safeDispatchEvent('snapshot:published', snapshot)
      } catch (err) {
        if (abort.signal.aborted) return
        this.publishResults.inc(1, { result: 'error' })
        this.log.error('publishing the mesh snapshot failed: %e', err)
      } finally {
        this.publishing = false
      }
    }
    this.publishTimer = this.clock.setInterval(() => { void tick() }, Math.max(1, intervalMs))
    void tick()
  }

  stopPublishing (): void {
    this.clock.clearInterval(this.publishTimer)
    this.publishTimer = undefined
    this.publishAbort?.abort()
    this.publishAbort = undefined
  }
}
