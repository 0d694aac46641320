/**
 * One document's durable update log over the Store contract: every update is appended (synced
 * writes, group-committed in batches), and once the log passes a threshold it is compacted into
 * one update, atomically: the live doc's encoded state when a `snapshot` is given (linear in the
 * doc), else `Y.mergeUpdates` of the entries (quadratic in their count: 10,000 small updates take
 * about a second). A restart restores the doc from these updates.
 */
import * as Y from 'yjs'
import { StorageError } from '../../errors.ts'
import { deferred } from '../../util/abort.ts'
import type { Logger } from '../../util/logger.ts'
import type { Store, BatchOp } from '../../storage/types.ts'
import { ANNOUNCE_EVERY_BATCHES, COMPACT_AFTER_BYTES, COMPACT_AFTER_UPDATES, MAX_PERSIST_BATCH_BYTES, MAX_PERSIST_BATCH_UPDATES } from './constants.ts'

const UPDATE_PREFIX = 'u/'
const SEQ_DIGITS = 16

export interface DocPersistenceInit {
  compactAfterUpdates?: number
  compactAfterBytes?: number
  /**
   * called with the state vector made durable once the queue is written (and every
   * ANNOUNCE_EVERY_BATCHES batches while it keeps filling), not after every batch
   */
  onPersisted?: (stateVector: Uint8Array) => void
  /**
   * the document's whole current state as one update (`Y.encodeStateAsUpdate`). It must cover
   * every update appended so far, which holds when updates are appended after being applied.
   */
  snapshot?: () => Uint8Array
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
  private readonly snapshot?: () => Uint8Array
  private readonly log: Logger
  private queue: Pending[] = []
  private running: Promise<void> | undefined
  private nextSeq = 0
  private storedUpdates = 0
  private storedBytes = 0
  /** size of the entry the last compaction wrote: the log is compacted again once it doubled */
  private compactedBytes = 0
  private persistedVector: Uint8Array | undefined
  compactions = 0

  constructor (store: Store, init: DocPersistenceInit) {
    this.store = store
    this.compactAfterUpdates = init.compactAfterUpdates ?? COMPACT_AFTER_UPDATES
    this.compactAfterBytes = init.compactAfterBytes ?? COMPACT_AFTER_BYTES
    this.onPersisted = init.onPersisted
    this.snapshot = init.snapshot
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
    this.compactedBytes = updates.length === 1 ? bytes : 0
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
    this.compactedBytes = 0
  }

  /** whether the log grew enough since the last compaction to be worth rewriting */
  private needsCompaction (): boolean {
    if (this.storedUpdates < 2) return false
    const grown = this.storedBytes - this.compactedBytes
    return this.storedUpdates > this.compactAfterUpdates || grown > Math.max(this.compactAfterBytes, this.compactedBytes)
  }

  /** writes until the queue is empty; clears `running` in the same step as the last empty check */
  private async drainQueue (): Promise<void> {
    try {
      for (;;) {
        let unannounced = 0
        while (this.queue.length > 0) {
          if (await this.writeBatch()) unannounced++
          // one announcement per burst (or per ANNOUNCE_EVERY_BATCHES of a long one), not per batch
          if (unannounced > 0 && (this.queue.length === 0 || unannounced >= ANNOUNCE_EVERY_BATCHES)) {
            unannounced = 0
            if (this.persistedVector != null) this.onPersisted?.(this.persistedVector)
          }
        }
        // compact once the burst is written, not after each batch of it
        if (!this.needsCompaction()) break
        await this.compact().catch(err => { this.log.error('compaction failed: %s', (err as Error)?.message) })
        if (this.queue.length === 0) break
      }
    } finally {
      this.running = undefined
    }
  }

  /** writes the next batch of the queue; false when the store refused it */
  private async writeBatch (): Promise<boolean> {
    let count = 0
    let bytes = 0
    while (count < this.queue.length && count < MAX_PERSIST_BATCH_UPDATES && (count === 0 || bytes + this.queue[count].update.byteLength <= MAX_PERSIST_BATCH_BYTES)) {
      bytes += this.queue[count++].update.byteLength
    }
    const batch = this.queue.splice(0, count)
    const ops: BatchOp[] = batch.map(p => ({ type: 'put', key: updateKey(this.nextSeq++), value: p.update }))
    try {
      await this.store.batch(ops, { sync: true })
    } catch (err) {
      const e = new StorageError('could not append to the document update log', { cause: err })
      this.log.error('persist failed: %s', (err as Error)?.message)
      for (const p of batch) p.done.reject(e)
      return false
    }
    this.storedUpdates += batch.length
    this.storedBytes += bytes
    this.persistedVector = batch[batch.length - 1].stateVector
    for (const p of batch) p.done.resolve()
    return true
  }

  /** replaces the whole log by one update (the doc's snapshot, or the entries merged), atomically */
  private async compact (): Promise<void> {
    const keys: string[] = []
    const updates: Uint8Array[] = []
    for await (const [key, value] of this.store.entries({ gte: UPDATE_PREFIX, lt: UPDATE_PREFIX + '\uffff' })) {
      keys.push(key)
      if (this.snapshot == null) updates.push(value)
    }
    if (keys.length < 2) return
    // taken after the reads: it covers every entry read (each was applied before it was appended)
    const merged = this.snapshot != null ? this.snapshot() : Y.mergeUpdates(updates)
    const last = keys[keys.length - 1]
    const ops: BatchOp[] = keys.slice(0, -1).map(key => ({ type: 'del', key }))
    ops.push({ type: 'put', key: last, value: merged })
    await this.store.batch(ops, { sync: true })
    this.storedUpdates = 1
    this.storedBytes = merged.byteLength
    this.compactedBytes = merged.byteLength
    this.compactions++
    this.log('compacted %d updates into %d bytes', keys.length, merged.byteLength)
  }
}
