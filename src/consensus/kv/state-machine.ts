/**
 * The replicated key-value state machine: pure and deterministic. `apply(index, command)` is
 * called with each committed entry in log order on every replica and returns the same result on
 * each; no clock, no randomness, no I/O inside. Semantics are described in types.ts.
 *
 * A refused command (stale fence, unknown lease, bad argument) changes nothing and returns an
 * error result; `unwrapResult` turns it into the typed error for the caller.
 */
import { CapacityError, InvalidArgumentError, NotFoundError, StaleEpochError } from '../../errors.ts'
import { decodeCommand } from './codec.ts'
import { MAX_FENCES, MAX_IDEMPOTENCY_RECORDS, MAX_LEASES, MAX_RANGE_RESULTS } from './constants.ts'
import { decodeKvState, encodeKvState } from './snapshot.ts'
import { emptyKvState } from './state.ts'
import type { KvState, LeaseRecord } from './state.ts'
import { errorResult } from './types.ts'
import type { Compare, Fence, KeyValue, KvCommand, KvResult, OpResult, TxnOp } from './types.ts'
import { validateCommand } from './validate.ts'

/** a lease's times: its ttl and when it expires (by the leader's lease time) */
export interface LeaseTimes {
  id: number
  ttlMs: number
  expiresAtMs: number
}

export interface LeaseInfo extends LeaseTimes {
  keys: string[]
}

/** one write revision in progress: every change in it gets modRevision `rev` */
interface Writer { rev: number, changed: boolean }

function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.byteLength - b.byteLength
}

function holds (cmp: number, op: Compare['op']): boolean {
  switch (op) {
    case '==': return cmp === 0
    case '!=': return cmp !== 0
    case '<': return cmp < 0
    case '>': return cmp > 0
  }
}

export class KvStateMachine {
  private s: KvState = emptyKvState()

  /** index of the last entry applied (or restored from a snapshot) */
  get appliedIndex (): number { return this.s.appliedIndex }
  /** the store's revision: 1 when empty, +1 per command that changed a key */
  get revision (): number { return this.s.revision }

  /** applies an entry's data; empty data (a leader's no-op) only advances the applied index */
  applyEncoded (index: number, data: Uint8Array): KvResult | undefined {
    if (data.byteLength === 0) {
      this.advance(index)
      return undefined
    }
    let command: KvCommand
    try {
      command = decodeCommand(data)
    } catch (err) {
      this.advance(index)
      return errorResult(err as Error)
    }
    return this.apply(index, command)
  }

  /** applies the command committed at Raft index `index` (which must exceed appliedIndex) */
  apply (index: number, command: KvCommand): KvResult {
    this.advance(index)
    try {
      validateCommand(command)
    } catch (err) {
      return errorResult(err as Error)
    }
    const requestId = 'requestId' in command ? command.requestId : undefined
    if (requestId !== undefined) {
      const seen = this.s.requests.get(requestId)
      if (seen !== undefined) return seen.result
    }
    let result: KvResult
    try {
      result = this.execute(index, command)
    } catch (err) {
      if (!(err instanceof Error) || !['StaleEpochError', 'NotFoundError', 'InvalidArgumentError', 'CapacityError'].includes(err.name)) throw err
      result = errorResult(err)
    }
    if (requestId !== undefined) this.remember(requestId, index, result)
    return result
  }

  // ---- local reads (after ReadIndex, or for inspection) ----

  get (key: string): KeyValue | undefined {
    return this.s.keys.get(key)
  }

  range (prefix: string, limit = MAX_RANGE_RESULTS): { kvs: KeyValue[], more: boolean } {
    return this.s.keys.range(prefix, Math.min(limit, MAX_RANGE_RESULTS))
  }

  lease (id: number): LeaseInfo | undefined {
    const l = this.s.leases.get(id)
    return l === undefined ? undefined : { id: l.id, ttlMs: l.ttlMs, expiresAtMs: l.expiresAtMs, keys: [...l.keys].sort() }
  }

  /** a lease's ttl and expiry without its key list (what a time-to-live question needs) */
  leaseTimes (id: number): LeaseTimes | undefined {
    const l = this.s.leases.get(id)
    return l === undefined ? undefined : { id: l.id, ttlMs: l.ttlMs, expiresAtMs: l.expiresAtMs }
  }

  /** calls `fn` with every lease's times (no key lists; in no particular order) */
  forEachLease (fn: (l: Readonly<LeaseTimes>) => void): void {
    for (const l of this.s.leases.values()) fn(l)
  }

  leases (): LeaseInfo[] {
    return [...this.s.leases.keys()].sort((a, b) => a - b).map(id => this.lease(id)!)
  }

  /** the highest token accepted for a fence key (0 when none) */
  fenceToken (key: string): number {
    return this.s.fences.get(key) ?? 0
  }

  /** the first result recorded for a request id (and the Raft index that produced it), if still remembered */
  requestRecord (requestId: string): { index: number, result: KvResult } | undefined {
    const r = this.s.requests.get(requestId)
    return r === undefined ? undefined : { index: r.index, result: r.result }
  }


  // ---- snapshots ----

  snapshot (): Uint8Array {
    return encodeKvState(this.s)
  }

  /** replaces the whole state with a snapshot's; on a bad snapshot throws a typed decode error and keeps the old state */
  restore (bytes: Uint8Array): void {
    this.s = decodeKvState(bytes)
  }

  // ---- execution ----

  private advance (index: number): void {
    if (!Number.isSafeInteger(index) || index <= this.s.appliedIndex) {
      throw new InvalidArgumentError(`apply index ${index} must exceed the applied index ${this.s.appliedIndex}`)
    }
    this.s.appliedIndex = index
  }

  private remember (requestId: string, index: number, result: KvResult): void {
    const requests = this.s.requests
    requests.set(requestId, { index, result })
    while (requests.size > MAX_IDEMPOTENCY_RECORDS) requests.delete(requests.keys().next().value!)
  }

  private execute (index: number, cmd: KvCommand): KvResult {
    switch (cmd.type) {
      case 'get': return { type: 'get', revision: this.s.revision, ...this.optionalKv(cmd.key) }
      case 'range': return { type: 'range', revision: this.s.revision, ...this.range(cmd.prefix, cmd.limit) }
      case 'put': {
        const raise = this.checkFence(cmd.fence, index)
        this.checkLeaseExists(cmd.lease)
        raise()
        const w = this.begin()
        const prev = this.putKey(w, cmd.key, cmd.value, cmd.lease)
        this.finish(w)
        return { type: 'put', revision: this.s.revision, ...(prev !== undefined ? { prev } : {}) }
      }
      case 'delete': {
        this.checkFence(cmd.fence, index)()
        const w = this.begin()
        const deleted = this.deleteKeys(w, cmd.key, cmd.prefix === true)
        this.finish(w)
        return { type: 'delete', revision: this.s.revision, deleted }
      }
      case 'cas': {
        const raise = this.checkFence(cmd.fence, index)
        const current = this.s.keys.get(cmd.key)
        if ((current?.modRevision ?? 0) !== cmd.expectModRevision) {
          raise()
          return { type: 'cas', revision: this.s.revision, succeeded: false, ...(current !== undefined ? { kv: current } : {}) }
        }
        this.checkLeaseExists(cmd.lease)
        raise()
        const w = this.begin()
        this.putKey(w, cmd.key, cmd.value, cmd.lease)
        this.finish(w)
        return { type: 'cas', revision: this.s.revision, succeeded: true, kv: this.s.keys.get(cmd.key)! }
      }
      case 'txn': {
        const raise = this.checkFence(cmd.fence, index)
        const succeeded = cmd.compare.every(c => this.evaluate(c))
        const ops = succeeded ? cmd.success : cmd.failure
        for (const op of ops) if (op.type === 'put') this.checkLeaseExists(op.lease)
        raise()
        const w = this.begin()
        const responses = ops.map(op => this.runOp(w, op))
        this.finish(w)
        return { type: 'txn', revision: this.s.revision, succeeded, responses }
      }
      case 'lease-grant': {
        if (this.s.leases.size >= MAX_LEASES) throw new CapacityError(`at most ${MAX_LEASES} leases`)
        if (cmd.fenceKey !== undefined) this.checkFenceCapacity(cmd.fenceKey)
        const lease: LeaseRecord = { id: index, ttlMs: cmd.ttlMs, expiresAtMs: cmd.nowMs + cmd.ttlMs, keys: new Set() }
        this.s.leases.set(index, lease)
        if (cmd.fenceKey !== undefined) this.s.fences.set(cmd.fenceKey, Math.max(this.fenceToken(cmd.fenceKey), index))
        return { type: 'lease-grant', lease: index, ttlMs: lease.ttlMs, expiresAtMs: lease.expiresAtMs }
      }
      case 'lease-keepalive': {
        const lease = this.s.leases.get(cmd.lease)
        if (lease === undefined) throw new NotFoundError(`lease ${cmd.lease} not found (expired or revoked)`)
        lease.expiresAtMs = Math.max(lease.expiresAtMs, cmd.nowMs + lease.ttlMs)
        return { type: 'lease-keepalive', lease: lease.id, ttlMs: lease.ttlMs, expiresAtMs: lease.expiresAtMs }
      }
      case 'lease-revoke': {
        const raise = this.checkFence(cmd.fence, index)
        if (!this.s.leases.has(cmd.lease)) throw new NotFoundError(`lease ${cmd.lease} not found (expired or revoked)`)
        raise()
        const deleted = this.revokeLease(cmd.lease)
        return { type: 'lease-revoke', revision: this.s.revision, deleted }
      }
      case 'expire-leases': {
        if (cmd.leases !== undefined) return this.expireNamed(cmd.leases)
        // the older form: by the replicated expiries, one revision per lease (as it was applied then)
        const expired = [...this.s.leases.values()]
          .filter(l => l.expiresAtMs <= cmd.nowMs)
          .map(l => l.id)
          .sort((a, b) => a - b)
        for (const id of expired) this.revokeLease(id)
        return { type: 'expire-leases', revision: this.s.revision, expired }
      }
      case 'lease-promote': {
        // a full ttl in the new leader's frame, also when that is shorter than what the old leader's
        // frame said: after a leader whose clock was minutes ahead, max() held every lease (and a
        // dead holder's agents) minutes past its last renewal. Never early: the holder stops serving
        // within a ttl of a renewal sent before this was proposed.
        for (const l of this.s.leases.values()) l.expiresAtMs = cmd.nowMs + l.ttlMs
        return { type: 'lease-promote', leases: this.s.leases.size }
      }
    }
  }

  private optionalKv (key: string): { kv?: KeyValue } {
    const kv = this.s.keys.get(key)
    return kv !== undefined ? { kv } : {}
  }

  /**
   * checks a fence without changing anything; returns the change to make once the rest of the
   * command is known to go ahead
   */
  private checkFence (fence: Fence | undefined, index: number): () => void {
    if (fence === undefined) return () => {}
    if (fence.token > index) throw new InvalidArgumentError(`fence token ${fence.token} is not a Raft index reached yet (${index})`)
    const current = this.fenceToken(fence.key)
    if (fence.token < current) throw new StaleEpochError(`fence ${JSON.stringify(fence.key)}: token ${fence.token} is older than ${current}`)
    if (fence.lease !== undefined && !this.s.leases.has(fence.lease)) {
      throw new StaleEpochError(`fence ${JSON.stringify(fence.key)}: lease ${fence.lease} has expired or was revoked`)
    }
    this.checkFenceCapacity(fence.key)
    return () => { if (fence.token > current) this.s.fences.set(fence.key, fence.token) }
  }

  private checkFenceCapacity (key: string): void {
    if (!this.s.fences.has(key) && this.s.fences.size >= MAX_FENCES) throw new CapacityError(`at most ${MAX_FENCES} fence keys`)
  }

  private checkLeaseExists (lease: number | undefined): void {
    if (lease !== undefined && lease !== 0 && !this.s.leases.has(lease)) throw new NotFoundError(`lease ${lease} not found (expired or revoked)`)
  }

  private evaluate (c: Compare): boolean {
    const kv = this.s.keys.get(c.key)
    if (c.target === 'value') return kv !== undefined && holds(compareBytes(kv.value, c.value), c.op)
    const actual = kv === undefined ? 0 : kv[c.target]
    return holds(actual - c.value, c.op)
  }

  private runOp (w: Writer, op: TxnOp): OpResult {
    switch (op.type) {
      case 'put': {
        const prev = this.putKey(w, op.key, op.value, op.lease)
        return { type: 'put', ...(prev !== undefined ? { prev } : {}) }
      }
      case 'delete': return { type: 'delete', deleted: this.deleteKeys(w, op.key, op.prefix === true) }
      case 'get': return { type: 'get', ...this.optionalKv(op.key) }
      case 'range': return { type: 'range', ...this.range(op.prefix, op.limit) }
    }
  }

  private begin (): Writer {
    return { rev: this.s.revision + 1, changed: false }
  }

  private finish (w: Writer): void {
    if (w.changed) this.s.revision = w.rev
  }

  private putKey (w: Writer, key: string, value: Uint8Array, lease = 0): KeyValue | undefined {
    const prev = this.s.keys.get(key)
    if (prev !== undefined && prev.lease !== 0) this.s.leases.get(prev.lease)?.keys.delete(key)
    const kv: KeyValue = {
      key,
      value: value.slice(),
      createRevision: prev?.createRevision ?? w.rev,
      modRevision: w.rev,
      version: (prev?.version ?? 0) + 1,
      lease
    }
    this.s.keys.set(kv)
    if (lease !== 0) this.s.leases.get(lease)!.keys.add(key)
    w.changed = true
    return prev
  }

  private deleteKeys (w: Writer, key: string, prefix: boolean): number {
    const keys = prefix ? this.s.keys.keysWithPrefix(key) : [key]
    let deleted = 0
    for (const k of keys) {
      const prev = this.s.keys.delete(k)
      if (prev === undefined) continue
      if (prev.lease !== 0) this.s.leases.get(prev.lease)?.keys.delete(k)
      deleted++
      w.changed = true
    }
    return deleted
  }

  /** deletes the named leases that still exist and all their keys, in one revision */
  private expireNamed (ids: number[]): KvResult {
    const expired = [...new Set(ids)].filter(id => this.s.leases.has(id)).sort((a, b) => a - b)
    const w = this.begin()
    for (const id of expired) this.dropLease(w, id)
    this.finish(w)
    return { type: 'expire-leases', revision: this.s.revision, expired }
  }

  /** removes a lease and deletes its keys in one revision; returns how many keys went */
  private revokeLease (id: number): number {
    const w = this.begin()
    const deleted = this.dropLease(w, id)
    this.finish(w)
    return deleted
  }

  /** deletes an existing lease and its keys within the writer's revision; returns how many keys went */
  private dropLease (w: Writer, id: number): number {
    const lease = this.s.leases.get(id)!
    let deleted = 0
    for (const k of [...lease.keys].sort()) deleted += this.deleteKeys(w, k, false)
    this.s.leases.delete(id)
    return deleted
  }
}
