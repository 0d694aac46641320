/**
 * A hybrid logical clock (Kulkarni et al.): physical milliseconds plus a counter, so timestamps
 * follow causality (a write that saw another has a larger timestamp) while staying close to wall
 * time. Ties between peers break by peer id. Timestamps encode to strings that sort like they compare.
 */
import { InvalidMessageError } from '../../errors.ts'
import type { Clock } from '../../util/clock.ts'

export interface Hlc {
  wallMs: number
  counter: number
  peer: string
}

const WALL_DIGITS = 15
const COUNTER_DIGITS = 6
const MAX_COUNTER = 10 ** COUNTER_DIGITS - 1
/** a remote timestamp further than this ahead of our clock is not adopted */
export const MAX_HLC_DRIFT_MS = 60_000

export function compareHlc (a: Hlc, b: Hlc): number {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1
  return a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0
}

/** `wall(15 digits).counter(6 digits).peer`: sorts as compareHlc orders */
export function encodeHlc (t: Hlc): string {
  return `${String(t.wallMs).padStart(WALL_DIGITS, '0')}.${String(t.counter).padStart(COUNTER_DIGITS, '0')}.${t.peer}`
}

export function decodeHlc (s: string): Hlc {
  const m = typeof s === 'string' ? /^(\d{15})\.(\d{6})\.(.{1,256})$/.exec(s) : null
  if (m == null) throw new InvalidMessageError('malformed hybrid logical clock timestamp')
  return { wallMs: Number(m[1]), counter: Number(m[2]), peer: m[3] }
}

export class HybridLogicalClock {
  private last: Hlc

  constructor (private readonly clock: Clock, readonly peer: string) {
    this.last = { wallMs: 0, counter: 0, peer }
  }

  /** a timestamp for a local event, larger than every one issued or received before */
  now (): Hlc {
    const wall = this.clock.now()
    if (wall > this.last.wallMs) this.last = { wallMs: wall, counter: 0, peer: this.peer }
    else this.last = this.bump(this.last)
    return this.last
  }

  /** merges a timestamp seen from another peer, so later local events order after it */
  receive (remote: Hlc): void {
    if (remote.wallMs > this.clock.now() + MAX_HLC_DRIFT_MS) return
    if (compareHlc(remote, this.last) > 0) this.last = { wallMs: remote.wallMs, counter: remote.counter, peer: this.peer }
  }

  private bump (t: Hlc): Hlc {
    if (t.counter >= MAX_COUNTER) return { wallMs: t.wallMs + 1, counter: 0, peer: this.peer }
    return { wallMs: t.wallMs, counter: t.counter + 1, peer: this.peer }
  }
}
