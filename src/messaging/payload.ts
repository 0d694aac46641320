/**
 * Payload helpers for the two content types the broker speaks: JSON (UTF-8 via TextEncoder) and
 * raw bytes. Decoding checks the envelope's content type and turns bad JSON into
 * InvalidMessageError.
 */
import { InvalidArgumentError, InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import { MAX_PAYLOAD_BYTES } from './constants.ts'
import type { Envelope } from './envelope.ts'

export const CONTENT_TYPE_JSON = 'application/json'
export const CONTENT_TYPE_OCTET_STREAM = 'application/octet-stream'

export interface EncodedPayload {
  contentType: string
  payload: Uint8Array
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

function checkSize (n: number): void {
  if (n > MAX_PAYLOAD_BYTES) throw new MessageTooLargeError(`payload: ${n} bytes exceeds ${MAX_PAYLOAD_BYTES}`)
}

/** JSON-serialises `value`; InvalidArgumentError if it has no JSON form, MessageTooLargeError if too big */
export function jsonPayload (value: unknown): EncodedPayload {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (err) {
    throw new InvalidArgumentError(`payload is not JSON-serialisable: ${(err as Error).message}`, { cause: err })
  }
  if (text === undefined) throw new InvalidArgumentError('payload is not JSON-serialisable')
  const payload = encoder.encode(text)
  checkSize(payload.length)
  return { contentType: CONTENT_TYPE_JSON, payload }
}

export function octetStreamPayload (bytes: Uint8Array): EncodedPayload {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('payload must be a Uint8Array')
  checkSize(bytes.length)
  return { contentType: CONTENT_TYPE_OCTET_STREAM, payload: bytes }
}

function baseType (contentType: string): string {
  if (contentType === CONTENT_TYPE_JSON || contentType === CONTENT_TYPE_OCTET_STREAM) return contentType
  return contentType.split(';', 1)[0].trim().toLowerCase()
}

/** the JSON value of a JSON envelope; InvalidMessageError for another content type or bad JSON */
export function readJsonPayload (envelope: Pick<Envelope, 'contentType' | 'payload'>): unknown {
  if (baseType(envelope.contentType) !== CONTENT_TYPE_JSON) {
    throw new InvalidMessageError(`expected ${CONTENT_TYPE_JSON}, got ${envelope.contentType}`)
  }
  try {
    return JSON.parse(decoder.decode(envelope.payload))
  } catch (err) {
    throw new InvalidMessageError('payload is not valid JSON', { cause: err })
  }
}

/** the payload by content type: JSON parsed, octet-stream as bytes, anything else refused */
export function readPayload (envelope: Pick<Envelope, 'contentType' | 'payload'>): unknown {
  const type = baseType(envelope.contentType)
  if (type === CONTENT_TYPE_JSON) return readJsonPayload(envelope)
  if (type === CONTENT_TYPE_OCTET_STREAM) return envelope.payload
  throw new InvalidMessageError(`unsupported content type ${envelope.contentType}`)
}

/** the payload of an error-reply: `{ name, message }` */
export function errorPayload (err: unknown): EncodedPayload {
  const name = err instanceof Error ? err.name : 'Error'
  const message = err instanceof Error ? err.message : String(err)
  const body: Record<string, unknown> = { name: name.slice(0, 128), message: message.slice(0, 4096) }
  // a refusal the sender can act on (e.g. 'clock-skew': its stamp is ahead; retry after retryAfterMs)
  const details = (err as { details?: Record<string, unknown> } | null)?.details
  if (typeof details?.reason === 'string') body.reason = details.reason.slice(0, 64)
  if (typeof details?.retryAfterMs === 'number' && Number.isFinite(details.retryAfterMs)) body.retryAfterMs = Math.max(0, Math.round(details.retryAfterMs))
  return jsonPayload(body)
}

/** what an error-reply says: the error's name and message, and a reason and retry delay when the answer gave them */
export interface RemoteErrorFields {
  name: string
  message: string
  reason?: string
  retryAfterMs?: number
}

/** reads an error-reply payload back; malformed ones become InvalidMessageError (unknown fields are ignored) */
export function readErrorPayload (envelope: Pick<Envelope, 'contentType' | 'payload'>): RemoteErrorFields {
  const v = readJsonPayload(envelope) as Record<string, unknown> | null
  if (v == null || typeof v !== 'object' || typeof v.name !== 'string' || typeof v.message !== 'string') {
    throw new InvalidMessageError('error-reply payload must be { name, message }')
  }
  const fields: RemoteErrorFields = { name: v.name, message: v.message }
  if (typeof v.reason === 'string' && v.reason.length <= 64) fields.reason = v.reason
  if (typeof v.retryAfterMs === 'number' && Number.isSafeInteger(v.retryAfterMs) && v.retryAfterMs >= 0) fields.retryAfterMs = v.retryAfterMs
  return fields
}
