/**
 * Alerts: raised by hand (the seed's generateAlert) or by rules evaluated on an interval from the
 * Clock. A threshold rule fires when its condition has held for `forMs`; an absence rule fires when
 * no sample (or no sample meeting its condition) has been seen for `forMs`. One alert per rule and
 * label set while firing (dedup); resolved when the condition clears.
 */
import { InvalidArgumentError } from '../errors.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import {
  ALERT_EVAL_INTERVAL_MS, ALERT_HISTORY_SIZE, MANUAL_ALERT_TTL_MS, MAX_ALERT_MESSAGE_CHARS, MAX_ALERT_RULES,
  MAX_SERIES_PER_RULE
} from './constants.ts'
import { selectSeries } from './metrics.ts'
import type { MetricSelector, SeriesValue } from './metrics.ts'
import type { Labels, MetricsSnapshot } from './types.ts'

export type AlertSeverity = 'info' | 'warning' | 'critical'
export type ComparisonOp = '>' | '>=' | '<' | '<=' | '==' | '!='

/** what a sample function may return: a number, a boolean (1/0), nothing, or labelled series */
export type SampleValue = number | boolean | undefined | null | SeriesValue[]
export type SampleSource = () => SampleValue | Promise<SampleValue>

interface RuleBase {
  /** unique per MonitoringSystem; also the alert's name */
  name: string
  /** read this metric from the registry... */
  metric?: string | MetricSelector
  /** ...or call this (exactly one of the two) */
  sample?: SampleSource
  severity?: AlertSeverity
  /** added to every alert of this rule */
  labels?: Labels
  /** the alert's text; by default one is written from the rule */
  message?: string
}

export interface ThresholdRule extends RuleBase {
  kind: 'threshold'
  op: ComparisonOp
  value: number
  /** how long the condition must hold before the alert fires (default 0: at the first evaluation) */
  forMs?: number
}

export interface AbsenceRule extends RuleBase {
  kind: 'absence'
  /** optional condition a sample must meet to count as present */
  op?: ComparisonOp
  value?: number
  /** how long without a (qualifying) sample before the alert fires */
  forMs: number
}

export type AlertRule = ThresholdRule | AbsenceRule

export interface Alert {
  /** unique per occurrence */
  id: string
  name: string
  /** the peer that raised it */
  peer: string
  severity: AlertSeverity
  message: string
  labels: Record<string, string>
  state: 'firing' | 'resolved'
  source: 'rule' | 'manual'
  /** ms since the epoch */
  firedAt: number
  resolvedAt?: number
  /** the sample that fired it (rules), updated while firing */
  value?: number
  /** times it was raised while already active (manual alerts) */
  count: number
}

export interface GenerateAlertOptions {
  severity?: AlertSeverity
  labels?: Labels
  /** how long a manual alert stays active unless raised again or resolved (default MANUAL_ALERT_TTL_MS) */
  ttlMs?: number
}

export interface AlertManagerInit {
  peerId: string
  clock: Clock
  log: Logger
  /** the values of the metrics named */
  readMetrics: (names: string[]) => Promise<MetricsSnapshot>
  onFired: (alert: Alert) => void
  onResolved: (alert: Alert) => void
  evalIntervalMs?: number
  historySize?: number
}

interface SeriesState { labels: Record<string, string>, since?: number, alert?: Alert }
interface RuleState { rule: AlertRule, addedAt: number, series: Map<string, SeriesState>, lastPresent?: number, absent?: Alert }

const SEVERITIES = new Set<string>(['info', 'warning', 'critical'])
const OPS = new Set<string>(['>', '>=', '<', '<=', '==', '!='])
const NAME = /^[a-zA-Z0-9_.:/-]{1,128}$/

export function compare (a: number, op: ComparisonOp, b: number): boolean {
  switch (op) {
    case '>': return a > b
    case '>=': return a >= b
    case '<': return a < b
    case '<=': return a <= b
    case '==': return a === b
    case '!=': return a !== b
  }
}

function stringLabels (labels: Labels | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (labels != null) for (const [k, v] of Object.entries(labels)) out[k] = String(v)
  return out
}

export function labelKey (labels: Record<string, string>): string {
  return Object.keys(labels).sort().map(k => `${k}=${JSON.stringify(labels[k])}`).join(',')
}

export function normalizeSample (v: SampleValue): SeriesValue[] {
  if (v == null) return []
  if (typeof v === 'boolean') return [{ labels: {}, value: v ? 1 : 0 }]
  if (typeof v === 'number') return Number.isFinite(v) ? [{ labels: {}, value: v }] : []
  if (Array.isArray(v)) return v.filter(s => s != null && typeof s.value === 'number' && Number.isFinite(s.value)).map(s => ({ labels: stringLabels(s.labels), value: s.value }))
  return []
}

function validateRule (rule: AlertRule): void {
  if (rule == null || typeof rule !== 'object') throw new InvalidArgumentError('an alert rule must be an object')
  if (typeof rule.name !== 'string' || !NAME.test(rule.name)) throw new InvalidArgumentError(`invalid rule name ${JSON.stringify(rule.name)}`)
  if ((rule.metric == null) === (rule.sample == null)) throw new InvalidArgumentError(`rule ${rule.name}: give exactly one of metric or sample`)
  if (rule.severity != null && !SEVERITIES.has(rule.severity)) throw new InvalidArgumentError(`rule ${rule.name}: invalid severity`)
  const forMs = rule.forMs ?? 0
  if (!Number.isFinite(forMs) || forMs < 0) throw new InvalidArgumentError(`rule ${rule.name}: forMs must be >= 0`)
  if (rule.kind === 'threshold') {
    if (!OPS.has(rule.op) || !Number.isFinite(rule.value)) throw new InvalidArgumentError(`rule ${rule.name}: needs op and a finite value`)
  } else if (rule.kind === 'absence') {
    if ((rule.op == null) !== (rule.value == null)) throw new InvalidArgumentError(`rule ${rule.name}: op and value go together`)
    if (rule.op != null && (!OPS.has(rule.op) || !Number.isFinite(rule.value))) throw new InvalidArgumentError(`rule ${rule.name}: invalid condition`)
  } else {
    throw new InvalidArgumentError(`rule ${(rule as AlertRule).name}: unknown kind ${JSON.stringify((rule as { kind: unknown }).kind)}`)
  }
}

export class AlertManager {
  private readonly init: AlertManagerInit
  private readonly rules = new Map<string, RuleState>()
  private readonly manual = new Map<string, { alert: Alert, expiresAt: number }>()
  private readonly history: Alert[] = []
  private readonly historySize: number
  private timer?: TimerHandle
  private running?: Promise<void>

  constructor (init: AlertManagerInit) {
    this.init = init
    this.historySize = init.historySize ?? ALERT_HISTORY_SIZE
  }

  start (): void {
    if (this.timer != null) return
    this.timer = this.init.clock.setInterval(() => { void this.evaluate() }, this.init.evalIntervalMs ?? ALERT_EVAL_INTERVAL_MS)
  }

  stop (): void {
    this.init.clock.clearInterval(this.timer)
    this.timer = undefined
  }

  /** adds a rule, or replaces the rule of the same name (resolving what the old one had firing) */
  addRule (rule: AlertRule): void {
    validateRule(rule)
    if (this.rules.has(rule.name)) this.removeRule(rule.name)
    else if (this.rules.size >= MAX_ALERT_RULES) throw new InvalidArgumentError(`at most ${MAX_ALERT_RULES} alert rules`)
    this.rules.set(rule.name, { rule: { ...rule }, addedAt: this.init.clock.now(), series: new Map() })
  }

  /** removes a rule and resolves its firing alerts */
  removeRule (name: string): boolean {
    const state = this.rules.get(name)
    if (state == null) return false
    this.rules.delete(name)
    const now = this.init.clock.now()
    for (const s of state.series.values()) if (s.alert != null) this.resolve(s.alert, now)
    if (state.absent != null) this.resolve(state.absent, now)
    return true
  }

  ruleNames (): string[] {
    return [...this.rules.keys()]
  }

  /** the seed's method: raises an alert now; while one of the same type and labels is active it is updated, not raised again */
  generateAlert (alertType: string, message: string, options: GenerateAlertOptions = {}): Alert {
    if (typeof alertType !== 'string' || !NAME.test(alertType)) throw new InvalidArgumentError(`invalid alert type ${JSON.stringify(alertType)}`)
    if (options.severity != null && !SEVERITIES.has(options.severity)) throw new InvalidArgumentError(`invalid severity ${JSON.stringify(options.severity)}`)
    const now = this.init.clock.now()
    const labels = stringLabels(options.labels)
    const key = `${alertType}|${labelKey(labels)}`
    const expiresAt = now + (options.ttlMs ?? MANUAL_ALERT_TTL_MS)
    const active = this.manual.get(key)
    if (active != null) {
      active.alert.count++
      active.alert.message = String(message).slice(0, MAX_ALERT_MESSAGE_CHARS)
      active.expiresAt = expiresAt
      return active.alert
    }
    const alert = this.fire(alertType, options.severity ?? 'warning', String(message), labels, 'manual', now)
    this.manual.set(key, { alert, expiresAt })
    return alert
  }

  /** resolves an active manual alert; false when none matched */
  resolveAlert (alertType: string, labels?: Labels): boolean {
    const key = `${alertType}|${labelKey(stringLabels(labels))}`
    const active = this.manual.get(key)
    if (active == null) return false
    this.manual.delete(key)
    this.resolve(active.alert, this.init.clock.now())
    return true
  }

  activeAlerts (): Alert[] {
    const out: Alert[] = []
    for (const m of this.manual.values()) out.push(m.alert)
    for (const r of this.rules.values()) {
      for (const s of r.series.values()) if (s.alert != null) out.push(s.alert)
      if (r.absent != null) out.push(r.absent)
    }
    return out.sort((a, b) => a.firedAt - b.firedAt).map(a => ({ ...a, labels: { ...a.labels } }))
  }

  /** fired and resolved alerts, oldest first, at most `limit` */
  alertHistory (limit = this.historySize): Alert[] {
    return this.history.slice(Math.max(0, this.history.length - limit))
  }

  /** evaluates every rule once (the interval calls this; concurrent calls share one run) */
  async evaluate (): Promise<void> {
    if (this.running != null) { await this.running; return }
    this.running = this.evaluateOnce().finally(() => { this.running = undefined })
    await this.running
  }

  /** waits for an evaluation in progress, if any */
  async settled (): Promise<void> {
    await this.running
  }

  private async evaluateOnce (): Promise<void> {
    const now = this.init.clock.now()
    let metrics: Promise<MetricsSnapshot> | undefined
    const rules = [...this.rules]
    // the metrics the rules below read, read once for all of them (and no others: reading is not free)
    const wanted = [...new Set(rules.flatMap(([, { rule }]) => rule.sample != null ? [] : [typeof rule.metric === 'string' ? rule.metric : rule.metric!.name]))]
    for (const [name, state] of rules) {
      let series: SeriesValue[]
      try {
        const rule = state.rule
        if (rule.sample != null) {
          series = normalizeSample(await rule.sample())
        } else {
          metrics ??= this.init.readMetrics(wanted)
          const selector = typeof rule.metric === 'string' ? { name: rule.metric } : rule.metric!
          series = selectSeries(await metrics, selector)
        }
      } catch (err) {
        this.init.log.error('alert rule %s: sample failed: %e', name, err)
        continue
      }
      if (this.rules.get(name) !== state) continue // removed or replaced meanwhile
      if (state.rule.kind === 'threshold') this.evaluateThreshold(state, state.rule, series, now)
      else this.evaluateAbsence(state, state.rule, series, now)
    }
    for (const [key, m] of this.manual) {
      if (m.expiresAt <= now) {
        this.manual.delete(key)
        this.resolve(m.alert, now)
      }
    }
  }

  private evaluateThreshold (state: RuleState, rule: ThresholdRule, series: SeriesValue[], now: number): void {
    const seen = new Set<string>()
    const forMs = rule.forMs ?? 0
    for (const sample of series) {
      const labels = { ...stringLabels(rule.labels), ...sample.labels }
      const key = labelKey(labels)
      seen.add(key)
      let s = state.series.get(key)
      if (s == null) {
        if (state.series.size >= MAX_SERIES_PER_RULE) continue
        s = { labels }
        state.series.set(key, s)
      }
      if (compare(sample.value, rule.op, rule.value)) {
        s.since ??= now
        if (s.alert != null) s.alert.value = sample.value
        else if (now - s.since >= forMs) {
          const message = rule.message ?? `${rule.name}: ${sample.value} ${rule.op} ${rule.value}${forMs > 0 ? ` for ${forMs} ms` : ''}`
          s.alert = this.fire(rule.name, rule.severity ?? 'warning', message, labels, 'rule', now, sample.value)
        }
      } else {
        s.since = undefined
        if (s.alert != null) { this.resolve(s.alert, now); s.alert = undefined }
      }
    }
    for (const [key, s] of state.series) {
      if (seen.has(key)) continue
      if (s.alert != null) this.resolve(s.alert, now)
      state.series.delete(key)
    }
  }

  private evaluateAbsence (state: RuleState, rule: AbsenceRule, series: SeriesValue[], now: number): void {
    const present = series.some(s => rule.op == null || compare(s.value, rule.op, rule.value!))
    if (present) {
      state.lastPresent = now
      if (state.absent != null) { this.resolve(state.absent, now); state.absent = undefined }
      return
    }
    const since = state.lastPresent ?? state.addedAt
    if (state.absent == null && now - since >= rule.forMs) {
      const message = rule.message ?? `${rule.name}: no ${rule.op != null ? `sample ${rule.op} ${rule.value}` : 'sample'} for ${now - since} ms`
      state.absent = this.fire(rule.name, rule.severity ?? 'warning', message, stringLabels(rule.labels), 'rule', now)
    }
  }

  private fire (name: string, severity: AlertSeverity, message: string, labels: Record<string, string>, source: Alert['source'], now: number, value?: number): Alert {
    const alert: Alert = {
      id: `${name}{${labelKey(labels)}}@${now}`,
      name,
      peer: this.init.peerId,
      severity,
      message: message.slice(0, MAX_ALERT_MESSAGE_CHARS),
      labels,
      state: 'firing',
      source,
      firedAt: now,
      count: 1,
      ...(value !== undefined ? { value } : {})
    }
    this.init.log('alert fired: %s %s', alert.id, alert.message)
    this.record(alert)
    this.init.onFired({ ...alert, labels: { ...labels } })
    return alert
  }

  private resolve (alert: Alert, now: number): void {
    alert.state = 'resolved'
    alert.resolvedAt = now
    this.init.log('alert resolved: %s', alert.id)
    this.record(alert)
    this.init.onResolved({ ...alert, labels: { ...alert.labels } })
  }

  private record (alert: Alert): void {
    this.history.push({ ...alert, labels: { ...alert.labels } })
    if (this.history.length > this.historySize) this.history.splice(0, this.history.length - this.historySize)
  }
}
