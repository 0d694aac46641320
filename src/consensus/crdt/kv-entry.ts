/**
 * How a YKeyValue entry is stored in its Y.Array: one binary element per entry (lib0's `writeAny`
 * of `{k, v, t?, d?}`). A binary element is its own Yjs item that never merges with its neighbours
 * while live, so deleting one entry never splits (copies) a long run of others and appending one
 * never concatenates onto one; once deleted, neighbouring items still collapse into one small
 * deleted run. Entries stored as plain objects (the earlier format) are still read.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/**
 * one stored entry: key, value, for lww policies the write's stamp and a tombstone flag, and the
 * writer's epoch where the map has one (an agent's state: the placement epoch of its owner)
 */
export interface KvEntry {
  k: string
  v?: unknown
  t?: string
  d?: 1
  e?: number
}

/** an element of a YKeyValue's array: an encoded entry, or an entry object in the earlier format */
export type StoredKvEntry = Uint8Array | KvEntry

/** a Uint8Array from any realm (a tab's frame, a worker): `instanceof` only knows this realm's */
function isBytes (x: unknown): x is Uint8Array {
  return ArrayBuffer.isView(x) && Object.prototype.toString.call(x) === '[object Uint8Array]'
}

function isEntry (x: unknown): x is KvEntry {
  if (typeof x !== 'object' || x === null || isBytes(x)) return false
  const e = x as KvEntry
  return typeof e.k === 'string' && (e.t === undefined || typeof e.t === 'string') && (e.d === undefined || e.d === 1) &&
    (e.e === undefined || (Number.isSafeInteger(e.e) && e.e >= 0))
}

export function encodeKvEntry (entry: KvEntry): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeAny(encoder, entry as unknown as Parameters<typeof encoding.writeAny>[1])
  return encoding.toUint8Array(encoder)
}

/** the entry an array element holds; undefined for anything that is not a well-formed entry */
export function decodeKvEntry (stored: unknown): KvEntry | undefined {
  if (isBytes(stored)) {
    try {
      const decoder = decoding.createDecoder(stored)
      const entry = decoding.readAny(decoder)
      return decoder.pos === stored.length && isEntry(entry) ? entry : undefined
    } catch {
      return undefined
    }
  }
  return isEntry(stored) ? stored : undefined
}
