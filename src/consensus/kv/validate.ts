/**
 * Checks a command against the limits before it is encoded or applied (the decoder enforces the
 * same limits on bytes). Throws InvalidArgumentError / MessageTooLargeError.
 */
import { InvalidArgumentError, MessageTooLargeError } from '../../errors.ts'
import {
  MAX_EXPIRE_LEASES_PER_COMMAND, MAX_KEY_BYTES, MAX_LEASE_TTL_MS, MAX_REQUEST_ID_BYTES, MAX_TXN_OPS, MAX_VALUE_BYTES, MIN_LEASE_TTL_MS
} from './constants.ts'
import type { Compare, Fence, KvCommand, TxnOp } from './types.ts'

const utf8 = new TextEncoder()

function utf8Length (s: string): number {
  return utf8.encode(s).byteLength
}

export function checkKey (key: unknown, field = 'key', allowEmpty = false): void {
  if (typeof key !== 'string') throw new InvalidArgumentError(`${field} must be a string`)
  if (!allowEmpty && key.length === 0) throw new InvalidArgumentError(`${field} must not be empty`)
  if (key.length > MAX_KEY_BYTES || utf8Length(key) > MAX_KEY_BYTES) throw new MessageTooLargeError(`${field} exceeds ${MAX_KEY_BYTES} bytes`)
}

function checkValue (value: unknown): void {
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError('value must be a Uint8Array')
  if (value.byteLength > MAX_VALUE_BYTES) throw new MessageTooLargeError(`value of ${value.byteLength} bytes exceeds ${MAX_VALUE_BYTES}`)
}

function checkUint (n: unknown, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`${field} must be an integer in [${min}, ${max}]`)
  }
}

function checkLease (lease: unknown): void {
  if (lease !== undefined) checkUint(lease, 'lease')
}

function checkMeta (cmd: { requestId?: string, fence?: Fence }): void {
  if (cmd.requestId !== undefined) {
    if (typeof cmd.requestId !== 'string' || cmd.requestId.length === 0 || utf8Length(cmd.requestId) > MAX_REQUEST_ID_BYTES) {
      throw new InvalidArgumentError(`requestId must be 1..${MAX_REQUEST_ID_BYTES} bytes`)
    }
  }
  if (cmd.fence !== undefined) {
    checkKey(cmd.fence.key, 'fence key')
    checkUint(cmd.fence.token, 'fence token')
    if (cmd.fence.lease !== undefined) checkUint(cmd.fence.lease, 'fence lease', 1)
  }
}

function checkRangeLimit (limit: unknown): void {
  if (limit !== undefined) checkUint(limit, 'limit', 1)
}

function checkOps (ops: unknown, branch: string): void {
  if (!Array.isArray(ops)) throw new InvalidArgumentError(`txn ${branch} must be an array`)
  if (ops.length > MAX_TXN_OPS) throw new InvalidArgumentError(`txn ${branch} has more than ${MAX_TXN_OPS} ops`)
  const written: string[] = []
  const deletedPrefixes: string[] = []
  for (const op of ops as TxnOp[]) {
    switch (op?.type) {
      case 'put': checkKey(op.key); checkValue(op.value); checkLease(op.lease); written.push(op.key); break
      case 'delete':
        checkKey(op.key, 'key', op.prefix === true)
        if (op.prefix === true) deletedPrefixes.push(op.key)
        else written.push(op.key)
        break
      case 'get': checkKey(op.key); break
      case 'range': checkKey(op.prefix, 'prefix', true); checkRangeLimit(op.limit); break
      default: throw new InvalidArgumentError(`unknown txn op ${String((op as { type?: unknown })?.type)}`)
    }
  }
  // as etcd: one branch may write a key at most once
  const seen = new Set<string>()
  for (const k of written) {
    if (seen.has(k)) throw new InvalidArgumentError(`txn ${branch} writes key ${JSON.stringify(k)} more than once`)
    seen.add(k)
  }
  for (const p of deletedPrefixes) {
    if (written.some(k => k.startsWith(p)) || deletedPrefixes.filter(q => q.startsWith(p)).length > 1) {
      throw new InvalidArgumentError(`txn ${branch} writes inside deleted prefix ${JSON.stringify(p)}`)
    }
  }
}

function checkCompare (c: Compare): void {
  checkKey(c?.key)
  if (c.op !== '==' && c.op !== '!=' && c.op !== '<' && c.op !== '>') throw new InvalidArgumentError(`unknown compare op ${String(c.op)}`)
  if (c.target === 'value') checkValue(c.value)
  else if (c.target === 'version' || c.target === 'createRevision' || c.target === 'modRevision' || c.target === 'lease') checkUint(c.value, `compare ${c.target}`)
  else throw new InvalidArgumentError(`unknown compare target ${String((c as { target?: unknown }).target)}`)
}

export function validateCommand (cmd: KvCommand): void {
  if (cmd == null || typeof cmd !== 'object') throw new InvalidArgumentError('command must be an object')
  switch (cmd.type) {
    case 'put': checkKey(cmd.key); checkValue(cmd.value); checkLease(cmd.lease); checkMeta(cmd); return
    case 'delete': checkKey(cmd.key, 'key', cmd.prefix === true); checkMeta(cmd); return
    case 'get': checkKey(cmd.key); return
    case 'range': checkKey(cmd.prefix, 'prefix', true); checkRangeLimit(cmd.limit); return
    case 'cas':
      checkKey(cmd.key); checkValue(cmd.value); checkLease(cmd.lease); checkUint(cmd.expectModRevision, 'expectModRevision'); checkMeta(cmd)
      return
    case 'txn':
      if (!Array.isArray(cmd.compare) || cmd.compare.length > MAX_TXN_OPS) throw new InvalidArgumentError(`txn compare must be an array of at most ${MAX_TXN_OPS}`)
      for (const c of cmd.compare) checkCompare(c)
      checkOps(cmd.success, 'success'); checkOps(cmd.failure, 'failure'); checkMeta(cmd)
      return
    case 'lease-grant':
      checkUint(cmd.ttlMs, 'ttlMs', MIN_LEASE_TTL_MS, MAX_LEASE_TTL_MS); checkUint(cmd.nowMs, 'nowMs')
      if (cmd.fenceKey !== undefined) checkKey(cmd.fenceKey, 'fenceKey')
      checkMeta(cmd)
      return
    case 'lease-keepalive': checkUint(cmd.lease, 'lease', 1); checkUint(cmd.nowMs, 'nowMs'); checkMeta(cmd); return
    case 'lease-revoke': checkUint(cmd.lease, 'lease', 1); checkMeta(cmd); return
    case 'expire-leases':
      checkUint(cmd.nowMs, 'nowMs')
      if (cmd.leases !== undefined) {
        if (!Array.isArray(cmd.leases) || cmd.leases.length > MAX_EXPIRE_LEASES_PER_COMMAND) {
          throw new InvalidArgumentError(`expire-leases names an array of at most ${MAX_EXPIRE_LEASES_PER_COMMAND} leases`)
        }
        for (const id of cmd.leases) checkUint(id, 'expired lease', 1)
      }
      return
    case 'lease-promote':
      checkUint(cmd.nowMs, 'nowMs'); return
    default: throw new InvalidArgumentError(`unknown command type ${String((cmd as { type?: unknown }).type)}`)
  }
}
