/**
 * The hybrid logical clock (Kulkarni et al.) of the whole codebase: timestamps that follow physical
 * time but still order causally related events, over the injected Clock. `send()` stamps a local
 * event or an outgoing message; `receive(remote)` merges a timestamp seen from another peer. A
 * remote wall time further in the future than `maxSkewMs` is refused (ClockSkewError) and does not
 * move this clock, so one peer with a wrong clock cannot drag everyone's time forward.
 *
 * Two encodings: messaging writes timestamps into envelopes as two varuints (src/messaging/hlc.ts);
 * the text form here, `wall.logical[.peer]` with fixed-width digits, sorts like compareHlc and is
 * what the CRDT key-value maps stamp their writes with (the writer's peer id breaks ties).
 */
import { ClockSkewError, InvalidArgumentError, InvalidMessageError } from '../errors.ts'
import type { Clock } from './clock.ts'

export interface HlcTimestamp {
  /** milliseconds since the epoch, the largest physical time seen */
  readonly wallMs: number
  /** counter that orders events within the same wallMs */
  readonly logical: number
}

/** a timestamp with the peer that issued it: totally ordered across peers */
export interface PeerHlcTimestamp extends HlcTimestamp {
  readonly peer: string
}

export interface HybridLogicalClockInit {
  /** how far a remote wall time may run ahead of our physical clock (default HLC_MAX_SKEW_MS) */
  maxSkewMs?: number
}

/** largest logical counter; one more carries into the next millisecond */
export const HLC_MAX_LOGICAL = 0xffff_ffff
/** a remote timestamp further than this ahead of our physical clock is refused */
export const HLC_MAX_SKEW_MS = 60_000
/** longest peer id accepted in the text form */
export const HLC_MAX_PEER_CHARS = 256

export const HLC_ZERO: HlcTimestamp = Object.freeze({ wallMs: 0, logical: 0 })

const WALL_DIGITS = 16
const LOGICAL_DIGITS = 10
const TEXT_FORM = /^(\d{16})\.(\d{10})(?:\.(.{1,256}))?$/s
/** stamps written before the clocks were one: 15 wall digits, 6 counter digits, peer */
const EARLIER_TEXT_FORM = /^(\d{15})\.(\d{6})\.(.{1,256})$/s

/** negative, zero or positive as `a` is before, equal to or after `b`; peer ids break ties when both have one */
export function compareHlc (a: HlcTimestamp, b: HlcTimestamp): number {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1
  const pa = (a as Partial<PeerHlcTimestamp>).peer
  const pb = (b as Partial<PeerHlcTimestamp>).peer
  if (pa == null || pb == null || pa === pb) return 0
  return pa < pb ? -1 : 1
}

export function isValidHlc (ts: unknown): ts is HlcTimestamp {
  if (ts == null || typeof ts !== 'object') return false
  const { wallMs, logical } = ts as Record<string, unknown>
  return Number.isSafeInteger(wallMs) && (wallMs as number) >= 0 &&
    Number.isSafeInteger(logical) && (logical as number) >= 0 && (logical as number) <= HLC_MAX_LOGICAL
}

/** `wall(16 digits).logical(10 digits)[.peer]`: sorts as compareHlc orders */
export function formatHlc (ts: HlcTimestamp | PeerHlcTimestamp): string {
  if (!isValidHlc(ts)) throw new InvalidArgumentError('not a valid HLC timestamp')
  const text = `${String(ts.wallMs).padStart(WALL_DIGITS, '0')}.${String(ts.logical).padStart(LOGICAL_DIGITS, '0')}`
  const peer = (ts as Partial<PeerHlcTimestamp>).peer
  if (peer == null) return text
  if (peer.length === 0 || peer.length > HLC_MAX_PEER_CHARS) throw new InvalidArgumentError('HLC peer id must be 1-256 characters')
  return `${text}.${peer}`
}

/** reads the text form (and the earlier one of the CRDT maps); InvalidMessageError when malformed */
export function parseHlc (text: string): HlcTimestamp | PeerHlcTimestamp {
  const m = typeof text === 'string' ? (TEXT_FORM.exec(text) ?? EARLIER_TEXT_FORM.exec(text)) : null
  if (m == null) throw new InvalidMessageError('malformed hybrid logical clock timestamp')
  const ts = { wallMs: Number(m[1]), logical: Number(m[2]) }
  if (!isValidHlc(ts)) throw new InvalidMessageError('hybrid logical clock timestamp out of range')
  return m[3] == null ? ts : { ...ts, peer: m[3] }
}

/** orders two text timestamps by what they say (not by their characters); malformed ones sort first */
export function compareHlcText (a: string | undefined, b: string | undefined): number {
  const pa = parseOrUndefined(a)
  const pb = parseOrUndefined(b)
  if (pa == null || pb == null) return pa == null ? (pb == null ? 0 : -1) : 1
  return compareHlc(pa, pb)
}

function parseOrUndefined (text: string | undefined): HlcTimestamp | undefined {
  if (text == null) return undefined
  try { return parseHlc(text) } catch { return undefined }
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
    this.last = pt > l.wallMs ? { wallMs: pt, logical: 0 } : carry(l.wallMs, l.logical + 1)
    return this.last
  }

  /**
   * merges the timestamp of a received message; the result is after both it and every local
   * timestamp. Throws ClockSkewError (details skewMs, maxSkewMs) when the remote wall time
   * is more than maxSkewMs ahead of our physical clock, leaving this clock unchanged.
   */
  receive (remote: HlcTimestamp): HlcTimestamp {
    if (!isValidHlc(remote)) throw new InvalidMessageError('not a valid HLC timestamp')
    const pt = this.physicalNow()
    const skewMs = remote.wallMs - pt
    if (skewMs > this.maxSkewMs) {
      throw new ClockSkewError(`remote clock ${skewMs} ms ahead (max ${this.maxSkewMs} ms)`, {
        details: { skewMs, maxSkewMs: this.maxSkewMs }
      })
    }
    const l = this.last
    const wall = Math.max(l.wallMs, remote.wallMs, pt)
    let logical: number
    if (wall === l.wallMs && wall === remote.wallMs) logical = Math.max(l.logical, remote.logical) + 1
    else if (wall === l.wallMs) logical = l.logical + 1
    else if (wall === remote.wallMs) logical = remote.logical + 1
    else logical = 0
    this.last = carry(wall, logical)
    return this.last
  }

  private physicalNow (): number {
    const now = Math.floor(this.clock.now())
    return Number.isSafeInteger(now) && now > 0 ? now : 0
  }
}

/** keeps the logical counter in range by carrying into the next millisecond */
function carry (wallMs: number, logical: number): HlcTimestamp {
  return logical > HLC_MAX_LOGICAL ? { wallMs: wallMs + 1, logical: 0 } : { wallMs, logical }
}
