import { systemClock, type Clock } from '../../src/util/clock.ts'

/** a base clock (the host's by default) with its wall time `offsetMs` off; monotonic time and timers are the base's */
export class OffsetClock implements Clock {
  offsetMs = 0
  constructor (private readonly base: Clock = systemClock) {}
  now (): number { return this.base.now() + this.offsetMs }
  monotonic (): number { return this.base.monotonic() }
  setTimeout (fn: () => void, ms: number) { return this.base.setTimeout(fn, ms) }
  clearTimeout (h: Parameters<Clock['clearTimeout']>[0]): void { this.base.clearTimeout(h) }
  setInterval (fn: () => void, ms: number) { return this.base.setInterval(fn, ms) }
  clearInterval (h: Parameters<Clock['clearInterval']>[0]): void { this.base.clearInterval(h) }
}
