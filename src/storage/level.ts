/**
 * LevelDB (classic-level) backend for Node. Writes are fsynced unless `sync: false`; a batch is
 * one LevelDB write batch, so it is atomic across crashes. Every backend failure surfaces as
 * StorageError with the cause attached.
 */
import { ClassicLevel } from 'classic-level'
import { StorageError } from '../errors.ts'
import { throwIfAborted } from '../util/abort.ts'
import { componentLogger } from '../util/logger.ts'
import { prefixedStore } from './prefixed.ts'
import type { BatchOp, RangeOptions, Store, WriteOptions } from './types.ts'

const log = componentLogger('storage:level')

/** how many entries an iterator reads from LevelDB per native call */
const ITERATOR_CHUNK_ENTRIES = 256

type Db = ClassicLevel<string, Uint8Array>

function storageError (what: string, err: unknown): Error {
  if (err instanceof StorageError) return err
  log.error('%s failed: %s', what, (err as Error)?.message ?? String(err))
  return new StorageError(`leveldb ${what} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

function toUint8 (v: Uint8Array): Uint8Array {
  // classic-level hands out Buffers (view encoding); give callers plain Uint8Arrays they own
  return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength))
}

export class LevelStore implements Store {
  private readonly db: Db
  private closed = false

  private constructor (db: Db) {
    this.db = db
  }

  /** opens (creating if missing) the LevelDB database in `directory` */
  static async open (directory: string): Promise<LevelStore> {
    const db = new ClassicLevel<string, Uint8Array>(directory, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      await db.open({ createIfMissing: true })
    } catch (err) {
      throw storageError(`open ${directory}`, err)
    }
    return new LevelStore(db)
  }

  get location (): string {
    return this.db.location
  }

  async get (key: string): Promise<Uint8Array | undefined> {
    this.assertOpen()
    try {
      const v = await this.db.get(key)
      return v == null ? undefined : toUint8(v)
    } catch (err) {
      throw storageError('get', err)
    }
  }

  async put (key: string, value: Uint8Array, options: WriteOptions = {}): Promise<void> {
    this.assertOpen()
    throwIfAborted(options.signal)
    try {
      await this.db.put(key, value, { sync: options.sync ?? true })
    } catch (err) {
      throw storageError('put', err)
    }
  }

  async del (key: string, options: WriteOptions = {}): Promise<void> {
    this.assertOpen()
    throwIfAborted(options.signal)
    try {
      await this.db.del(key, { sync: options.sync ?? true })
    } catch (err) {
      throw storageError('del', err)
    }
  }

  async batch (ops: BatchOp[], options: WriteOptions = {}): Promise<void> {
    this.assertOpen()
    throwIfAborted(options.signal)
    if (ops.length === 0) return
    try {
      await this.db.batch(ops.map(op => op.type === 'put'
        ? { type: 'put' as const, key: op.key, value: op.value }
        : { type: 'del' as const, key: op.key }), { sync: options.sync ?? true })
    } catch (err) {
      throw storageError('batch', err)
    }
  }

  async * entries (range: RangeOptions = {}): AsyncIterable<[string, Uint8Array]> {
    this.assertOpen()
    if (range.limit != null && range.limit <= 0) return
    const it = this.db.iterator({
      ...(range.gte != null ? { gte: range.gte } : {}),
      ...(range.lt != null ? { lt: range.lt } : {}),
      reverse: range.reverse === true,
      limit: range.limit ?? -1
    })
    try {
      while (true) {
        let chunk: Array<[string, Uint8Array]>
        try {
          chunk = await it.nextv(ITERATOR_CHUNK_ENTRIES)
        } catch (err) {
          throw storageError('iterate', err)
        }
        if (chunk.length === 0) return
        for (const [k, v] of chunk) yield [k, toUint8(v)]
      }
    } finally {
      await it.close().catch(() => {})
    }
  }

  /** deletes the range in one synced write batch (LevelDB's native clear is neither atomic nor synced) */
  async clear (range: RangeOptions = {}): Promise<void> {
    this.assertOpen()
    const ops: BatchOp[] = []
    const keys = this.db.keys({
      ...(range.gte != null ? { gte: range.gte } : {}),
      ...(range.lt != null ? { lt: range.lt } : {}),
      reverse: range.reverse === true,
      limit: range.limit ?? -1
    })
    try {
      for await (const k of keys) ops.push({ type: 'del', key: k })
    } catch (err) {
      throw storageError('clear', err)
    } finally {
      await keys.close().catch(() => {})
    }
    await this.batch(ops)
  }

  sub (prefix: string): Store {
    return prefixedStore(this, prefix)
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      await this.db.close()
    } catch (err) {
      throw storageError('close', err)
    }
  }

  private assertOpen (): void {
    if (this.closed) throw new StorageError('leveldb store is closed')
  }
}
