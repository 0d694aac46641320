/**
 * Splitting a snapshot into bounded chunks for the transport, and putting it back together.
 * Pure: no I/O. The reassembler checks every chunk against the first one and refuses anything
 * inconsistent, out of order or too large with a typed error (the caller logs and drops it).
 */
import { InvalidMessageError, MessageTooLargeError } from '../../errors.ts'
import { MAX_SNAPSHOT_BYTES, SNAPSHOT_CHUNK_BYTES } from './constants.ts'
import type { Snapshot, SnapshotMetadata } from './types.ts'

export interface SnapshotChunk {
  /** snapshot index and term: identify which snapshot the chunk belongs to */
  index: number
  term: number
  /** position of this chunk, 0-based, and how many there are */
  seq: number
  count: number
  /** total size of the snapshot data */
  totalBytes: number
  /** only on the first chunk */
  metadata?: SnapshotMetadata
  data: Uint8Array
}

export function chunkSnapshot (snapshot: Snapshot, maxChunkBytes: number = SNAPSHOT_CHUNK_BYTES): SnapshotChunk[] {
  if (!Number.isSafeInteger(maxChunkBytes) || maxChunkBytes <= 0) throw new InvalidMessageError('maxChunkBytes must be a positive integer')
  const { index, term } = snapshot.metadata
  const data = snapshot.data
  const count = Math.max(1, Math.ceil(data.byteLength / maxChunkBytes))
  const chunks: SnapshotChunk[] = []
  for (let seq = 0; seq < count; seq++) {
    const chunk: SnapshotChunk = {
      index,
      term,
      seq,
      count,
      totalBytes: data.byteLength,
      data: data.subarray(seq * maxChunkBytes, Math.min(data.byteLength, (seq + 1) * maxChunkBytes))
    }
    if (seq === 0) chunk.metadata = snapshot.metadata
    chunks.push(chunk)
  }
  return chunks
}

function isNonNegativeInt (n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

/** collects the chunks of one snapshot at a time; a chunk of a newer snapshot starts over */
export class SnapshotReassembler {
  private readonly maxBytes: number
  private current: { index: number, term: number, count: number, totalBytes: number, metadata: SnapshotMetadata, buf: Uint8Array, next: number, offset: number } | undefined

  constructor (maxBytes: number = MAX_SNAPSHOT_BYTES) {
    this.maxBytes = maxBytes
  }

  /** index of the snapshot being assembled, if any */
  get pendingIndex (): number | undefined {
    return this.current?.index
  }

  reset (): void {
    this.current = undefined
  }

  /** adds a chunk; returns the whole snapshot when the last chunk arrives */
  push (chunk: SnapshotChunk): Snapshot | undefined {
    const { index, term, seq, count, totalBytes, data } = chunk
    if (!isNonNegativeInt(index) || !isNonNegativeInt(term) || !isNonNegativeInt(seq) || !isNonNegativeInt(count) ||
      !isNonNegativeInt(totalBytes) || !(data instanceof Uint8Array) || count === 0 || seq >= count) {
      throw new InvalidMessageError('malformed snapshot chunk')
    }
    if (totalBytes > this.maxBytes) throw new MessageTooLargeError(`snapshot of ${totalBytes} bytes exceeds ${this.maxBytes}`)
    if (seq === 0) {
      const md = chunk.metadata
      if (md === undefined || md.index !== index || md.term !== term || !Array.isArray(md.confState?.voters) || !Array.isArray(md.confState?.learners)) {
        throw new InvalidMessageError('first snapshot chunk lacks consistent metadata')
      }
      this.current = { index, term, count, totalBytes, metadata: md, buf: new Uint8Array(totalBytes), next: 0, offset: 0 }
    }
    const cur = this.current
    if (cur === undefined || cur.index !== index || cur.term !== term) {
      throw new InvalidMessageError(`snapshot chunk ${seq} of [index: ${index}, term: ${term}] without its first chunk`)
    }
    if (cur.count !== count || cur.totalBytes !== totalBytes || seq !== cur.next) {
      this.current = undefined
      throw new InvalidMessageError(`snapshot chunk ${seq} out of order or inconsistent (expected ${cur.next} of ${cur.count})`)
    }
    if (cur.offset + data.byteLength > cur.totalBytes) {
      this.current = undefined
      throw new InvalidMessageError('snapshot chunks exceed the announced size')
    }
    cur.buf.set(data, cur.offset)
    cur.offset += data.byteLength
    cur.next++
    if (cur.next < cur.count) return undefined
    this.current = undefined
    if (cur.offset !== cur.totalBytes) throw new InvalidMessageError('snapshot chunks are shorter than the announced size')
    return { metadata: cur.metadata, data: cur.buf }
  }
}
