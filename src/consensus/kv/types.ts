/**
 * Commands and results of the replicated key-value state machine (etcd semantics).
 *
 * Revisions: the store has one revision, incremented once per command that changes a key. Every
 * key carries createRevision (revision of its creation), modRevision (of its last change) and
 * version (changes since creation; a deleted key is gone, and a re-created one starts at 1).
 * Absent keys compare as version = createRevision = modRevision = lease = 0.
 *
 * Leases: a lease's id is the Raft index of the command that granted it, so it also serves as a
 * fencing token that grows with every grant. Time never comes from a clock inside the state
 * machine: `nowMs` arrives in commands, and the leader proposes `expire-leases` so every replica
 * expires the same leases at the same log position (a new leader first proposes `lease-promote`).
 *
 * Fences: any write may present `fence: { key, token, lease? }`. The state machine remembers, per
 * fence key, the highest token it accepted (or that a `lease-grant` with `fenceKey` installed);
 * a write with a lower token, or naming a lease that is no longer alive, is refused with
 * StaleEpochError. Tokens are Raft indexes (lease ids), so a token beyond the command's own index is
 * refused as invalid.
 *
 * Idempotency: a write may carry a `requestId`; applying another command with the same id returns
 * the first result (error results included) without applying it again.
 */
import {
  CapacityError, ConflictError, InvalidArgumentError, InvalidMessageError, MessageTooLargeError, NotFoundError,
  StaleEpochError, UnsupportedVersionError
} from '../../errors.ts'

export interface KeyValue {
  key: string
  value: Uint8Array
  createRevision: number
  modRevision: number
  version: number
  /** the lease the key is attached to, 0 for none */
  lease: number
}

export interface Fence {
  /** what is fenced, e.g. `agent/<id>`; a namespace of its own, not a key of the store */
  key: string
  /** the holder's token (its lease id / epoch) */
  token: number
  /** when given, the lease must still be alive */
  lease?: number
}

/** what every write may carry */
export interface WriteMeta {
  requestId?: string
  fence?: Fence
}

export type CompareOp = '==' | '!=' | '<' | '>'
export type Compare =
  | { key: string, target: 'value', op: CompareOp, value: Uint8Array }
  | { key: string, target: 'version' | 'createRevision' | 'modRevision' | 'lease', op: CompareOp, value: number }

export type TxnOp =
  | { type: 'put', key: string, value: Uint8Array, lease?: number }
  | { type: 'delete', key: string, prefix?: boolean }
  | { type: 'get', key: string }
  | { type: 'range', prefix: string, limit?: number }

export type KvCommand =
  | ({ type: 'put', key: string, value: Uint8Array, lease?: number } & WriteMeta)
  | ({ type: 'delete', key: string, prefix?: boolean } & WriteMeta)
  | { type: 'get', key: string }
  | { type: 'range', prefix: string, limit?: number }
  /** put only if the key's modRevision equals expectModRevision (0: only if absent) */
  | ({ type: 'cas', key: string, value: Uint8Array, expectModRevision: number, lease?: number } & WriteMeta)
  | ({ type: 'txn', compare: Compare[], success: TxnOp[], failure: TxnOp[] } & WriteMeta)
  /** `fenceKey`: also raise that fence to the new lease's id, atomically with the grant */
  | { type: 'lease-grant', ttlMs: number, nowMs: number, fenceKey?: string, requestId?: string }
  | { type: 'lease-keepalive', lease: number, nowMs: number, requestId?: string }
  | ({ type: 'lease-revoke', lease: number } & WriteMeta)
  /**
   * with `leases` (what a leader proposes now): exactly those leases are deleted, each that still
   * exists, all their keys in one revision; the leader names the leases whose expiry by its lease
   * time has passed, its own renewals counted (lease-renewals.ts). Without `leases` (entries
   * written before renewals stayed on the leader): every lease whose replicated expiry is at or
   * before `nowMs`, one revision per lease
   */
  | { type: 'expire-leases', nowMs: number, leases?: number[] }
  /**
   * proposed by a new leader before it expires anything: every lease gets at least a full TTL from
   * `nowMs`, so keepalives sent to the old leader, or a clock running ahead of the old leader's,
   * cannot expire a lease early (etcd's lease promotion)
   */
  | { type: 'lease-promote', nowMs: number }

export type KvCommandType = KvCommand['type']

export type OpResult =
  | { type: 'put', prev?: KeyValue }
  | { type: 'delete', deleted: number }
  | { type: 'get', kv?: KeyValue }
  | { type: 'range', kvs: KeyValue[], more: boolean }

/** error names a result may carry; each maps back to the class in src/errors.ts */
export const KV_ERROR_NAMES = [
  'StaleEpochError', 'NotFoundError', 'InvalidArgumentError', 'InvalidMessageError', 'CapacityError',
  'ConflictError', 'UnsupportedVersionError', 'MessageTooLargeError'
] as const
export type KvErrorName = typeof KV_ERROR_NAMES[number]

/** `revision` is always the store's revision after the command */
export type KvResult =
  | { type: 'put', revision: number, prev?: KeyValue }
  | { type: 'delete', revision: number, deleted: number }
  | { type: 'get', revision: number, kv?: KeyValue }
  | { type: 'range', revision: number, kvs: KeyValue[], more: boolean }
  /** `kv`: the key after the command (the new value on success, the current one on failure) */
  | { type: 'cas', revision: number, succeeded: boolean, kv?: KeyValue }
  | { type: 'txn', revision: number, succeeded: boolean, responses: OpResult[] }
  | { type: 'lease-grant', lease: number, ttlMs: number, expiresAtMs: number }
  | { type: 'lease-keepalive', lease: number, ttlMs: number, expiresAtMs: number }
  | { type: 'lease-revoke', revision: number, deleted: number }
  | { type: 'expire-leases', revision: number, expired: number[] }
  | { type: 'lease-promote', leases: number }
  | { type: 'error', name: KvErrorName, message: string }

export type KvErrorResult = Extract<KvResult, { type: 'error' }>

const ERROR_CLASSES: Record<KvErrorName, new (message: string) => Error> = {
  StaleEpochError,
  NotFoundError,
  InvalidArgumentError,
  InvalidMessageError,
  CapacityError,
  ConflictError,
  UnsupportedVersionError,
  MessageTooLargeError
}

export function isKvErrorName (name: string): name is KvErrorName {
  return (KV_ERROR_NAMES as readonly string[]).includes(name)
}

/** the typed error a result carries, or undefined for a success */
export function resultError (result: KvResult): Error | undefined {
  if (result.type !== 'error') return undefined
  return new ERROR_CLASSES[result.name](result.message)
}

/** the result itself, or its typed error thrown */
export function unwrapResult<R extends KvResult> (result: R): Exclude<R, KvErrorResult> {
  const err = resultError(result)
  if (err != null) throw err
  return result as Exclude<R, KvErrorResult>
}

/** an error result for a typed error (names we do not carry become InvalidArgumentError) */
export function errorResult (err: Error): KvErrorResult {
  const name = isKvErrorName(err.name) ? err.name : 'InvalidArgumentError'
  return { type: 'error', name, message: err.message }
}
