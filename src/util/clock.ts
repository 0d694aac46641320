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
  setTimeout: (fn, ms) => {
    const t = globalThis.setTimeout(fn, ms)
    // a timer alone must never keep a Node process alive
    ;(t as { unref?: () => void }).unref?.()
    return t as unknown as TimerHandle
  },
  clearTimeout: (h) => { if (h != null) globalThis.clearTimeout(h as any) },
  setInterval: (fn, ms) => {
    const t = globalThis.setInterval(fn, ms)
    ;(t as { unref?: () => void }).unref?.()
    return t as unknown as TimerHandle
  },
  clearInterval: (h) => { if (h != null) globalThis.clearInterval(h as any) }
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
