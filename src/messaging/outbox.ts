/**
 * The durable outbox: a message accepted by `accept` is on disk (synced) before the promise
 * resolves, so it survives the sender's restart and is sent again until it is delivered or given
 * up. Each channel (a destination: peer, agent or topic) has its own sequence counter, which
 * continues across restarts and compaction. Only acceptance (and giving up) is synced; a
 * delivered mark lost in a crash makes the entry go out again, and the receiver drops the copy. States: pending -> delivered | failed (with reason);
 * a late ack turns failed into delivered. Bounded by entry count and bytes (CapacityError when
 * full, after dropping delivered entries); `compact` removes delivered entries past retention.
 *
 * Store layout (inside the store handed over, e.g. `store.sub('outbox/')`):
 *   c/<channel>  -> varuint last seq assigned on that channel
 *   m/<id>       -> record: version, state, channel, seq, ordinal, attempts, times, reason, envelope
 */
import * as encoding from 'lib0/encoding'
import { CapacityError, InvalidArgumentError, NotFoundError, StorageError } from '../errors.ts'
import { throwIfAborted } from '../util/abort.ts'
import { systemClock } from '../util/clock.ts'
import { componentLogger } from '../util/logger.ts'
import { OUTBOX_DELIVERED_RETENTION_MS, OUTBOX_MAX_BYTES, OUTBOX_MAX_CHANNEL_CHARS, OUTBOX_MAX_ENTRIES, OUTBOX_MAX_REASON_CHARS, MAX_ENVELOPE_BYTES } from './constants.ts'
import { decodeEnvelope, encodeEnvelope } from './envelope.ts'
import { decodeStrictly, readCappedBytes, readCappedString, readUint } from './wire.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Store } from '../storage/types.ts'
import type { Envelope } from './envelope.ts'
import type { MessageId } from './message-id.ts'

const log = componentLogger('messaging:outbox')

export type OutboxState = 'pending' | 'delivered' | 'failed'

export interface OutboxStatus {
  id: MessageId
  channel: string
  seq: number
  state: OutboxState
  /** delivery attempts made so far */
  attempts: number
  /** why it failed (state failed), or the last attempt's error (state pending) */
  reason?: string
  createdAtMs: number
  updatedAtMs: number
}

export interface OutboxEntry extends OutboxStatus {
  envelope: Envelope
}

export interface OutboxInit {
  clock?: Clock
  /** entries kept, whatever their state (default OUTBOX_MAX_ENTRIES) */
  maxEntries?: number
  /** bytes of records kept (default OUTBOX_MAX_BYTES) */
  maxBytes?: number
  /** delivered entries stay queryable at least this long (default OUTBOX_DELIVERED_RETENTION_MS) */
  deliveredRetentionMs?: number
}

export interface OutboxStats {
  pending: number
  delivered: number
  failed: number
  bytes: number
  /** records that could not be decoded at open (kept on disk, not sent) */
  corrupt: number
}

interface Meta extends OutboxStatus { ordinal: number, bytes: number }

const STATE_CODES: readonly OutboxState[] = ['pending', 'delivered', 'failed']
const RECORD_VERSION = 1
const SYNC = { sync: true }
/**
 * state changes after acceptance are written without fsync: losing one in a crash only means the
 * entry is sent again (pending) and the receiver's dedup drops the copy; a lost compaction just
 * leaves a delivered entry to compact again
 */
const NO_SYNC = { sync: false }

const channelKey = (channel: string): string => `c/${encodeURIComponent(channel)}`
const recordKey = (id: string): string => `m/${id}`

export class Outbox {
  private readonly store: Store
  private readonly clock: Clock
  private readonly maxEntries: number
  private readonly maxBytes: number
  private readonly retentionMs: number
  private readonly meta = new Map<string, Meta>()
  private readonly lastSeq = new Map<string, number>()
  private nextOrdinal = 1
  private bytes = 0
  private corrupt = 0
  private lock: Promise<unknown> = Promise.resolve()

  private constructor (store: Store, init: OutboxInit) {
    this.store = store
    this.clock = init.clock ?? systemClock
    this.maxEntries = init.maxEntries ?? OUTBOX_MAX_ENTRIES
    this.maxBytes = init.maxBytes ?? OUTBOX_MAX_BYTES
    this.retentionMs = init.deliveredRetentionMs ?? OUTBOX_DELIVERED_RETENTION_MS
    if (!(this.maxEntries >= 1) || !(this.maxBytes >= 1) || !(this.retentionMs >= 0)) throw new InvalidArgumentError('outbox bounds must be positive')
  }

  /** opens the outbox over `store`, loading what a previous run left (sequence counters included) */
  static async open (store: Store, init: OutboxInit = {}, options: AbortOptions = {}): Promise<Outbox> {
    const outbox = new Outbox(store, init)
    await outbox.load(options)
    return outbox
  }

  /**
   * assigns the channel's next seq, builds the envelope with it (`build` may sign), and writes it
   * durably as pending before resolving. CapacityError when full even after dropping delivered entries.
   */
  async accept (channel: string, build: (seq: number) => Envelope | Promise<Envelope>, options: AbortOptions = {}): Promise<OutboxEntry> {
    if (typeof channel !== 'string' || channel.length === 0 || channel.length > OUTBOX_MAX_CHANNEL_CHARS) {
      throw new InvalidArgumentError(`outbox channel must be 1..${OUTBOX_MAX_CHANNEL_CHARS} chars`)
    }
    return await this.exclusive(async () => {
      throwIfAborted(options.signal)
      const seq = (this.lastSeq.get(channel) ?? 0) + 1
      const envelope = await build(seq)
      if (envelope.seq !== seq) throw new InvalidArgumentError(`envelope seq ${envelope.seq} is not the assigned ${seq}`)
      if (this.meta.has(envelope.id)) throw new InvalidArgumentError(`message ${envelope.id} is already in the outbox`)
      const wire = encodeEnvelope(envelope)
      const now = this.clock.now()
      const m: Meta = { id: envelope.id, channel, seq, state: 'pending', attempts: 0, createdAtMs: now, updatedAtMs: now, ordinal: this.nextOrdinal, bytes: 0 }
      const record = encodeRecord(m, wire)
      m.bytes = record.length
      await this.makeRoom(record.length)
      throwIfAborted(options.signal)
      const seqBytes = encoding.encode(enc => { encoding.writeVarUint(enc, seq) })
      await this.write(() => this.store.batch([
        { type: 'put', key: recordKey(m.id), value: record },
        { type: 'put', key: channelKey(channel), value: seqBytes }
      ], SYNC))
      this.lastSeq.set(channel, seq)
      this.nextOrdinal++
      this.meta.set(m.id, m)
      this.bytes += m.bytes
      return { ...publicStatus(m), envelope }
    })
  }

  /** counts a delivery attempt (and its error, if any); the entry stays pending */
  async recordAttempt (id: MessageId, reason?: string, options: AbortOptions = {}): Promise<OutboxStatus> {
    return await this.update(id, options, (m) => {
      if (m.state !== 'pending') return false
      m.attempts++
      if (reason != null) m.reason = reason.slice(0, OUTBOX_MAX_REASON_CHARS)
      return true
    })
  }

  /** the receiver acknowledged it; also turns a failed entry into delivered (a late ack is the truth) */
  async markDelivered (id: MessageId, options: AbortOptions = {}): Promise<OutboxStatus> {
    return await this.update(id, options, (m) => {
      if (m.state === 'delivered') return false
      m.state = 'delivered'
      delete m.reason
      return true
    })
  }

  /** gives up on a pending entry, keeping the reason; no effect on a delivered one */
  async markFailed (id: MessageId, reason: string, options: AbortOptions = {}): Promise<OutboxStatus> {
    return await this.update(id, options, (m) => {
      if (m.state !== 'pending') return false
      m.state = 'failed'
      m.reason = String(reason).slice(0, OUTBOX_MAX_REASON_CHARS)
      return true
    })
  }

  /** the entry's state, or undefined for an id never accepted (or compacted away) */
  status (id: MessageId): OutboxStatus | undefined {
    const m = this.meta.get(id)
    return m == null ? undefined : publicStatus(m)
  }

  /** pending entries in the order they were accepted (FIFO per channel), with their envelopes */
  async pending (filter: { channel?: string, limit?: number } = {}, options: AbortOptions = {}): Promise<OutboxEntry[]> {
    const wanted = (m: Meta): boolean => m.state === 'pending' && (filter.channel == null || m.channel === filter.channel)
    let list: Meta[]
    if (filter.limit === 1) {
      // the delivery loop asks for the head of a channel after every message: one pass, no sort
      let head: Meta | undefined
      for (const m of this.meta.values()) if (wanted(m) && (head == null || m.ordinal < head.ordinal)) head = m
      list = head == null ? [] : [head]
    } else {
      list = [...this.meta.values()].filter(wanted).sort((a, b) => a.ordinal - b.ordinal).slice(0, filter.limit ?? Infinity)
    }
    const out: OutboxEntry[] = []
    for (const m of list) {
      throwIfAborted(options.signal)
      const raw = await this.read(() => this.store.get(recordKey(m.id)))
      if (raw == null) throw new StorageError(`outbox record ${m.id} vanished from the store`)
      out.push({ ...publicStatus(m), envelope: decodeEnvelope(decodeRecord(raw).wire).envelope })
    }
    return out
  }

  /** the seq the next accept on `channel` will get */
  nextSeq (channel: string): number {
    return (this.lastSeq.get(channel) ?? 0) + 1
  }

  stats (): OutboxStats {
    const s: OutboxStats = { pending: 0, delivered: 0, failed: 0, bytes: this.bytes, corrupt: this.corrupt }
    for (const m of this.meta.values()) s[m.state]++
    return s
  }

  /**
   * removes delivered entries older than the retention (all of them with `olderThanMs: 0`), and
   * failed ones too with `includeFailed`. Returns how many were removed.
   */
  async compact (opts: { olderThanMs?: number, includeFailed?: boolean } = {}, options: AbortOptions = {}): Promise<number> {
    return await this.exclusive(async () => {
      throwIfAborted(options.signal)
      return await this.removeWhere(m =>
        (m.state === 'delivered' || (opts.includeFailed === true && m.state === 'failed')) &&
        this.clock.now() - m.updatedAtMs >= (opts.olderThanMs ?? this.retentionMs))
    })
  }

  private async load (options: AbortOptions): Promise<void> {
    await this.read(async () => {
      for await (const [key, value] of this.store.entries({ gte: 'c/', lt: 'c/\uffff' })) {
        throwIfAborted(options.signal)
        try {
          this.lastSeq.set(decodeURIComponent(key.slice(2)), decodeStrictly('outbox seq', value, d => readUint(d, 'seq')))
        } catch (err) {
          log.error('outbox: unreadable sequence counter %s: %s', key, (err as Error).message)
          this.corrupt++
        }
      }
      for await (const [key, value] of this.store.entries({ gte: 'm/', lt: 'm/\uffff' })) {
        throwIfAborted(options.signal)
        try {
          const { meta } = decodeRecord(value)
          meta.bytes = value.length
          this.meta.set(meta.id, meta)
          this.bytes += meta.bytes
          this.nextOrdinal = Math.max(this.nextOrdinal, meta.ordinal + 1)
          // a counter write can never lag its record (same batch), but be safe against hand edits
          if ((this.lastSeq.get(meta.channel) ?? 0) < meta.seq) this.lastSeq.set(meta.channel, meta.seq)
        } catch (err) {
          log.error('outbox: unreadable record %s, left in place: %s', key, (err as Error).message)
          this.corrupt++
        }
      }
    })
    log('outbox opened: %o', this.stats())
  }

  private async makeRoom (recordBytes: number): Promise<void> {
    const full = (): boolean => this.meta.size + 1 > this.maxEntries || this.bytes + recordBytes > this.maxBytes
    if (!full()) return
    await this.removeWhere(m => m.state === 'delivered')
    if (full()) {
      throw new CapacityError(`outbox full (${this.meta.size} entries, ${this.bytes} bytes; max ${this.maxEntries}, ${this.maxBytes})`)
    }
  }

  private async removeWhere (pred: (m: Meta) => boolean): Promise<number> {
    const doomed = [...this.meta.values()].filter(pred)
    if (doomed.length === 0) return 0
    await this.write(() => this.store.batch(doomed.map(m => ({ type: 'del' as const, key: recordKey(m.id) })), NO_SYNC))
    for (const m of doomed) { this.meta.delete(m.id); this.bytes -= m.bytes }
    return doomed.length
  }

  private async update (id: MessageId, options: AbortOptions, change: (m: Meta) => boolean): Promise<OutboxStatus> {
    return await this.exclusive(async () => {
      throwIfAborted(options.signal)
      const current = this.meta.get(id)
      if (current == null) throw new NotFoundError(`message ${id} is not in the outbox`)
      const next: Meta = { ...current }
      if (!change(next)) return publicStatus(current)
      next.updatedAtMs = this.clock.now()
      const raw = await this.read(() => this.store.get(recordKey(id)))
      if (raw == null) throw new StorageError(`outbox record ${id} vanished from the store`)
      const record = encodeRecord(next, decodeRecord(raw).wire)
      next.bytes = record.length
      // failed is a verdict worth keeping; delivered and attempt counts may be redone after a crash
      await this.write(() => this.store.put(recordKey(id), record, next.state === 'failed' ? SYNC : NO_SYNC))
      this.bytes += next.bytes - current.bytes
      this.meta.set(id, next)
      return publicStatus(next)
    })
  }

  /** runs `fn` after every earlier mutation, so seqs and counters never interleave */
  private async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn)
    this.lock = run.catch(() => {})
    return await run
  }

  private async write (fn: () => Promise<void>): Promise<void> {
    try { await fn() } catch (err) {
      log.error('outbox write failed: %s', (err as Error).message)
      throw err instanceof StorageError ? err : new StorageError(`outbox write failed: ${(err as Error).message}`, { cause: err })
    }
  }

  private async read<T> (fn: () => Promise<T>): Promise<T> {
    try { return await fn() } catch (err) {
      if ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError') throw err
      throw err instanceof StorageError ? err : new StorageError(`outbox read failed: ${(err as Error).message}`, { cause: err })
    }
  }
}

function publicStatus (m: Meta): OutboxStatus {
  const s: OutboxStatus = { id: m.id, channel: m.channel, seq: m.seq, state: m.state, attempts: m.attempts, createdAtMs: m.createdAtMs, updatedAtMs: m.updatedAtMs }
  if (m.reason != null) s.reason = m.reason
  return s
}

function encodeRecord (m: Meta, wire: Uint8Array): Uint8Array {
  return encoding.encode(enc => {
    encoding.writeVarUint(enc, RECORD_VERSION)
    encoding.writeVarUint(enc, STATE_CODES.indexOf(m.state))
    encoding.writeVarString(enc, m.channel)
    encoding.writeVarUint(enc, m.seq)
    encoding.writeVarUint(enc, m.ordinal)
    encoding.writeVarUint(enc, m.attempts)
    encoding.writeVarUint(enc, Math.max(0, Math.floor(m.createdAtMs)))
    encoding.writeVarUint(enc, Math.max(0, Math.floor(m.updatedAtMs)))
    encoding.writeVarString(enc, m.reason ?? '')
    encoding.writeVarUint8Array(enc, wire)
  })
}

function decodeRecord (bytes: Uint8Array): { meta: Meta, wire: Uint8Array } {
  return decodeStrictly('outbox record', bytes, d => {
    const version = readUint(d, 'record.version')
    if (version !== RECORD_VERSION) throw new StorageError(`outbox record version ${version} unknown`)
    const state = STATE_CODES[readUint(d, 'record.state')]
    if (state == null) throw new StorageError('outbox record: unknown state')
    const channel = readCappedString(d, OUTBOX_MAX_CHANNEL_CHARS * 4, 'record.channel')
    const seq = readUint(d, 'record.seq')
    const ordinal = readUint(d, 'record.ordinal')
    const attempts = readUint(d, 'record.attempts')
    const createdAtMs = readUint(d, 'record.createdAtMs')
    const updatedAtMs = readUint(d, 'record.updatedAtMs')
    const reason = readCappedString(d, OUTBOX_MAX_REASON_CHARS * 4, 'record.reason')
    const wire = readCappedBytes(d, MAX_ENVELOPE_BYTES, 'record.envelope')
    const id = decodeEnvelope(wire).envelope.id
    const meta: Meta = { id, channel, seq, state, attempts, createdAtMs, updatedAtMs, ordinal, bytes: bytes.length }
    if (reason !== '') meta.reason = reason
    return { meta, wire }
  })
}
