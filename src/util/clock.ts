/**
 * Time is injected: everything whose behaviour depends on time takes a Clock, so tests and the
 * simulator can drive it. `systemClock` is the real one.
 */
import { InvalidArgumentError } from '../errors.ts'

export type TimerHandle = { readonly __timer: unique symbol } | number | object

export interface Clock {
  /** milliseconds since the epoch (wall clock, may jump) */
  now: () => number
  /** monotonic milliseconds, for measuring durations */
  monotonic: () => number
  setTimeout: (fn: () => void, ms: number) => TimerHandle
  clearTimeout: (handle: TimerHandle | undefined) => void
  setInterval: (fn: () => void, ms: number) => TimerHandle
  clearInterval: (handle: TimerHandle | undefined) => void
}

/** the largest wall-clock skew fault injection may set: a day either way */
export const MAX_WALL_CLOCK_SKEW_MS = 24 * 60 * 60 * 1000

let wallClockSkewMs = 0

/**
 * Fault injection: makes `systemClock.now()` read `ms` ahead of the host's clock (behind when
 * negative), as on a host whose clock is wrong or was just stepped. Monotonic time is untouched
 * (a stepped wall clock does not move it). The CLI sets it from AGENTMESH_CLOCK_SKEW_MS and
 * AGENTMESH_CLOCK_SKEW_FILE (src/cli/clock-skew.ts); nothing else should.
 */
export function setWallClockSkew (ms: number): void {
  if (!Number.isSafeInteger(ms) || Math.abs(ms) > MAX_WALL_CLOCK_SKEW_MS) {
    throw new InvalidArgumentError(`a wall-clock skew is an integer number of ms within ±${MAX_WALL_CLOCK_SKEW_MS}`)
  }
  wallClockSkewMs = ms
}

/** the skew set by setWallClockSkew (0 unless fault injection set one) */
export function wallClockSkew (): number {
  return wallClockSkewMs
}

export const systemClock: Clock = {
  now: () => Date.now() + wallClockSkewMs,
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => platformTimers.setTimeout(fn, ms) as TimerHandle,
  clearTimeout: (h) => { stopTimer(h) },
  setInterval: (fn, ms) => new GridInterval(fn, ms) as unknown as TimerHandle,
  clearInterval: (h) => { stopTimer(h) }
}

function stopTimer (h: TimerHandle | undefined): void {
  if (h instanceof GridInterval) h.stop()
  else if (h != null) globalThis.clearTimeout(h as any)
}

/** what a GridInterval needs of the platform: monotonic time and one-shot timers */
export interface GridTimers {
  now: () => number
  setTimeout: (fn: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
}

const platformTimers: GridTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = globalThis.setTimeout(fn, ms)
    // a timer alone must never keep a Node process alive
    ;(t as { unref?: () => void }).unref?.()
    return t
  },
  clearTimeout: (h) => { globalThis.clearTimeout(h as any) }
}

/**
 * An interval whose runs fall on multiples of its period on the monotonic clock, so a peer's
 * periodic work (Raft ticks, failure checks, lease renewals, heartbeats...) wakes the process
 * together rather than each at its own phase: with the usual periods (100, 250, 500, 1000 ms)
 * a dozen wake-ups a second instead of several dozen. The first run is at the first grid point
 * after the start (sooner than a period). A run that comes late does not drift the next ones; a
 * grid point missed entirely (a blocked event loop) is skipped, not made up.
 */
export class GridInterval {
  private timer: unknown
  private stopped = false
  /** the grid point the next run is for */
  private due = 0
  private readonly fn: () => void
  private readonly ms: number
  private readonly timers: GridTimers

  constructor (fn: () => void, ms: number, timers: GridTimers = platformTimers) {
    this.fn = fn
    this.ms = Math.max(1, ms)
    this.timers = timers
    this.arm()
  }

  stop (): void {
    this.stopped = true
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.timer = undefined
  }

  private arm (): void {
    const now = this.timers.now()
    // the next grid point after the one just run; after a stall, the first one still ahead
    this.due = this.due === 0 ? (Math.floor(now / this.ms) + 1) * this.ms : this.due + this.ms
    if (this.due <= now) this.due = (Math.floor(now / this.ms) + 1) * this.ms
    this.timer = this.timers.setTimeout(this.run, Math.max(1, Math.ceil(this.due - now)))
  }

  private readonly run = (): void => {
    if (this.stopped) return
    try {
      this.fn()
    } finally {
      if (!this.stopped) this.arm()
    }
  }
}

/**
 * A clock that only moves when told to: `advance(ms)` fires due timers in order.
 * For tests and deterministic simulation.
 */
export class ManualClock implements Clock {
  private current: number
  private seq = 0
  private readonly timers = new Map<number, { at: number, fn: () => void, every?: number }>()

  constructor (start = 0) {
    this.current = start
  }

  now (): number { return this.current }
  monotonic (): number { return this.current }

  setTimeout (fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq
    this.timers.set(id, { at: this.current + Math.max(0, ms), fn })
    return id
  }

  clearTimeout (h: TimerHandle | undefined): void {
    if (typeof h === 'number') this.timers.delete(h)
  }

  setInterval (fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq
    const every = Math.max(1, ms)
    this.timers.set(id, { at: this.current + every, fn, every })
    return id
  }

  clearInterval (h: TimerHandle | undefined): void { this.clearTimeout(h) }

  /** timers set and not yet fired or cleared (a stopped component should leave none) */
  get pendingTimers (): number { return this.timers.size }

  /** moves time forward by `ms`, firing every timer that falls due, earliest first */
  advance (ms: number): void {
    const end = this.current + ms
    for (;;) {
      let nextId = -1
      let nextAt = Infinity
      for (const [id, t] of this.timers) {
        if (t.at <= end && (t.at < nextAt || (t.at === nextAt && id < nextId))) { nextAt = t.at; nextId = id }
      }
      if (nextId === -1) break
      const timer = this.timers.get(nextId)!
      this.current = timer.at
      if (timer.every != null) timer.at += timer.every
      else this.timers.delete(nextId)
      timer.fn()
    }
    this.current = end
  }
}
