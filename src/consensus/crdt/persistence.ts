/**
 * One document's durable update log over the Store contract: every update is appended (synced
 * writes, group-committed in batches), and once the log passes a threshold it is compacted into
 * one merged update (`Y.mergeUpdates`), atomically. A restart restores the doc from these updates.
 */
import * as Y from 'yjs'
import { StorageError } from '../../errors.ts'
import { deferred } from '../../util/abort.ts'
import type { Logger } from '../../util/logger.ts'
import type { Store, BatchOp } from '../../storage/types.ts'
import { COMPACT_AFTER_BYTES, COMPACT_AFTER_UPDATES, MAX_PERSIST_BATCH_UPDATES } from './constants.ts'

const UPDATE_PREFIX = 'u/'
const SEQ_DIGITS = 16

export interface DocPersistenceInit {
  compactAfterUpdates?: number
  compactAfterBytes?: number
  /** called after every durable write with the state vector it made durable */
  onPersisted?: (stateVector: Uint8Array) => void
  log: Logger
}

interface Pending {
  update: Uint8Array
  stateVector: Uint8Array
  done: ReturnType<typeof deferred<void>>
}

function updateKey (seq: number): string {
  return UPDATE_PREFIX + String(seq).padStart(SEQ_DIGITS, '0')
}

export class DocPersistence {
  private readonly store: Store
  private readonly compactAfterUpdates: number
  private readonly compactAfterBytes: number
  private readonly onPersisted?: (stateVector: Uint8Array) => void
  private readonly log: Logger
  private queue: Pending[] = []
  private running: Promise<void> | undefined
  private nextSeq = 0
  private storedUpdates = 0
  private storedBytes = 0
  private persistedVector: Uint8Array | undefined
  compactions = 0

  constructor (store: Store, init: DocPersistenceInit) {
    this.store = store
    this.compactAfterUpdates = init.compactAfterUpdates ?? COMPACT_AFTER_UPDATES
    this.compactAfterBytes = init.compactAfterBytes ?? COMPACT_AFTER_BYTES
    this.onPersisted = init.onPersisted
    this.log = init.log
  }

  /** the updates stored so far, oldest first; call once, before the first append */
  async loadUpdates (): Promise<Uint8Array[]> {
    const updates: Uint8Array[] = []
    let last = -1
    let bytes = 0
    try {
      for await (const [key, value] of this.store.entries({ gte: UPDATE_PREFIX, lt: UPDATE_PREFIX + '\uffff' })) {
        const seq = Number(key.slice(UPDATE_PREFIX.length))
        if (!Number.isSafeInteger(seq)) continue
        updates.push(value)
        bytes += value.byteLength
        last = Math.max(last, seq)
      }
    } catch (err) {
      throw new StorageError('could not read the document update log', { cause: err })
    }
    this.nextSeq = last + 1
    this.storedUpdates = updates.length
    this.storedBytes = bytes
    return updates
  }

  /** updates accepted but not yet durable */
  get pendingUpdates (): number {
    return this.queue.length
  }

  /** the state vector covered by durable writes (undefined before the first one) */
  get persistedStateVector (): Uint8Array | undefined {
    return this.persistedVector
  }

  /** marks a state as durable without writing (after restoring from the log) */
  markPersisted (stateVector: Uint8Array): void {
    this.persistedVector = stateVector
  }

  get storedUpdateCount (): number {
    return this.storedUpdates
  }

  /**
   * appends an update; `stateVector` is the doc's state vector just after it. Resolves when durable.
   */
  async append (update: Uint8Array, stateVector: Uint8Array): Promise<void> {
    const done = deferred<void>()
    this.queue.push({ update, stateVector, done })
    this.running ??= this.drainQueue()
    await done.promise
  }

  /** resolves when every update appended so far was written (or failed) */
  async idle (): Promise<void> {
    while (this.running != null) await this.running
  }

  /** deletes the whole log */
  async purge (): Promise<void> {
    await this.idle()
    await this.store.clear()
    this.storedUpdates = 0
    this.storedBytes = 0
  }

  /** writes until the queue is empty; clears `running` in the same step as the last empty check */
  private async drainQueue (): Promise<void> {
    try {
      for (;;) {
        while (this.queue.length > 0) await this.writeBatch()
        // compact once the burst is written, not after each batch of it
        if (this.storedUpdates <= this.compactAfterUpdates && this.storedBytes <= this.compactAfterBytes) break
        await this.compact().catch(err => { this.log.error('compaction failed: %s', (err as Error)?.message) })
        if (this.queue.length === 0) break
      }
    } finally {
      this.running = undefined
    }
  }

  private async writeBatch (): Promise<void> {
    const batch = this.queue.splice(0, MAX_PERSIST_BATCH_UPDATES)
    const ops: BatchOp[] = batch.map(p => ({ type: 'put', key: updateKey(this.nextSeq++), value: p.update }))
    try {
      await this.store.batch(ops, { sync: true })
    } catch (err) {
      const e = new StorageError('could not append to the document update log', { cause: err })
      this.log.error('persist failed: %s', (err as Error)?.message)
      for (const p of batch) p.done.reject(e)
      return
    }
    this.storedUpdates += batch.length
    for (const p of batch) this.storedBytes += p.update.byteLength
    this.persistedVector = batch[batch.length - 1].stateVector
    for (const p of batch) p.done.resolve()
    this.onPersisted?.(this.persistedVector)
  }

  /** merges the whole log into one update, replacing the entries atomically */
  private async compact (): Promise<void> {
    const keys: string[] = []
    const updates: Uint8Array[] = []
    for await (const [key, value] of this.store.entries({ gte: UPDATE_PREFIX, lt: UPDATE_PREFIX + '\uffff' })) {
      keys.push(key)
      updates.push(value)
    }
    if (keys.length < 2) return
    const merged = Y.mergeUpdates(updates)
    const last = keys[keys.length - 1]
    const ops: BatchOp[] = keys.slice(0, -1).map(key => ({ type: 'del', key }))
    ops.push({ type: 'put', key: last, value: merged })
    await this.store.batch(ops, { sync: true })
    this.storedUpdates = 1
    this.storedBytes = merged.byteLength
    this.compactions++
    this.log('compacted %d updates into %d bytes', keys.length, merged.byteLength)
  }
}
