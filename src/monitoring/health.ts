/**
 * Health checks per component and the peer's overall status: down if a critical component is
 * down; degraded if any component is degraded or a non-critical one is down; ok otherwise.
 * A check that throws, returns garbage, or takes longer than the timeout counts as down.
 */
import { InvalidArgumentError, NotFoundError } from '../errors.ts'
import { describeError } from '../errors.ts'
import { raceSignal } from '../util/abort.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import { HEALTH_CHECK_TIMEOUT_MS, MAX_COMPONENT_NAME_CHARS, MAX_HEALTH_DETAIL_CHARS } from './constants.ts'
import type { HealthCheck, HealthCheckOptions, HealthRegistry, HealthResult, HealthStatus } from './types.ts'

export interface ComponentHealth extends HealthResult {
  critical: boolean
}

export interface HealthReport {
  status: HealthStatus
  /** ms since the epoch, when the checks ran */
  time: number
  components: Record<string, ComponentHealth>
}

const STATUSES = new Set<string>(['ok', 'degraded', 'down'])
const COMPONENT_NAME = /^[a-zA-Z0-9_.:-]+$/

export interface HealthCheckerInit {
  clock: Clock
  log: Logger
  /** a check slower than this is down (default HEALTH_CHECK_TIMEOUT_MS) */
  checkTimeoutMs?: number
}

export class HealthChecker implements HealthRegistry {
  private readonly checks = new Map<string, { check: HealthCheck, critical: boolean }>()
  private readonly clock: Clock
  private readonly log: Logger
  private readonly timeoutMs: number

  constructor (init: HealthCheckerInit) {
    this.clock = init.clock
    this.log = init.log
    this.timeoutMs = init.checkTimeoutMs ?? HEALTH_CHECK_TIMEOUT_MS
  }

  registerHealthCheck (component: string, check: HealthCheck, options: HealthCheckOptions = {}): void {
    if (typeof component !== 'string' || component.length === 0 || component.length > MAX_COMPONENT_NAME_CHARS || !COMPONENT_NAME.test(component)) {
      throw new InvalidArgumentError(`invalid component name ${JSON.stringify(component)}`)
    }
    if (typeof check !== 'function') throw new InvalidArgumentError('a health check must be a function')
    this.checks.set(component, { check, critical: options.critical ?? true })
  }

  unregisterHealthCheck (component: string): void {
    this.checks.delete(component)
  }

  components (): string[] {
    return [...this.checks.keys()]
  }

  /** runs one component's check; NotFoundError for an unknown component */
  async checkComponent (component: string, options: AbortOptions = {}): Promise<ComponentHealth> {
    const entry = this.checks.get(component)
    if (entry == null) throw new NotFoundError(`no health check for component ${JSON.stringify(component)}`)
    const result = await this.runCheck(component, entry.check, options.signal)
    return { ...result, critical: entry.critical }
  }

  /** runs every check (concurrently) and combines them */
  async checkAll (options: AbortOptions = {}): Promise<HealthReport> {
    const time = this.clock.now()
    const names = [...this.checks.keys()]
    const results = await Promise.all(names.map(async name => await this.checkComponent(name, options)))
    const components: Record<string, ComponentHealth> = {}
    names.forEach((name, i) => { components[name] = results[i] })
    return { status: overallStatus(results), time, components }
  }

  private async runCheck (component: string, check: HealthCheck, signal?: AbortSignal): Promise<HealthResult> {
    let timer: ReturnType<Clock['setTimeout']> | undefined
    const timeout = new Promise<HealthResult>(resolve => {
      timer = this.clock.setTimeout(() => { resolve({ status: 'down', detail: `health check timed out after ${this.timeoutMs} ms` }) }, this.timeoutMs)
    })
    try {
      const result = await raceSignal(Promise.race([Promise.resolve().then(check).then(validResult, failedResult), timeout]), signal)
      if (result.status !== 'ok') this.log('component %s is %s: %s', component, result.status, result.detail ?? '')
      return result
    } finally {
      this.clock.clearTimeout(timer)
    }
  }
}

function validResult (r: unknown): HealthResult {
  if (r == null || typeof r !== 'object' || !STATUSES.has((r as HealthResult).status)) {
    return { status: 'down', detail: 'health check returned an invalid result' }
  }
  const result = { ...(r as HealthResult) }
  if (result.detail != null) result.detail = String(result.detail).slice(0, MAX_HEALTH_DETAIL_CHARS)
  return result
}

function failedResult (err: unknown): HealthResult {
  const { name, message } = describeError(err)
  return { status: 'down', detail: `${name}: ${message}`.slice(0, MAX_HEALTH_DETAIL_CHARS) }
}

/** down if a critical component is down; degraded if any is degraded or a non-critical one is down */
export function overallStatus (results: Array<{ status: HealthStatus, critical: boolean }>): HealthStatus {
  let status: HealthStatus = 'ok'
  for (const r of results) {
    if (r.status === 'down' && r.critical) return 'down'
    if (r.status !== 'ok') status = 'degraded'
  }
  return status
}
