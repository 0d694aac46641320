/** The whole replicated state of the KV store: what a snapshot holds. */
import { Keyspace } from './keyspace.ts'
import type { KvResult } from './types.ts'

export interface LeaseRecord {
  /** the Raft index that granted it; also its fencing token */
  id: number
  ttlMs: number
  expiresAtMs: number
  /** keys attached to it, deleted when it is revoked or expires */
  keys: Set<string>
}

export interface IdempotencyRecord {
  /** the Raft index of the first command with this request id */
  index: number
  result: KvResult
}

export interface KvState {
  appliedIndex: number
  revision: number
  keys: Keyspace
  leases: Map<number, LeaseRecord>
  /** fence key -> highest token accepted */
  fences: Map<string, number>
  /** request id -> first result; insertion order is Raft index order, so the first is the oldest */
  requests: Map<string, IdempotencyRecord>
}

export function emptyKvState (): KvState {
  return { appliedIndex: 0, revision: 1, keys: new Keyspace(), leases: new Map(), fences: new Map(), requests: new Map() }
}
