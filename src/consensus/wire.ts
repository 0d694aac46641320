/**
 * Bounded binary reads over lib0 decoders for the consensus codecs (durable Raft log records, KV
 * commands, results and snapshots). Every read checks its bound before touching the bytes, and
 * `decodeWith` turns anything else lib0 throws into InvalidMessageError, so a decoder built on these
 * only ever throws InvalidMessageError, MessageTooLargeError or UnsupportedVersionError.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { InvalidArgumentError, InvalidMessageError, MessageTooLargeError, UnsupportedVersionError } from '../errors.ts'
import { utf8Decoder } from '../util/utf8.ts'

export type Decoder = decoding.Decoder
export type Encoder = encoding.Encoder
export { encoding }


/** true for the three errors a consensus decoder may throw */
export function isDecodeError (err: unknown): boolean {
  return err instanceof InvalidMessageError || err instanceof MessageTooLargeError || err instanceof UnsupportedVersionError
}

/**
 * decodes `bytes` (at most `maxBytes`) with `read`, which must consume them all; every failure is
 * one of our typed decode errors
 */
export function decodeWith<T> (what: string, bytes: Uint8Array, maxBytes: number, read: (d: Decoder) => T): T {
  if (!(bytes instanceof Uint8Array)) throw new InvalidMessageError(`${what}: expected bytes`)
  if (bytes.byteLength > maxBytes) throw new MessageTooLargeError(`${what}: ${bytes.byteLength} bytes exceeds ${maxBytes}`)
  try {
    const d = decoding.createDecoder(bytes)
    const value = read(d)
    if (decoding.hasContent(d)) throw new InvalidMessageError(`${what}: ${bytes.byteLength - d.pos} trailing bytes`)
    return value
  } catch (err) {
    if (isDecodeError(err)) throw err
    throw new InvalidMessageError(`${what}: malformed (${err instanceof Error ? err.message : String(err)})`, { cause: err })
  }
}

/** the leading version byte; refuses any other version */
export function readVersion (d: Decoder, what: string, version: number): void {
  const v = readByte(d, `${what} version`)
  if (v !== version) throw new UnsupportedVersionError(`${what}: version ${v} (this peer speaks ${version})`)
}

export function readByte (d: Decoder, field: string): number {
  if (d.pos >= d.arr.length) throw new InvalidMessageError(`${field}: truncated`)
  return decoding.readUint8(d)
}

/** a varuint that is a safe integer <= max */
export function readUint (d: Decoder, field: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = decoding.readVarUint(d)
  if (!Number.isSafeInteger(n) || n > max) throw new InvalidMessageError(`${field}: ${n} out of range (max ${max})`)
  return n
}

export function readBool (d: Decoder, field: string): boolean {
  const b = readByte(d, field)
  if (b > 1) throw new InvalidMessageError(`${field}: not a boolean`)
  return b === 1
}

/** length-prefixed bytes of at most `maxBytes`, copied out of the input */
export function readBytes (d: Decoder, field: string, maxBytes: number): Uint8Array {
  const len = decoding.readVarUint(d)
  if (len > maxBytes) throw new MessageTooLargeError(`${field}: ${len} bytes exceeds ${maxBytes}`)
  if (len > d.arr.length - d.pos) throw new InvalidMessageError(`${field}: truncated`)
  return decoding.readUint8Array(d, len).slice()
}

/** a length-prefixed, well-formed UTF-8 string of at most `maxBytes` bytes */
export function readString (d: Decoder, field: string, maxBytes: number): string {
  const bytes = readBytes(d, field, maxBytes)
  try {
    return utf8Decoder.decode(bytes)
  } catch (err) {
    throw new InvalidMessageError(`${field}: not UTF-8`, { cause: err })
  }
}

/** a varuint count of at most `max` items, also bounded by the bytes left (each item >= 1 byte) */
export function readCount (d: Decoder, field: string, max: number): number {
  const n = readUint(d, field, max)
  if (n > d.arr.length - d.pos) throw new InvalidMessageError(`${field}: ${n} items cannot fit in the bytes left`)
  return n
}

export function writeString (e: Encoder, s: string): void {
  encoding.writeVarString(e, s)
}

export function writeBytes (e: Encoder, b: Uint8Array): void {
  encoding.writeVarUint8Array(e, b)
}

export function writeUint (e: Encoder, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`cannot encode ${n} as an unsigned integer`)
  encoding.writeVarUint(e, n)
}

export function writeBool (e: Encoder, b: boolean): void {
  encoding.writeUint8(e, b ? 1 : 0)
}

/**
 * encoders kept for the next encodeWith, each with the buffer it grew to (at most
 * MAX_KEPT_ENCODER_BYTES): a frame, a command or a record is then written into a buffer of the
 * right size at once instead of lib0's 100 bytes doubled and joined. A stack, since encodeWith
 * nests (a frame's writer encoding a command).
 */
const spareEncoders: Encoder[] = []
const MAX_SPARE_ENCODERS = 4
const MAX_KEPT_ENCODER_BYTES = 64 * 1024

export function encodeWith (write: (e: Encoder) => void): Uint8Array {
  const e = spareEncoders.pop() ?? encoding.createEncoder()
  try {
    write(e)
    return encoding.toUint8Array(e)
  } finally {
    e.cpos = 0
    e.bufs.length = 0
    if (e.cbuf.byteLength > MAX_KEPT_ENCODER_BYTES) e.cbuf = new Uint8Array(100)
    if (spareEncoders.length < MAX_SPARE_ENCODERS) spareEncoders.push(e)
  }
}
