/**
 * Hybrid logical clock (Kulkarni et al.): timestamps that follow physical time but still order
 * causally related events, over the injected Clock. `send()` stamps a local event or outgoing
 * message; `receive(remote)` merges a timestamp from a message. A remote wall time further in the
 * future than `maxSkewMs` is refused (InvalidMessageError, reason 'clock-skew') and does not move
 * this clock, so one peer with a wrong clock cannot drag everyone's time forward.
 */
import * as encoding from 'lib0/encoding'
import { InvalidArgumentError, InvalidMessageError } from '../errors.ts'
import { HLC_MAX_LOGICAL, HLC_MAX_SKEW_MS } from './constants.ts'
import { decodeStrictly, readUint } from './wire.ts'
import type { Clock } from '../util/clock.ts'
import type { Decoder } from './wire.ts'

export interface HlcTimestamp {
  /** milliseconds since the epoch, the largest physical time seen */
  readonly wallMs: number
  /** counter that orders events within the same wallMs */
  readonly logical: number
}

export interface HybridLogicalClockInit {
  /** how far a remote wall time may run ahead of our physical clock (default HLC_MAX_SKEW_MS) */
  maxSkewMs?: number
}

export const HLC_ZERO: HlcTimestamp = Object.freeze({ wallMs: 0, logical: 0 })

/** negative, zero or positive as `a` is before, equal to or after `b` */
export function compareHlc (a: HlcTimestamp, b: HlcTimestamp): number {
  return a.wallMs !== b.wallMs ? (a.wallMs < b.wallMs ? -1 : 1) : a.logical - b.logical
}

export function isValidHlc (ts: unknown): ts is HlcTimestamp {
  if (ts == null || typeof ts !== 'object') return false
  const { wallMs, logical } = ts as Record<string, unknown>
  return Number.isSafeInteger(wallMs) && (wallMs as number) >= 0 &&
    Number.isSafeInteger(logical) && (logical as number) >= 0 && (logical as number) <= HLC_MAX_LOGICAL
}

export function writeHlc (encoder: encoding.Encoder, ts: HlcTimestamp): void {
  encoding.writeVarUint(encoder, ts.wallMs)
  encoding.writeVarUint(encoder, ts.logical)
}

export function readHlc (decoder: Decoder): HlcTimestamp {
  const wallMs = readUint(decoder, 'hlc.wallMs')
  const logical = readUint(decoder, 'hlc.logical', HLC_MAX_LOGICAL)
  return { wallMs, logical }
}

/** compact binary form (two varuints) */
export function encodeHlc (ts: HlcTimestamp): Uint8Array {
  if (!isValidHlc(ts)) throw new InvalidArgumentError('not a valid HLC timestamp')
  const encoder = encoding.createEncoder()
  writeHlc(encoder, ts)
  return encoding.toUint8Array(encoder)
}

export function decodeHlc (bytes: Uint8Array): HlcTimestamp {
  return decodeStrictly('hlc', bytes, decoder => {
    const ts = readHlc(decoder)
    if (decoder.pos !== decoder.arr.length) throw new InvalidMessageError('hlc: trailing bytes')
    return ts
  })
}

/** fixed-width text form that sorts like compareHlc: for store keys and logs */
export function formatHlc (ts: HlcTimestamp): string {
  return `${ts.wallMs.toString().padStart(16, '0')}.${ts.logical.toString().padStart(10, '0')}`
}

export class HybridLogicalClock {
  private readonly clock: Clock
  private readonly maxSkewMs: number
  private last: HlcTimestamp = HLC_ZERO

  constructor (clock: Clock, init: HybridLogicalClockInit = {}) {
    this.clock = clock
    this.maxSkewMs = init.maxSkewMs ?? HLC_MAX_SKEW_MS
  }

  /** the last timestamp issued or merged, without advancing */
  peek (): HlcTimestamp {
    return this.last
  }

  /** a timestamp for a local event or an outgoing message; strictly after every earlier one */
  send (): HlcTimestamp {
    const pt = this.physicalNow()
    const l = this.last
    this.last = pt > l.wallMs ? { wallMs: pt, logical: 0 } : bump(l.wallMs, l.logical + 1)
    return this.last
  }

  /**
   * merges the timestamp of a received message; the result is after both it and every local
   * timestamp. Throws InvalidMessageError (details.reason 'clock-skew') when the remote wall time
   * is more than maxSkewMs ahead of our physical clock, leaving this clock unchanged.
   */
  receive (remote: HlcTimestamp): HlcTimestamp {
    if (!isValidHlc(remote)) throw new InvalidMessageError('not a valid HLC timestamp')
    const pt = this.physicalNow()
    const skewMs = remote.wallMs - pt
    if (skewMs > this.maxSkewMs) {
      throw new InvalidMessageError(`remote clock ${skewMs} ms ahead (max ${this.maxSkewMs} ms)`, {
        details: { reason: 'clock-skew', skewMs, maxSkewMs: this.maxSkewMs }
      })
    }
    const l = this.last
    const wall = Math.max(l.wallMs, remote.wallMs, pt)
    let logical: number
    if (wall === l.wallMs && wall === remote.wallMs) logical = Math.max(l.logical, remote.logical) + 1
    else if (wall === l.wallMs) logical = l.logical + 1
    else if (wall === remote.wallMs) logical = remote.logical + 1
    else logical = 0
    this.last = bump(wall, logical)
    return this.last
  }

  private physicalNow (): number {
    const now = Math.floor(this.clock.now())
    return Number.isSafeInteger(now) && now > 0 ? now : 0
  }
}

/** keeps the logical counter in range by carrying into the next millisecond */
function bump (wallMs: number, logical: number): HlcTimestamp {
  return logical > HLC_MAX_LOGICAL ? { wallMs: wallMs + 1, logical: 0 } : { wallMs, logical }
}
