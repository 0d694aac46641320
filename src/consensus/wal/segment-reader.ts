/**
 * Reading a segment's records back in bounded chunks instead of the whole preallocated file: a
 * restart holds one chunk (or one record, when a record is larger) instead of a 64 MiB buffer, and
 * the zero-filled tail is recognised from the 4 bytes of its first "length".
 *
 * The reader keeps a window of the file; a record straddling the window's edge is read again from
 * its start. The records and torn-record verdicts are the same as `readRecord` over the whole file:
 * the window always holds every byte `readRecord` looks at (the length, then the whole record or
 * everything up to the end of the file).
 */
import type { FileHandle } from 'node:fs/promises'
import { MAX_WAL_RECORD_BYTES, WAL_RECORD_HEADER_BYTES } from './constants.ts'
import { readRecord } from './records.ts'
import type { ReadResult } from './records.ts'

export class SegmentReader {
  private readonly handle: FileHandle
  private readonly chunkBytes: number
  /** bytes of the file (a short read before it ends the file there) */
  private size: number
  private buf: Buffer
  /** file offset of buf[0] */
  private start = 0
  /** bytes of buf holding file data */
  private filled = 0

  constructor (handle: FileHandle, size: number, chunkBytes: number) {
    this.handle = handle
    this.size = size
    this.chunkBytes = Math.max(WAL_RECORD_HEADER_BYTES, chunkBytes)
    this.buf = Buffer.alloc(0)
  }

  /** the file size as read (smaller than given when the file ended early) */
  fileBytes (): number {
    return this.size
  }

  /** the record at file offset `at` (`next` is a file offset too) */
  async read (at: number): Promise<ReadResult> {
    await this.cover(at, WAL_RECORD_HEADER_BYTES)
    if (at + 4 <= this.start + this.filled) {
      const length = this.buf.readUInt32LE(at - this.start)
      if (length > 0 && length <= MAX_WAL_RECORD_BYTES) await this.cover(at, WAL_RECORD_HEADER_BYTES + length)
    }
    const r = readRecord(this.buf.subarray(0, this.filled), at - this.start)
    return r.kind === 'record' ? { ...r, next: r.next + this.start } : r
  }

  /** makes the window hold the file's bytes [at, min(at + bytes, size)) */
  private async cover (at: number, bytes: number): Promise<void> {
    const end = Math.min(at + bytes, this.size)
    if (at >= this.start && end <= this.start + this.filled) return
    // keep what the window already holds from `at` on, then read the rest after it; the buffer
    // grows for a record larger than a chunk and goes back to a chunk after it
    const capacity = Math.max(this.chunkBytes, end - at)
    const held = at >= this.start && at < this.start + this.filled ? this.start + this.filled - at : 0
    const kept = Math.min(held, capacity)
    if (this.buf.byteLength !== capacity && (this.buf.byteLength < capacity || this.buf.byteLength > this.chunkBytes)) {
      const next = Buffer.allocUnsafe(capacity)
      this.buf.copy(next, 0, at - this.start, at - this.start + kept)
      this.buf = next
    } else if (kept > 0) {
      this.buf.copyWithin(0, at - this.start, at - this.start + kept)
    }
    this.start = at
    this.filled = kept
    const want = Math.min(capacity, this.size - at)
    while (this.filled < want) {
      const { bytesRead } = await this.handle.read(this.buf, this.filled, want - this.filled, at + this.filled)
      if (bytesRead === 0) {
        this.size = at + this.filled
        break
      }
      this.filled += bytesRead
    }
  }
}
