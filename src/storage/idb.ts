/**
 * IndexedDB backend for browsers (via idb). One object store of out-of-line string keys and
 * Uint8Array values. Writes run in a transaction with `durability: 'strict'` (unless `sync: false`)
 * and resolve only when the transaction committed; an aborted or failed commit is a StorageError.
 * Iteration reads in short transactions of bounded size, so a consumer may await anything between
 * entries without the transaction going inactive.
 */
import { openDB } from 'idb'
import type { IDBPDatabase } from 'idb'
import { StorageError } from '../errors.ts'
import { throwIfAborted } from '../util/abort.ts'
import { componentLogger } from '../util/logger.ts'
import { prefixedStore } from './prefixed.ts'
import type { BatchOp, RangeOptions, Store, WriteOptions } from './types.ts'

const log = componentLogger('storage:idb')

const OBJECT_STORE = 'kv'
const SCHEMA_VERSION = 1
/** entries read per iteration transaction */
const ITERATOR_CHUNK_ENTRIES = 256

function storageError (what: string, err: unknown): Error {
  if (err instanceof StorageError) return err
  const message = (err as Error)?.message ?? String(err)
  log.error('%s failed: %s', what, message)
  return new StorageError(`indexeddb ${what} failed: ${message}`, { cause: err })
}

/** the IDBKeyRange for [gte, lt), or null for "everything"; 'empty' when the range holds nothing */
function keyRange (gte: string | undefined, lt: string | undefined, gteOpen = false, ltOpen = true): IDBKeyRange | null | 'empty' {
  if (gte != null && lt != null) {
    if (gte > lt || (gte === lt && (gteOpen || ltOpen))) return 'empty'
    return IDBKeyRange.bound(gte, lt, gteOpen, ltOpen)
  }
  if (gte != null) return IDBKeyRange.lowerBound(gte, gteOpen)
  if (lt != null) return IDBKeyRange.upperBound(lt, ltOpen)
  return null
}

function asBytes (v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v
  if (v instanceof ArrayBuffer) return new Uint8Array(v)
  throw new StorageError('indexeddb: stored value is not bytes')
}

export class IdbStore implements Store {
  private readonly db: IDBPDatabase
  private closed = false

  private constructor (db: IDBPDatabase) {
    this.db = db
  }

  /** opens (creating if missing) the IndexedDB database `name` */
  static async open (name: string): Promise<IdbStore> {
    let store: IdbStore | undefined
    try {
      const db = await openDB(name, SCHEMA_VERSION, {
        upgrade (database) {
          if (!database.objectStoreNames.contains(OBJECT_STORE)) database.createObjectStore(OBJECT_STORE)
        },
        blocking () {
          // a newer schema wants the database: let it, and fail our later calls clearly
          log('database %s is wanted by a newer version; closing', name)
          store?.markClosed()
        },
        terminated () {
          log.error('database %s was closed by the browser', name)
          store?.markClosed(false)
        }
      })
      store = new IdbStore(db)
      return store
    } catch (err) {
      throw storageError(`open ${name}`, err)
    }
  }

  get name (): string {
    return this.db.name
  }

  async get (key: string): Promise<Uint8Array | undefined> {
    this.assertOpen()
    try {
      const v = await this.db.get(OBJECT_STORE, key)
      return v === undefined ? undefined : asBytes(v)
    } catch (err) {
      throw storageError('get', err)
    }
  }

  async put (key: string, value: Uint8Array, options?: WriteOptions): Promise<void> {
    await this.batch([{ type: 'put', key, value }], options)
  }

  async del (key: string, options?: WriteOptions): Promise<void> {
    await this.batch([{ type: 'del', key }], options)
  }

  async batch (ops: BatchOp[], options: WriteOptions = {}): Promise<void> {
    this.assertOpen()
    throwIfAborted(options.signal)
    if (ops.length === 0) return
    try {
      const tx = this.db.transaction(OBJECT_STORE, 'readwrite', { durability: options.sync === false ? 'relaxed' : 'strict' })
      const requests: Array<Promise<unknown>> = ops.map(op => op.type === 'put'
        ? tx.store.put(op.value.slice(), op.key)
        : tx.store.delete(op.key))
      await Promise.all([...requests, tx.done])
    } catch (err) {
      throw storageError('batch', err)
    }
  }

  async * entries (range: RangeOptions = {}): AsyncIterable<[string, Uint8Array]> {
    this.assertOpen()
    const reverse = range.reverse === true
    let remaining = range.limit ?? Infinity
    let gte = range.gte
    let lt = range.lt
    let gteOpen = false
    let ltOpen = true
    while (remaining > 0) {
      const r = keyRange(gte, lt, gteOpen, ltOpen)
      if (r === 'empty') return
      const chunk = await this.readChunk(r, reverse, Math.min(remaining, ITERATOR_CHUNK_ENTRIES))
      for (const entry of chunk) yield entry
      if (chunk.length < Math.min(remaining, ITERATOR_CHUNK_ENTRIES)) return
      remaining -= chunk.length
      const lastKey = chunk[chunk.length - 1][0]
      if (reverse) { lt = lastKey; ltOpen = true } else { gte = lastKey; gteOpen = true }
    }
  }

  async clear (range: RangeOptions = {}): Promise<void> {
    this.assertOpen()
    const r = keyRange(range.gte, range.lt)
    if (r === 'empty') return
    try {
      const tx = this.db.transaction(OBJECT_STORE, 'readwrite', { durability: 'strict' })
      if (range.limit == null) {
        await Promise.all([r == null ? tx.store.clear() : tx.store.delete(r), tx.done])
        return
      }
      let left = range.limit
      let cursor = await tx.store.openCursor(r, range.reverse === true ? 'prev' : 'next')
      while (cursor != null && left > 0) {
        await cursor.delete()
        left--
        cursor = await cursor.continue()
      }
      await tx.done
    } catch (err) {
      throw storageError('clear', err)
    }
  }

  sub (prefix: string): Store {
    return prefixedStore(this, prefix)
  }

  async close (): Promise<void> {
    this.markClosed()
  }

  private markClosed (closeDb = true): void {
    if (this.closed) return
    this.closed = true
    if (closeDb) this.db.close()
  }

  private async readChunk (r: IDBKeyRange | null, reverse: boolean, n: number): Promise<Array<[string, Uint8Array]>> {
    const out: Array<[string, Uint8Array]> = []
    try {
      const tx = this.db.transaction(OBJECT_STORE, 'readonly')
      let cursor = await tx.store.openCursor(r, reverse ? 'prev' : 'next')
      while (cursor != null && out.length < n) {
        if (typeof cursor.key !== 'string') throw new StorageError('indexeddb: stored key is not a string')
        out.push([cursor.key, asBytes(cursor.value)])
        if (out.length < n) cursor = await cursor.continue()
      }
      await tx.done
    } catch (err) {
      throw storageError('iterate', err)
    }
    return out
  }

  private assertOpen (): void {
    if (this.closed) throw new StorageError('indexeddb store is closed')
  }
}
