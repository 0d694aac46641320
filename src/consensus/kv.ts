/**
 * `consensus.kv`: the replicated key-value store with JSON values. Writes go through the Raft log
 * (each with a request id, applied once); reads are linearizable (a ReadIndex round, then the local
 * state machine once it has applied that far), from any member of the group, learners included.
 * Values are stored as their JSON text (UTF-8); a `value` compare in a txn compares that text.
 */
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import { DEFAULT_OPERATION_TIMEOUT_MS } from './constants.ts'
import { unwrapResult } from './kv/index.ts'
import type { CompareOp, Fence, KeyValue, KvCommand, KvResult, OpResult, TxnOp } from './kv/index.ts'
import type { Clock } from '../util/clock.ts'
import type { RaftDriver } from './driver.ts'
import type { StrongOperation } from './raft-wire.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** a key as the API returns it: `revision` is the key's last modification revision */
export interface KvEntry {
  key: string
  value: unknown
  revision: number
  createRevision: number
  version: number
  /** the lease it is attached to, 0 for none */
  lease: number
}

export interface KvWriteOptions extends AbortOptions {
  /** idempotency id: a retried write with the same id is applied once */
  requestId?: string
  /** refuse the write unless the fence's token is current (StaleEpochError) */
  fence?: Fence
}

export interface KvPutOptions extends KvWriteOptions {
  /** the key's current revision must be this (0: the key must be absent), else ConflictError */
  expectRevision?: number
  /** attach the key to a lease: it is deleted when the lease expires or is revoked */
  lease?: number
}

export type KvCompare =
  | { key: string, target: 'value', op: CompareOp, value: unknown }
  | { key: string, target: 'version' | 'createRevision' | 'modRevision' | 'lease', op: CompareOp, value: number }

export type KvTxnOp =
  | { type: 'put', key: string, value: unknown, lease?: number }
  | { type: 'delete', key: string, prefix?: boolean }
  | { type: 'get', key: string }
  | { type: 'range', prefix: string, limit?: number }

export type KvOpResult =
  | { type: 'put', prev?: KvEntry }
  | { type: 'delete', deleted: number }
  | { type: 'get', kv?: KvEntry }
  | { type: 'range', kvs: KvEntry[], more: boolean }

export interface KvTxn {
  compare: KvCompare[]
  success: KvTxnOp[]
  failure?: KvTxnOp[]
}

export interface KvTxnResult {
  succeeded: boolean
  revision: number
  responses: KvOpResult[]
}

export interface KvLease {
  id: number
  ttlMs: number
  expiresAtMs: number
}

export function encodeValue (value: unknown): Uint8Array {
  if (value === undefined) throw new InvalidArgumentError('a value is required (undefined is not JSON)')
  let text: string
  try {
    text = JSON.stringify(value)
  } catch (err) {
    throw new InvalidArgumentError(`value is not JSON-serialisable: ${(err as Error).message}`)
  }
  if (text === undefined) throw new InvalidArgumentError('value is not JSON-serialisable')
  return encoder.encode(text)
}

export function decodeValue (bytes: Uint8Array): unknown {
  const text = decoder.decode(bytes)
  try {
    return JSON.parse(text)
  } catch {
    // written by something else than this API: hand back the text
    return text
  }
}

export function toEntry (kv: KeyValue): KvEntry {
  return { key: kv.key, value: decodeValue(kv.value), revision: kv.modRevision, createRevision: kv.createRevision, version: kv.version, lease: kv.lease }
}

function toOp (op: KvTxnOp): TxnOp {
  switch (op.type) {
    case 'put': return { type: 'put', key: op.key, value: encodeValue(op.value), ...(op.lease !== undefined ? { lease: op.lease } : {}) }
    case 'delete': return { type: 'delete', key: op.key, ...(op.prefix === true ? { prefix: true } : {}) }
    case 'get': return { type: 'get', key: op.key }
    case 'range': return { type: 'range', prefix: op.prefix, ...(op.limit !== undefined ? { limit: op.limit } : {}) }
    default: throw new InvalidArgumentError(`unknown txn op ${JSON.stringify((op as { type?: unknown }).type)}`)
  }
}

function fromOpResult (r: OpResult): KvOpResult {
  switch (r.type) {
    case 'put': return { type: 'put', ...(r.prev !== undefined ? { prev: toEntry(r.prev) } : {}) }
    case 'delete': return { type: 'delete', deleted: r.deleted }
    case 'get': return { type: 'get', ...(r.kv !== undefined ? { kv: toEntry(r.kv) } : {}) }
    case 'range': return { type: 'range', kvs: r.kvs.map(toEntry), more: r.more }
  }
}

/** the KV command of a txn in the API's JSON form */
export function txnCommand (t: KvTxn, meta: KvWriteOptions = {}): KvCommand {
  if (t === null || typeof t !== 'object' || !Array.isArray(t.compare) || !Array.isArray(t.success)) {
    throw new InvalidArgumentError('txn needs { compare: [...], success: [...], failure?: [...] }')
  }
  return {
    type: 'txn',
    compare: t.compare.map(c => c.target === 'value' ? { key: c.key, target: 'value', op: c.op, value: encodeValue(c.value) } : c),
    success: t.success.map(toOp),
    failure: (t.failure ?? []).map(toOp),
    ...writeMeta(meta)
  }
}

function writeMeta (o: KvWriteOptions): { requestId?: string, fence?: Fence } {
  return { ...(o.requestId !== undefined ? { requestId: o.requestId } : {}), ...(o.fence !== undefined ? { fence: o.fence } : {}) }
}

/** the operation's deadline: the driver ends the wait on its tick (no timer or signal per call) */
function withDeadline<T extends AbortOptions> (options: T): T & { timeoutMs: number } {
  return { ...options, timeoutMs: DEFAULT_OPERATION_TIMEOUT_MS }
}

export function txnResult (r: KvResult): KvTxnResult {
  const t = unwrapResult(r)
  if (t.type !== 'txn') throw new InvalidArgumentError(`unexpected ${t.type} result for a txn`)
  return { succeeded: t.succeeded, revision: t.revision, responses: t.responses.map(fromOpResult) }
}

export class ConsensusKv {
  /** the driver for a strong operation of `subject` (it may throw at once: refused, minority side) */
  private readonly driver: (subject: StrongOperation) => RaftDriver
  private readonly clock: Clock

  constructor (driver: (subject: StrongOperation) => RaftDriver, clock: Clock) {
    this.driver = driver
    this.clock = clock
  }

  /** the key's value and revision (linearizable), or undefined when absent */
  async get (key: string, options: AbortOptions = {}): Promise<KvEntry | undefined> {
    const d = this.driver('read')
    await d.readBarrier(withDeadline(options))
    const kv = d.sm.get(key)
    return kv === undefined ? undefined : toEntry(kv)
  }

  /** keys starting with `prefix`, in key order (linearizable) */
  async range (prefix: string, options: AbortOptions & { limit?: number } = {}): Promise<{ kvs: KvEntry[], more: boolean, revision: number }> {
    const d = this.driver('read')
    await d.readBarrier(withDeadline(options))
    const r = d.sm.range(prefix, options.limit)
    return { kvs: r.kvs.map(toEntry), more: r.more, revision: d.sm.revision }
  }

  /** writes `value`; with `expectRevision`, only if the key is at that revision (ConflictError otherwise) */
  async put (key: string, value: unknown, options: KvPutOptions = {}): Promise<{ revision: number }> {
    const bytes = encodeValue(value)
    const lease = options.lease !== undefined ? { lease: options.lease } : {}
    if (options.expectRevision !== undefined) {
      const r = await this.cas(key, options.expectRevision, value, options)
      if (!r.succeeded) {
        throw new ConflictError(`key ${JSON.stringify(key)} is at revision ${r.kv?.revision ?? 0}, not ${options.expectRevision}`,
          { details: { key, revision: r.kv?.revision ?? 0 } })
      }
      return { revision: r.revision }
    }
    const r = unwrapResult(await this.driver('proposal').propose({ type: 'put', key, value: bytes, ...lease, ...writeMeta(options) }, withDeadline(options)))
    if (r.type !== 'put') throw new InvalidArgumentError(`unexpected ${r.type} result for a put`)
    return { revision: r.revision }
  }

  /** puts only if the key's revision is `expectRevision` (0: absent); never throws on a mismatch */
  async cas (key: string, expectRevision: number, value: unknown, options: KvWriteOptions & { lease?: number } = {}): Promise<{ succeeded: boolean, revision: number, kv?: KvEntry }> {
    const cmd: KvCommand = {
      type: 'cas', key, value: encodeValue(value), expectModRevision: expectRevision,
      ...(options.lease !== undefined ? { lease: options.lease } : {}), ...writeMeta(options)
    }
    const r = unwrapResult(await this.driver('proposal').propose(cmd, withDeadline(options)))
    if (r.type !== 'cas') throw new InvalidArgumentError(`unexpected ${r.type} result for a cas`)
    return { succeeded: r.succeeded, revision: r.revision, ...(r.kv !== undefined ? { kv: toEntry(r.kv) } : {}) }
  }

  /** deletes the key (or every key with the prefix); resolves with how many went */
  async delete (key: string, options: KvWriteOptions & { prefix?: boolean } = {}): Promise<{ revision: number, deleted: number }> {
    const r = unwrapResult(await this.driver('proposal').propose({ type: 'delete', key, ...(options.prefix === true ? { prefix: true } : {}), ...writeMeta(options) }, withDeadline(options)))
    if (r.type !== 'delete') throw new InvalidArgumentError(`unexpected ${r.type} result for a delete`)
    return { revision: r.revision, deleted: r.deleted }
  }

  /** an etcd-style transaction: if every compare holds, the success ops run, else the failure ops */
  async txn (t: KvTxn, options: KvWriteOptions = {}): Promise<KvTxnResult> {
    return txnResult(await this.driver('proposal').propose(txnCommand(t, options), withDeadline(options)))
  }

  /** a lease of `ttlMs`; its id is also a fencing token (with `fenceKey`, that fence is raised to it) */
  async grantLease (ttlMs: number, options: AbortOptions & { fenceKey?: string, requestId?: string } = {}): Promise<KvLease> {
    const d = this.driver('proposal')
    const r = unwrapResult(await d.propose({
      type: 'lease-grant', ttlMs, nowMs: this.clock.now(),
      ...(options.fenceKey !== undefined ? { fenceKey: options.fenceKey } : {}),
      ...(options.requestId !== undefined ? { requestId: options.requestId } : {})
    }, withDeadline(options)))
    if (r.type !== 'lease-grant') throw new InvalidArgumentError(`unexpected ${r.type} result for a lease grant`)
    return { id: r.lease, ttlMs: r.ttlMs, expiresAtMs: r.expiresAtMs }
  }

  /**
   * extends a lease by its ttl from now (etcd's LeaseKeepAlive). The Raft leader answers it from
   * memory, after confirming its leadership, without a Raft entry (lease-renewals.ts); from another
   * peer the question goes to the leader (driver-leases.ts). NotFoundError when the lease has
   * expired, is due to expire, or was revoked. `expiresAtMs` is by the leader's lease time; a
   * holder counts from when it asked (agents/node-lease.ts), which is earlier
   */
  async keepAlive (lease: number, options: AbortOptions = {}): Promise<KvLease> {
    const r = await this.driver('proposal').leaseRequest('keepalive', lease, withDeadline(options))
    if (r === undefined) throw new NotFoundError(`lease ${lease} not found (expired or revoked)`)
    return { id: lease, ttlMs: r.ttlMs, expiresAtMs: r.expiresAtMs }
  }

  /**
   * a lease's ttl and how much of it is left (etcd's LeaseTimeToLive), or undefined once it has
   * expired or was revoked. Asked of the leader on every peer: it confirms its leadership and
   * applies up to the read index (linearizable), and `remainingMs` is by its lease time with the
   * renewals it answered from memory counted, so a renewed lease never looks expired anywhere
   */
  async timeToLive (lease: number, options: AbortOptions = {}): Promise<{ id: number, ttlMs: number, remainingMs: number } | undefined> {
    const r = await this.driver('read').leaseRequest('ttl', lease, withDeadline(options))
    return r === undefined ? undefined : { id: lease, ttlMs: r.ttlMs, remainingMs: r.remainingMs }
  }

  /**
   * the highest token a fence key has accepted, 0 for none (a linearizable read). A lease granted
   * with `fenceKey` raises that fence to its id, so this is the id of the latest such grant
   */
  async fenceToken (key: string, options: AbortOptions = {}): Promise<number> {
    const d = this.driver('read')
    await d.readBarrier(withDeadline(options))
    return d.sm.fenceToken(key)
  }

  /** ends a lease now, deleting its keys */
  async revoke (lease: number, options: KvWriteOptions = {}): Promise<{ revision: number, deleted: number }> {
    const r = unwrapResult(await this.driver('proposal').propose({ type: 'lease-revoke', lease, ...writeMeta(options) }, withDeadline(options)))
    if (r.type !== 'lease-revoke') throw new InvalidArgumentError(`unexpected ${r.type} result for a revoke`)
    return { revision: r.revision, deleted: r.deleted }
  }
}
