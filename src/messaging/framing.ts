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
import { MAX_FRAME_BYTES } from './constants.ts'

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
  const enc = encoding.createEncoder()
  encoding.writeVarUint8Array(enc, body)
  return encoding.toUint8Array(enc)
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
