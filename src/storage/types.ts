import type { AbortOptions } from '../util/abort.ts'

/**
 * The one storage boundary: an ordered key-value store with atomic batches.
 * Implementations: memory (tests, `storage: 'memory'`), LevelDB via classic-level (Node),
 * IndexedDB via idb (browsers). Keys are strings compared by UTF-16 code unit; keep them ASCII
 * (and fixed-width for numbers, e.g. `log/000000000042`) so every backend orders them alike.
 */
export interface WriteOptions extends AbortOptions {
  /**
   * true (default): the write is durable when the promise resolves (fsync on LevelDB, strict
   * durability on IndexedDB). false: may be lost on a crash — use only for caches.
   */
  sync?: boolean
}

export type BatchOp =
  | { type: 'put', key: string, value: Uint8Array }
  | { type: 'del', key: string }

export interface RangeOptions {
  /** keys >= gte */
  gte?: string
  /** keys < lt */
  lt?: string
  reverse?: boolean
  limit?: number
}

export interface Store {
  get: (key: string) => Promise<Uint8Array | undefined>
  put: (key: string, value: Uint8Array, options?: WriteOptions) => Promise<void>
  del: (key: string, options?: WriteOptions) => Promise<void>
  /** all ops applied atomically: after a crash either all or none are visible */
  batch: (ops: BatchOp[], options?: WriteOptions) => Promise<void>
  /** entries in key order (or reverse), within the range */
  entries: (range?: RangeOptions) => AsyncIterable<[string, Uint8Array]>
  /** deletes every key in the range, atomically */
  clear: (range?: RangeOptions) => Promise<void>
  /** a view whose keys are all prefixed with `prefix` (the view sees them without it) */
  sub: (prefix: string) => Store
  close: () => Promise<void>
}

/** the range covering every key that starts with `prefix` */
export function prefixRange (prefix: string): { gte: string, lt: string } {
  return { gte: prefix, lt: prefix + '\uffff' }
}
