/** fast-check generators shared by the property tests and the fuzz simulation */
import fc from 'fast-check'
import { encodeEnvelope } from '../../src/messaging/envelope.ts'
import { messageIdFromBytes } from '../../src/messaging/message-id.ts'
import { isWellFormedString, utf8Length } from '../../src/messaging/wire.ts'
import { HLC_MAX_LOGICAL, MAX_PEER_ID_BYTES, MAX_TARGET_ID_BYTES } from '../../src/messaging/constants.ts'
import { isDecodeError } from '../../src/messaging/wire.ts'
import type { Envelope } from '../../src/messaging/envelope.ts'

export const messageIdArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(messageIdFromBytes)

const textArb = (maxBytes: number): fc.Arbitrary<string> =>
  fc.string({ minLength: 1, maxLength: Math.min(maxBytes, 64), unit: 'binary' })
    .filter(s => isWellFormedString(s) && utf8Length(s) <= maxBytes)

const hexArb = (n: number): fc.Arbitrary<string> =>
  fc.uint8Array({ minLength: n / 2, maxLength: n / 2 }).map(b => [...b].map(x => x.toString(16).padStart(2, '0')).join(''))

const traceparentArb = fc.oneof(
  fc.constant(''),
  fc.tuple(hexArb(32), hexArb(16), fc.constantFrom('00', '01')).map(([t, s, f]) => `00-${t}-${s}-${f}`)
)

export const envelopeArb: fc.Arbitrary<Envelope> = fc.record({
  kind: fc.constantFrom('message', 'request', 'reply', 'ack', 'error-reply'),
  id: messageIdArb,
  correlationId: messageIdArb,
  sender: fc.string({ minLength: 1, maxLength: MAX_PEER_ID_BYTES, unit: fc.integer({ min: 0x21, max: 0x7e }).map(c => String.fromCharCode(c)) }),
  seq: fc.maxSafeNat(),
  hlc: fc.record({ wallMs: fc.maxSafeNat(), logical: fc.integer({ min: 0, max: HLC_MAX_LOGICAL }) }),
  traceparent: traceparentArb,
  contentType: fc.constantFrom('application/json', 'application/octet-stream', 'text/plain; charset=utf-8', 'x/y'),
  target: fc.option(fc.record({ kind: fc.constantFrom('agent', 'peer'), id: textArb(MAX_TARGET_ID_BYTES) }), { nil: undefined }),
  payload: fc.oneof({ weight: 9, arbitrary: fc.uint8Array({ maxLength: 256 }) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 70_000 }) }),
  signature: fc.option(fc.uint8Array({ minLength: 1, maxLength: 512 }), { nil: undefined })
}).map(r => {
  const { correlationId, target, signature, hlc, ...rest } = r
  // plain objects: fast-check records have no prototype, decoded ones do
  const e: Record<string, unknown> = { ...rest, hlc: { wallMs: hlc.wallMs, logical: hlc.logical } }
  if (r.kind === 'reply' || r.kind === 'ack' || r.kind === 'error-reply') e.correlationId = correlationId
  if (target != null) e.target = { kind: target.kind, id: target.id }
  if (signature != null) e.signature = signature
  return e as unknown as Envelope
})

/** a valid encoding damaged in one of several ways */
export const mutatedEnvelopeBytesArb: fc.Arbitrary<Uint8Array> = fc.tuple(
  envelopeArb.map(encodeEnvelope),
  fc.array(fc.tuple(fc.constantFrom('flip', 'set', 'truncate', 'insert', 'delete'), fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })
).map(([wire, edits]) => {
  let b = wire.slice()
  for (const [op, at, v] of edits) {
    const i = b.length === 0 ? 0 : at % b.length
    if (op === 'flip') b[i] ^= 1 << (v % 8)
    else if (op === 'set') b[i] = v
    else if (op === 'truncate') b = b.slice(0, i)
    else if (op === 'insert') b = Uint8Array.from([...b.subarray(0, i), v, ...b.subarray(i)])
    else b = Uint8Array.from([...b.subarray(0, i), ...b.subarray(i + 1)])
  }
  return b
})

/** runs fn; true if it returned or threw one of our typed decode errors */
export function onlyTypedErrors (fn: () => unknown): boolean {
  try { fn() } catch (err) {
    if (isDecodeError(err)) return true
    throw err
  }
  return true
}
