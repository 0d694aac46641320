/**
 * Write-ahead log records: `[payload length u32 LE][CRC-32 of type + payload u32 LE][type u8][payload]`.
 * Payloads are lib0 varints (as the Store codec):
 *   entries    [count, firstIndex, (term, type, data) * count]
 *   hard state [term, vote, commit]
 *   snapshot   [index, term]       the log was replaced by the snapshot at index (data kept in the Store)
 *   compact    [index, term]       entries up to index dropped; also each segment's opening record
 *   saved snap [index, term]       a snapshot at index was saved in the Store (the log is unchanged)
 * A zero length marks the end of the data (segments are preallocated with zeros).
 */
import { crc32 } from 'node:zlib'
import { MAX_LOG_ENTRY_RECORD_BYTES, MAX_STORED_NODE_ID_BYTES } from '../constants.ts'
import { EntryType } from '../raft/types.ts'
import type { Entry } from '../raft/types.ts'
import type { LogChange } from '../log-plan.ts'
import { decodeWith, encodeWith, readBytes, readCount, readString, readUint, writeBytes, writeString, writeUint } from '../wire.ts'
import { MAX_WAL_RECORD_BYTES, MAX_WAL_RECORD_ENTRIES, WAL_RECORD_HEADER_BYTES } from './constants.ts'

export const enum WalRecordType {
  Entries = 1,
  HardState = 2,
  Snapshot = 3,
  Compact = 4,
  SavedSnapshot = 5
}

function payloadOf (c: LogChange): [WalRecordType, Uint8Array] {
  switch (c.kind) {
    case 'entries':
      return [WalRecordType.Entries, encodeWith(enc => {
        writeUint(enc, c.entries.length)
        writeUint(enc, c.entries[0].index)
        for (const e of c.entries) {
          writeUint(enc, e.term)
          writeUint(enc, e.type)
          writeBytes(enc, e.data)
        }
      })]
    case 'hardState':
      return [WalRecordType.HardState, encodeWith(enc => {
        writeUint(enc, c.hardState.term)
        writeString(enc, c.hardState.vote)
        writeUint(enc, c.hardState.commit)
      })]
    case 'snapshot':
    case 'compact':
    case 'savedSnapshot':
      return [c.kind === 'snapshot' ? WalRecordType.Snapshot : c.kind === 'compact' ? WalRecordType.Compact : WalRecordType.SavedSnapshot, encodeWith(enc => {
        writeUint(enc, c.index)
        writeUint(enc, c.term)
      })]
  }
}

/** the changes as consecutive records in one buffer (one write) */
export function encodeRecords (changes: LogChange[]): Buffer {
  const parts: Array<[WalRecordType, Uint8Array]> = []
  let total = 0
  for (const c of changes) {
    if (c.kind === 'entries' && c.entries.length === 0) continue
    const p = payloadOf(c)
    parts.push(p)
    total += WAL_RECORD_HEADER_BYTES + p[1].byteLength
  }
  const buf = Buffer.allocUnsafe(total)
  let at = 0
  for (const [type, payload] of parts) {
    buf.writeUInt32LE(payload.byteLength, at)
    buf[at + 8] = type
    buf.set(payload, at + WAL_RECORD_HEADER_BYTES)
    buf.writeUInt32LE(crc32(payload, crc32(buf.subarray(at + 8, at + 9))), at + 4)
    at += WAL_RECORD_HEADER_BYTES + payload.byteLength
  }
  return buf
}

export type ReadResult =
  | { kind: 'record', change: LogChange, next: number }
  | { kind: 'end' }
  /** a record cut short or failing its CRC (or undecodable): everything from `at` is not trusted */
  | { kind: 'torn', reason: string }

/** the record at `at` of a segment's bytes */
export function readRecord (buf: Uint8Array, at: number): ReadResult {
  if (at + 4 > buf.byteLength) return { kind: 'end' }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const length = view.getUint32(at, true)
  if (length === 0) return { kind: 'end' }
  if (length > MAX_WAL_RECORD_BYTES) return { kind: 'torn', reason: `record length ${length} exceeds ${MAX_WAL_RECORD_BYTES}` }
  const next = at + WAL_RECORD_HEADER_BYTES + length
  if (next > buf.byteLength) return { kind: 'torn', reason: `record of ${length} bytes cut short at ${buf.byteLength - at - WAL_RECORD_HEADER_BYTES}` }
  const stored = view.getUint32(at + 4, true)
  const body = buf.subarray(at + 8, next)
  if (crc32(body) !== stored) return { kind: 'torn', reason: 'CRC mismatch' }
  try {
    return { kind: 'record', change: decodePayload(body[0], body.subarray(1)), next }
  } catch (err) {
    return { kind: 'torn', reason: `undecodable record: ${err instanceof Error ? err.message : String(err)}` }
  }
}

function decodePayload (type: number, payload: Uint8Array): LogChange {
  switch (type) {
    case WalRecordType.Entries:
      return decodeWith('wal entries', payload, MAX_WAL_RECORD_BYTES, d => {
        const count = readCount(d, 'entry count', MAX_WAL_RECORD_ENTRIES)
        const first = readUint(d, 'first index')
        const entries: Entry[] = []
        for (let k = 0; k < count; k++) {
          const term = readUint(d, 'entry term')
          const t = readUint(d, 'entry type', 1)
          const data = readBytes(d, 'entry data', MAX_LOG_ENTRY_RECORD_BYTES)
          entries.push({ index: first + k, term, type: t === 1 ? EntryType.ConfChange : EntryType.Normal, data })
        }
        if (count === 0) throw new RangeError('empty entries record')
        return { kind: 'entries', entries }
      })
    case WalRecordType.HardState:
      return decodeWith('wal hard state', payload, MAX_WAL_RECORD_BYTES, d => {
        const term = readUint(d, 'term')
        const vote = readString(d, 'vote', MAX_STORED_NODE_ID_BYTES)
        const commit = readUint(d, 'commit')
        return { kind: 'hardState', hardState: { term, vote, commit } }
      })
    case WalRecordType.Snapshot:
    case WalRecordType.Compact:
    case WalRecordType.SavedSnapshot:
      return decodeWith('wal index record', payload, MAX_WAL_RECORD_BYTES, d => {
        const index = readUint(d, 'index')
        const term = readUint(d, 'term')
        return { kind: type === WalRecordType.Snapshot ? 'snapshot' : type === WalRecordType.Compact ? 'compact' : 'savedSnapshot', index, term }
      })
    default:
      throw new RangeError(`unknown record type ${type}`)
  }
}
