/**
 * Default alert rules, as factories over a sample source: each component registers the ones that
 * fit once its metrics exist (`monitoring.addRule(noRaftLeaderRule({ hasLeader: () => ... }))`).
 * A source is a function, so each rule is testable without the component that will feed it.
 */
import type { AlertRule, AlertSeverity, SampleSource } from './alerts.ts'
import { histogramQuantile, mergeHistogramSeries, selectSeries } from './metrics.ts'
import type { MetricSelector } from './metrics.ts'
import type { MetricsSnapshot } from './types.ts'

interface RuleOptions {
  /** rule name (defaults per factory) */
  name?: string
  severity?: AlertSeverity
}

/**
 * A node the failure detector declared failed. `failed` returns the failed peers as series
 * (`[{ labels: { peer }, value: 1 }]`) or a count; one alert per failed peer, resolved when it is back.
 */
export function nodeFailedRule (source: { failed: SampleSource }, options: RuleOptions = {}): AlertRule {
  return {
    name: options.name ?? 'node_failed',
    kind: 'threshold',
    sample: source.failed,
    op: '>',
    value: 0,
    forMs: 0,
    severity: options.severity ?? 'warning'
  }
}

/** no Raft leader known for more than `forMs` (default 10 s). `hasLeader` returns true/false. */
export function noRaftLeaderRule (source: { hasLeader: SampleSource }, options: RuleOptions & { forMs?: number } = {}): AlertRule {
  return {
    name: options.name ?? 'raft_no_leader',
    kind: 'absence',
    sample: source.hasLeader,
    op: '>',
    value: 0,
    forMs: options.forMs ?? 10_000,
    severity: options.severity ?? 'critical',
    message: 'no Raft leader: strong operations (placement, kv writes) are unavailable'
  }
}

/** this side cannot reach a Raft majority. `hasQuorum` returns true/false. */
export function quorumLostRule (source: { hasQuorum: SampleSource }, options: RuleOptions & { forMs?: number } = {}): AlertRule {
  return {
    name: options.name ?? 'raft_quorum_lost',
    kind: 'threshold',
    sample: source.hasQuorum,
    op: '==',
    value: 0,
    forMs: options.forMs ?? 5_000,
    severity: options.severity ?? 'critical',
    message: 'Raft quorum lost: this side of the mesh cannot commit'
  }
}

/** RPC latency p99 (seconds) above `boundSeconds` (default 1 s) for `forMs` (default 30 s) */
export function rpcLatencyRule (source: { p99Seconds: SampleSource }, options: RuleOptions & { boundSeconds?: number, forMs?: number } = {}): AlertRule {
  return {
    name: options.name ?? 'rpc_latency_p99_high',
    kind: 'threshold',
    sample: source.p99Seconds,
    op: '>',
    value: options.boundSeconds ?? 1,
    forMs: options.forMs ?? 30_000,
    severity: options.severity ?? 'warning'
  }
}

/** messages waiting in the durable outbox above `max` (default 1000) for `forMs` (default 30 s) */
export function outboxBacklogRule (source: { backlog: SampleSource }, options: RuleOptions & { max?: number, forMs?: number } = {}): AlertRule {
  return {
    name: options.name ?? 'outbox_backlog',
    kind: 'threshold',
    sample: source.backlog,
    op: '>',
    value: options.max ?? 1000,
    forMs: options.forMs ?? 30_000,
    severity: options.severity ?? 'warning'
  }
}

/** CRDT sync lag (seconds) above `maxSeconds` (default 10 s) for `forMs` (default 30 s) */
export function syncLagRule (source: { lagSeconds: SampleSource }, options: RuleOptions & { maxSeconds?: number, forMs?: number } = {}): AlertRule {
  return {
    name: options.name ?? 'sync_lag_high',
    kind: 'threshold',
    sample: source.lagSeconds,
    op: '>',
    value: options.maxSeconds ?? 10,
    forMs: options.forMs ?? 30_000,
    severity: options.severity ?? 'warning'
  }
}

/** reads a snapshot of the metrics named (MonitoringSystem.metricsSnapshot): a source asks for its one */
export type MetricsReader = (names: string[]) => Promise<MetricsSnapshot>

/**
 * A sample source reading a histogram quantile from a metrics snapshot, across all matching series
 * merged (e.g. the p99 of `agentmesh_rpc_latency_seconds` over every method), for rpcLatencyRule.
 */
export function histogramQuantileSource (read: MetricsReader, selector: Omit<MetricSelector, 'stat'>, q: number): SampleSource {
  return async () => {
    const snap = await read([selector.name])
    const family = snap[selector.name]
    if (family?.type !== 'histogram') return undefined
    const want = Object.entries(selector.labels ?? {}).map(([k, v]) => [k, String(v)] as const)
    return histogramQuantile(mergeHistogramSeries(family.values.filter(s => want.every(([k, v]) => s.labels[k] === v))), q)
  }
}

/** a sample source reading the sum of a counter or gauge's matching series (undefined when absent) */
export function metricSumSource (read: MetricsReader, selector: MetricSelector): SampleSource {
  return async () => {
    const series = selectSeries(await read([selector.name]), selector)
    return series.length === 0 ? undefined : series.reduce((sum, s) => sum + s.value, 0)
  }
}
