/**
 * Monitoring: metrics, traces, health, alerts and the mesh snapshot. The contract components code
 * against is `Telemetry` (types.ts); `MonitoringSystem` is its implementation.
 */
export * from './types.ts'
export { MonitoringSystem } from './monitoring.ts'
export { EVENT_LOOP_LAG_METRIC, HEAP_USED_METRIC, HEAP_TOTAL_METRIC, RESIDENT_MEMORY_METRIC, EXTERNAL_MEMORY_METRIC, ARRAY_BUFFERS_METRIC } from './constants.ts'
export type { MonitoringSystemInit, MonitoringEvents, SnapshotProvider, PublishSnapshot } from './monitoring.ts'
export { MetricsHub, validateMetricName, validateLabelName, histogramQuantile, mergeHistogramSeries, selectSeries } from './metrics.ts'
export type { MetricsTextSource, MetricSelector, SeriesValue, HistogramStat } from './metrics.ts'
export { MeshTracer, SpanRing } from './tracing.ts'
export type { SpanRecord, MeshTracerInit } from './tracing.ts'
export {
  formatTraceparent, parseTraceparent, tryParseTraceparent, isValidTraceId, isValidSpanId, TRACE_FLAG_SAMPLED
} from './traceparent.ts'
export type { TraceParent } from './traceparent.ts'
export { HealthChecker, overallStatus } from './health.ts'
export type { ComponentHealth, HealthReport } from './health.ts'
export { EventLoopMonitor } from './event-loop.ts'
export { AlertManager, compare, normalizeSample } from './alerts.ts'
export type {
  Alert, AlertRule, AlertSeverity, ThresholdRule, AbsenceRule, ComparisonOp, SampleSource, SampleValue, GenerateAlertOptions
} from './alerts.ts'
export {
  nodeFailedRule, noRaftLeaderRule, quorumLostRule, rpcLatencyRule, outboxBacklogRule, syncLagRule,
  histogramQuantileSource, metricSumSource
} from './rules.ts'
export type { MetricsReader } from './rules.ts'
export { encodeSnapshot, decodeSnapshot, validateSnapshot, toSnapshotAlert, isSnapshotKey } from './snapshot.ts'
export type { MeshSnapshot, SnapshotAlert, SnapshotCodecOptions } from './snapshot.ts'
export { MeshView } from './mesh-view.ts'
export type { MeshViewEvents, MeshViewInit, IngestOptions } from './mesh-view.ts'
export { TypedEventEmitter } from './events.ts'
export type { EventHandler } from './events.ts'
export * as monitoringConstants from './constants.ts'
