/**
 * Event loop lag by timer drift: a timer set for `interval` ms that fires late tells how long the
 * loop was busy. Works in Node and in browsers (a throttled hidden tab shows up as lag, which is
 * the truth for a peer), through the injected Clock.
 */
import type { Clock, TimerHandle } from '../util/clock.ts'
import { EVENT_LOOP_DEGRADED_LAG_MS, EVENT_LOOP_DOWN_LAG_MS, EVENT_LOOP_SAMPLE_INTERVAL_MS, EVENT_LOOP_WINDOW_SAMPLES } from './constants.ts'
import type { HealthResult } from './types.ts'

export interface EventLoopMonitorInit {
  clock: Clock
  intervalMs?: number
  windowSamples?: number
  degradedLagMs?: number
  downLagMs?: number
  /** called with each lag sample, in ms */
  onSample?: (lagMs: number) => void
}

export class EventLoopMonitor {
  private readonly clock: Clock
  private readonly intervalMs: number
  private readonly windowSamples: number
  private readonly degradedLagMs: number
  private readonly downLagMs: number
  private readonly onSample?: (lagMs: number) => void
  private readonly samples: number[] = []
  private timer?: TimerHandle
  private expectedAt = 0

  constructor (init: EventLoopMonitorInit) {
    this.clock = init.clock
    this.intervalMs = init.intervalMs ?? EVENT_LOOP_SAMPLE_INTERVAL_MS
    this.windowSamples = init.windowSamples ?? EVENT_LOOP_WINDOW_SAMPLES
    this.degradedLagMs = init.degradedLagMs ?? EVENT_LOOP_DEGRADED_LAG_MS
    this.downLagMs = init.downLagMs ?? EVENT_LOOP_DOWN_LAG_MS
    if (init.onSample != null) this.onSample = init.onSample
  }

  start (): void {
    if (this.timer != null) return
    this.schedule()
  }

  stop (): void {
    this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  /** the most recent lag sample, ms (0 before the first) */
  lagMs (): number {
    return this.samples.length === 0 ? 0 : this.samples[this.samples.length - 1]
  }

  /** the largest lag among the recent samples, ms */
  maxLagMs (): number {
    return this.samples.reduce((a, b) => Math.max(a, b), 0)
  }

  /** ok below the degraded threshold, degraded up to the down threshold, down beyond */
  health (): HealthResult {
    const lag = this.maxLagMs()
    const lagMs = Math.round(lag)
    if (lag >= this.downLagMs) return { status: 'down', detail: `event loop lag ${lagMs} ms`, lagMs }
    if (lag >= this.degradedLagMs) return { status: 'degraded', detail: `event loop lag ${lagMs} ms`, lagMs }
    return { status: 'ok', lagMs }
  }

  /** records a sample (the timer does this; exposed for tests and for external probes) */
  record (lagMs: number): void {
    const lag = Math.max(0, lagMs)
    this.samples.push(lag)
    if (this.samples.length > this.windowSamples) this.samples.shift()
    this.onSample?.(lag)
  }

  private schedule (): void {
    this.expectedAt = this.clock.monotonic() + this.intervalMs
    this.timer = this.clock.setTimeout(() => {
      this.record(this.clock.monotonic() - this.expectedAt)
      if (this.timer != null) this.schedule()
    }, this.intervalMs)
  }
}
