/**
 * Bounded reads over lib0 decoders, shared by every decoder in this folder. Each read checks its
 * cap before touching the bytes, and `decodeStrictly` turns anything lib0 throws (end of array,
 * integer out of range) into our InvalidMessageError, so a decoder only ever throws typed errors.
 */
import * as decoding from 'lib0/decoding'
import { InvalidMessageError, MessageTooLargeError, UnsupportedVersionError } from '../errors.ts'
import { utf8Decoder, utf8Encoder } from '../util/utf8.ts'

export type Decoder = decoding.Decoder


/** true for the errors our decoders are allowed to throw */
export function isDecodeError (err: unknown): boolean {
  return err instanceof InvalidMessageError || err instanceof MessageTooLargeError ||
    err instanceof UnsupportedVersionError
}

/** runs `read` over `bytes`; every failure comes out as one of our typed decode errors */
export function decodeStrictly<T> (what: string, bytes: Uint8Array, read: (decoder: Decoder) => T): T {
  if (!(bytes instanceof Uint8Array)) throw new InvalidMessageError(`${what}: expected bytes`)
  try {
    return read(decoding.createDecoder(bytes))
  } catch (err) {
    if (isDecodeError(err)) throw err
    throw new InvalidMessageError(`${what}: malformed (${err instanceof Error ? err.message : String(err)})`, { cause: err })
  }
}

/** a varuint that must be a safe integer no larger than `max` */
export function readUint (decoder: Decoder, field: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = decoding.readVarUint(decoder)
  if (!Number.isSafeInteger(n) || n > max) throw new InvalidMessageError(`${field}: ${n} out of range (max ${max})`)
  return n
}

function remaining (decoder: Decoder): number {
  return decoder.arr.length - decoder.pos
}

/** `len` raw bytes, copied so the result does not pin the input buffer */
export function readFixedBytes (decoder: Decoder, len: number, field: string): Uint8Array {
  if (len > remaining(decoder)) throw new InvalidMessageError(`${field}: truncated`)
  return decoding.readUint8Array(decoder, len).slice()
}

/** `len` raw bytes as a view into the input (no copy: the caller must not keep it past the input's life) */
export function readFixedView (decoder: Decoder, len: number, field: string): Uint8Array {
  if (len > remaining(decoder)) throw new InvalidMessageError(`${field}: truncated`)
  return decoding.readUint8Array(decoder, len)
}

/** length-prefixed bytes, at most `maxBytes` long (checked before reading the body) */
export function readCappedBytes (decoder: Decoder, maxBytes: number, field: string): Uint8Array {
  const len = decoding.readVarUint(decoder)
  if (len > maxBytes) throw new MessageTooLargeError(`${field}: ${len} bytes exceeds ${maxBytes}`)
  return readFixedBytes(decoder, len, field)
}

/** like readCappedBytes, as a view into the input (no copy) */
export function readCappedView (decoder: Decoder, maxBytes: number, field: string): Uint8Array {
  const len = decoding.readVarUint(decoder)
  if (len > maxBytes) throw new MessageTooLargeError(`${field}: ${len} bytes exceeds ${maxBytes}`)
  return readFixedView(decoder, len, field)
}

/** a length-prefixed, well-formed UTF-8 string of at most `maxBytes` bytes */
export function readCappedString (decoder: Decoder, maxBytes: number, field: string): string {
  const len = decoding.readVarUint(decoder)
  if (len > maxBytes) throw new MessageTooLargeError(`${field}: ${len} bytes exceeds ${maxBytes}`)
  if (len > remaining(decoder)) throw new InvalidMessageError(`${field}: truncated`)
  const bytes = decoding.readUint8Array(decoder, len)
  // short ASCII (peer ids, content types, traceparents): no TextDecoder call
  if (len <= 256) {
    let ascii = true
    for (let i = 0; i < len; i++) if (bytes[i] > 0x7f) { ascii = false; break }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[])
  }
  try {
    return utf8Decoder.decode(bytes)
  } catch {
    throw new InvalidMessageError(`${field}: not valid UTF-8`)
  }
}

/** UTF-8 bytes of a string that must be well formed (no lone surrogates) */
export function utf8Bytes (s: string): Uint8Array {
  return utf8Encoder.encode(s)
}

const nativeIsWellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed

export function isWellFormedString (s: unknown): s is string {
  if (typeof s !== 'string') return false
  if (nativeIsWellFormed != null) return nativeIsWellFormed.call(s)
  // a lone surrogate would not survive the UTF-8 round trip
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s)
}

export function utf8Length (s: string): number {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) n += 1
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) { n += 2; i++ } // a surrogate pair: 4 bytes
    else n += 2 // a BMP char, or a lone surrogate (encoded as U+FFFD, 3 bytes)
  }
  return n
}
