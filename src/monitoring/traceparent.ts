/**
 * W3C Trace Context `traceparent` header values: `00-<trace-id:32 hex>-<parent-id:16 hex>-<flags:2 hex>`.
 * Every envelope carries one, so a request across peers is one trace.
 */
import { InvalidMessageError } from '../errors.ts'
import type { Rng } from '../util/prng.ts'

export interface TraceParent {
  traceId: string
  spanId: string
  /** bit 0 = sampled */
  flags: number
}

const HEX_TRACE_ID = /^[0-9a-f]{32}$/
const HEX_SPAN_ID = /^[0-9a-f]{16}$/
const ZERO_TRACE_ID = '0'.repeat(32)
const ZERO_SPAN_ID = '0'.repeat(16)
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
/** a header longer than this is refused before any parsing */
const MAX_TRACEPARENT_CHARS = 512

export const TRACE_FLAG_SAMPLED = 0x01

export function isValidTraceId (id: unknown): id is string {
  return typeof id === 'string' && HEX_TRACE_ID.test(id) && id !== ZERO_TRACE_ID
}

export function isValidSpanId (id: unknown): id is string {
  return typeof id === 'string' && HEX_SPAN_ID.test(id) && id !== ZERO_SPAN_ID
}

export function formatTraceparent (tp: TraceParent): string {
  if (!isValidTraceId(tp.traceId)) throw new InvalidMessageError(`invalid trace id ${JSON.stringify(tp.traceId)}`)
  if (!isValidSpanId(tp.spanId)) throw new InvalidMessageError(`invalid span id ${JSON.stringify(tp.spanId)}`)
  if (!Number.isInteger(tp.flags) || tp.flags < 0 || tp.flags > 0xff) throw new InvalidMessageError(`invalid trace flags ${tp.flags}`)
  return `00-${tp.traceId}-${tp.spanId}-${tp.flags.toString(16).padStart(2, '0')}`
}

/**
 * Parses a traceparent value; throws InvalidMessageError when it is malformed. Versions other
 * than 00 are read by their first four fields, as the spec asks; version ff is invalid.
 */
export function parseTraceparent (value: unknown): TraceParent {
  if (typeof value !== 'string' || value.length > MAX_TRACEPARENT_CHARS) throw new InvalidMessageError('traceparent must be a short string')
  const m = TRACEPARENT.exec(value.trim())
  if (m == null) throw new InvalidMessageError(`malformed traceparent ${JSON.stringify(value.slice(0, 80))}`)
  const [, version, traceId, spanId, flags, rest] = m
  if (version === 'ff') throw new InvalidMessageError('traceparent version ff is invalid')
  if (version === '00' && rest !== undefined) throw new InvalidMessageError('traceparent version 00 has exactly four fields')
  if (traceId === ZERO_TRACE_ID) throw new InvalidMessageError('traceparent has an all-zero trace id')
  if (spanId === ZERO_SPAN_ID) throw new InvalidMessageError('traceparent has an all-zero parent id')
  return { traceId, spanId, flags: parseInt(flags, 16) }
}

/** parseTraceparent, or undefined for a missing or malformed value */
const TRACEPARENT_V00 = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/

export function tryParseTraceparent (value: unknown): TraceParent | undefined {
  if (value == null) return undefined
  // the common case, a well-formed version 00 header: one test, three slices
  if (typeof value === 'string' && value.length === 55 && TRACEPARENT_V00.test(value)) {
    const traceId = value.slice(3, 35)
    const spanId = value.slice(36, 52)
    if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return undefined
    return { traceId, spanId, flags: parseInt(value.slice(53, 55), 16) }
  }
  try {
    return parseTraceparent(value)
  } catch {
    return undefined
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** random lowercase hex of `bytes` bytes, never all zero (an all-zero id is invalid) */
export function randomHexId (rng: Rng, bytes: 8 | 16): string {
  for (;;) {
    let out = ''
    let nonZero = false
    for (let i = 0; i < bytes; i += 4) {
      let word = Math.floor(rng.next() * 4294967296) >>> 0
      if (word !== 0) nonZero = true
      for (let j = 0; j < 4; j++) {
        out += HEX[word & 0xff]
        word >>>= 8
      }
    }
    if (nonZero) return out
  }
}
