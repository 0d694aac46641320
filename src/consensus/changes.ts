/**
 * The seed's `proposeChange(changeId, changeData)` / `reachConsensus(proposalId)`: a change is a
 * write to the replicated store in the API's JSON form, its id is the idempotency id of the Raft
 * command, and its outcome is what the state machine answered (kept by the state machine for the
 * last MAX_IDEMPOTENCY_RECORDS changes, so any member can tell it).
 */
import { InvalidArgumentError } from '../errors.ts'
import { encodeValue, toEntry, txnCommand, txnResult } from './kv.ts'
import type { KvCompare, KvEntry, KvTxnOp } from './kv.ts'
import type { Fence, KvCommand, KvResult } from './kv/index.ts'

export type ConsensusChange =
  | { type: 'put', key: string, value: unknown, lease?: number, expectRevision?: number, fence?: Fence }
  | { type: 'delete', key: string, prefix?: boolean, fence?: Fence }
  | { type: 'txn', compare: KvCompare[], success: KvTxnOp[], failure?: KvTxnOp[], fence?: Fence }

export type ProposalStatus = 'pending' | 'committed' | 'failed'

export interface ProposalOutcome {
  id: string
  status: ProposalStatus
  /** committed: what the change produced (`{revision}`, `{succeeded, revision, ...}`, ...) */
  result?: unknown
  /** failed: why the state machine refused it (e.g. StaleEpochError) */
  error?: { name: string, message: string }
}

export function changeCommand (changeId: string, change: ConsensusChange): KvCommand {
  if (typeof changeId !== 'string' || changeId.length === 0) throw new InvalidArgumentError('changeId must be a non-empty string')
  if (change === null || typeof change !== 'object') throw new InvalidArgumentError('changeData must be an object')
  const fence = change.fence !== undefined ? { fence: change.fence } : {}
  switch (change.type) {
    case 'put':
      if (change.expectRevision !== undefined) {
        return {
          type: 'cas', key: change.key, value: encodeValue(change.value), expectModRevision: change.expectRevision,
          ...(change.lease !== undefined ? { lease: change.lease } : {}), requestId: changeId, ...fence
        }
      }
      return { type: 'put', key: change.key, value: encodeValue(change.value), ...(change.lease !== undefined ? { lease: change.lease } : {}), requestId: changeId, ...fence }
    case 'delete':
      return { type: 'delete', key: change.key, ...(change.prefix === true ? { prefix: true } : {}), requestId: changeId, ...fence }
    case 'txn':
      return txnCommand(change, { requestId: changeId, ...fence })
    default:
      throw new InvalidArgumentError(`unknown change type ${JSON.stringify((change as { type?: unknown }).type)}`)
  }
}

/** the outcome of a change from the state machine's result */
export function outcomeOf (id: string, r: KvResult): ProposalOutcome {
  switch (r.type) {
    case 'error': return { id, status: 'failed', error: { name: r.name, message: r.message } }
    case 'put': return { id, status: 'committed', result: { revision: r.revision, ...(r.prev !== undefined ? { prev: toEntry(r.prev) } : {}) } }
    case 'cas': {
      const kv: KvEntry | undefined = r.kv !== undefined ? toEntry(r.kv) : undefined
      return { id, status: 'committed', result: { succeeded: r.succeeded, revision: r.revision, ...(kv !== undefined ? { kv } : {}) } }
    }
    case 'delete': return { id, status: 'committed', result: { revision: r.revision, deleted: r.deleted } }
    case 'txn': return { id, status: 'committed', result: txnResult(r) }
    case 'lease-grant':
    case 'lease-keepalive': return { id, status: 'committed', result: { id: r.lease, ttlMs: r.ttlMs, expiresAtMs: r.expiresAtMs } }
    case 'lease-revoke': return { id, status: 'committed', result: { revision: r.revision, deleted: r.deleted } }
    default: return { id, status: 'committed', result: { revision: 'revision' in r ? r.revision : undefined } }
  }
}
