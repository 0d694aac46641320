/**
 * Length-prefixed frames for libp2p streams: `varuint length | length bytes`. The decoder takes
 * chunks of any size and shape (libp2p v3 streams yield Uint8Array or Uint8ArrayList; both have
 * `.subarray()`) and returns whole frames. A length prefix over the limit is refused with
 * MessageTooLargeError as soon as the prefix is read, before any of the body is buffered; a
 * malformed prefix or a stream that ends inside a frame is InvalidMessageError. After an error the
 * decoder stays failed: the stream it reads must be aborted.
 */
import * as encoding from 'lib0/encoding'
import { InvalidArgumentError, InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import { MAX_ENVELOPE_BYTES, MAX_FRAME_BYTES, RPC_BATCH_MAX_ENVELOPES } from './constants.ts'

/** what a libp2p stream yields: a Uint8Array or a Uint8ArrayList */
export type StreamChunk = Uint8Array | { subarray: () => Uint8Array }

export interface FrameOptions {
  /** largest frame body accepted (default MAX_FRAME_BYTES) */
  maxFrameBytes?: number
}

/** one frame: the varuint length of `body` followed by `body` */
export function encodeFrame (body: Uint8Array, options: FrameOptions = {}): Uint8Array {
  const max = options.maxFrameBytes ?? MAX_FRAME_BYTES
  if (!(body instanceof Uint8Array)) throw new InvalidArgumentError('frame body must be a Uint8Array')
  if (body.length > max) throw new MessageTooLargeError(`frame: ${body.length} bytes exceeds ${max}`)
  // one allocation of the exact size (a lib0 encoder starts at 100 bytes and joins its buffers)
  const out = new Uint8Array(varuintLength(body.length) + body.length)
  out.set(body, writeVaruint(out, 0, body.length))
  return out
}

function varuintLength (n: number): number {
  let len = 1
  while (n >= 0x80) { n = Math.floor(n / 0x80); len++ }
  return len
}

function writeVaruint (out: Uint8Array, off: number, n: number): number {
  while (n >= 0x80) {
    out[off++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 0x80)
  }
  out[off++] = n
  return off
}

/**
 * Several envelopes as one buffer for a single stream write. `batched` false (RPC 1.0): one frame
 * per envelope, back to back. `batched` true (RPC 2.0): frames whose body is
 * `varuint count | (varuint length | envelope){count}`, each at most RPC_BATCH_MAX_ENVELOPES
 * envelopes and MAX_FRAME_BYTES long. Every body must be at most MAX_ENVELOPE_BYTES.
 */
export function encodeFrames (bodies: readonly Uint8Array[], batched: boolean): Uint8Array {
  // [start, end, bodyBytes] of each batch (one per body when not batched)
  const groups: Array<[number, number, number]> = []
  let total = 0
  let i = 0
  while (i < bodies.length) {
    const start = i
    let sum = 0
    do {
      const b = bodies[i]
      if (b.length > MAX_ENVELOPE_BYTES) throw new MessageTooLargeError(`frame: ${b.length} bytes exceeds ${MAX_ENVELOPE_BYTES}`)
      const add = batched ? varuintLength(b.length) + b.length : b.length
      // a count of at most RPC_BATCH_MAX_ENVELOPES takes at most 2 bytes
      if (i > start && 2 + sum + add > MAX_FRAME_BYTES) break
      sum += add
      i++
    } while (batched && i < bodies.length && i - start < RPC_BATCH_MAX_ENVELOPES)
    const inner = batched ? varuintLength(i - start) + sum : sum
    groups.push([start, i, inner])
    total += varuintLength(inner) + inner
  }
  const out = new Uint8Array(total)
  let off = 0
  for (const [start, end, inner] of groups) {
    off = writeVaruint(out, off, inner)
    if (batched) off = writeVaruint(out, off, end - start)
    for (let j = start; j < end; j++) {
      const b = bodies[j]
      if (batched) off = writeVaruint(out, off, b.length)
      out.set(b, off)
      off += b.length
    }
  }
  return out
}

/**
 * The envelopes of an RPC 2.0 batch frame (views into it, not copies). InvalidMessageError when
 * the count or a length is wrong or bytes are left over; MessageTooLargeError for a body over
 * MAX_ENVELOPE_BYTES.
 */
export function decodeBatchFrame (frame: Uint8Array): Uint8Array[] {
  let off = 0
  const readLen = (field: string): number => {
    let n = 0
    for (let shift = 0; ; shift += 7) {
      if (off >= frame.length || shift > 28) throw new InvalidMessageError(`batch frame: malformed ${field}`)
      const b = frame[off++]
      n += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return n
    }
  }
  const count = readLen('count')
  if (count < 1 || count > RPC_BATCH_MAX_ENVELOPES) throw new InvalidMessageError(`batch frame: ${count} envelopes (1..${RPC_BATCH_MAX_ENVELOPES})`)
  const out: Uint8Array[] = []
  for (let k = 0; k < count; k++) {
    const len = readLen('length')
    if (len > MAX_ENVELOPE_BYTES) throw new MessageTooLargeError(`batch frame: envelope of ${len} bytes exceeds ${MAX_ENVELOPE_BYTES}`)
    if (len > frame.length - off) throw new InvalidMessageError('batch frame: truncated envelope')
    out.push(frame.subarray(off, off + len))
    off += len
  }
  if (off !== frame.length) throw new InvalidMessageError('batch frame: trailing bytes')
  return out
}

export class FrameDecoder {
  private readonly maxFrameBytes: number
  private readonly maxPrefixBytes: number
  // prefix being read
  private prefixValue = 0
  private prefixBytes = 0
  // body being read
  private body: Uint8Array | undefined
  private bodyFilled = 0
  private failure: Error | undefined

  constructor (options: FrameOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES
    if (!Number.isSafeInteger(this.maxFrameBytes) || this.maxFrameBytes < 0) throw new InvalidArgumentError('maxFrameBytes must be a non-negative integer')
    let n = 1
    while (2 ** (7 * n) <= this.maxFrameBytes) n++
    this.maxPrefixBytes = Math.max(n, 1)
  }

  /** true while part of a frame has been received but not all of it */
  get hasPartialFrame (): boolean {
    return this.prefixBytes > 0 || this.body != null
  }

  /** feeds one chunk; returns the frames it completed, in order */
  push (chunk: StreamChunk): Uint8Array[] {
    if (this.failure != null) throw this.failure
    const data = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    const frames: Uint8Array[] = []
    try {
      let off = 0
      while (off < data.length) {
        if (this.body == null) {
          off = this.readPrefixByte(data, off, frames)
        } else {
          const take = Math.min(this.body.length - this.bodyFilled, data.length - off)
          this.body.set(data.subarray(off, off + take), this.bodyFilled)
          this.bodyFilled += take
          off += take
          if (this.bodyFilled === this.body.length) {
            frames.push(this.body)
            this.body = undefined
            this.bodyFilled = 0
          }
        }
      }
    } catch (err) {
      this.failure = err as Error
      throw err
    }
    return frames
  }

  /** the stream ended: InvalidMessageError if it stopped inside a frame */
  end (): void {
    if (this.failure != null) throw this.failure
    if (this.hasPartialFrame) {
      this.failure = new InvalidMessageError('frame: stream ended inside a frame')
      throw this.failure
    }
  }

  private readPrefixByte (data: Uint8Array, off: number, frames: Uint8Array[]): number {
    const b = data[off]
    this.prefixValue += (b & 0x7f) * 2 ** (7 * this.prefixBytes)
    this.prefixBytes++
    if ((b & 0x80) !== 0) {
      // the value read so far is a lower bound; a longer prefix than the limit needs is too large
      if (this.prefixValue > this.maxFrameBytes || this.prefixBytes >= this.maxPrefixBytes) {
        throw new MessageTooLargeError(`frame: length prefix exceeds ${this.maxFrameBytes} bytes`)
      }
      return off + 1
    }
    if (this.prefixBytes > 1 && b === 0) throw new InvalidMessageError('frame: non-minimal length prefix')
    const len = this.prefixValue
    this.prefixValue = 0
    this.prefixBytes = 0
    if (len > this.maxFrameBytes) throw new MessageTooLargeError(`frame: ${len} bytes exceeds ${this.maxFrameBytes}`)
    if (len === 0) frames.push(new Uint8Array(0))
    else { this.body = new Uint8Array(len); this.bodyFilled = 0 }
    return off + 1
  }
}

/** whole frames from a stream (any async iterable of chunks); throws typed errors on bad input */
export async function * decodeFrames (source: AsyncIterable<StreamChunk>, options: FrameOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const decoder = new FrameDecoder(options)
  for await (const chunk of source) {
    for (const frame of decoder.push(chunk)) yield frame
  }
  decoder.end()
}
