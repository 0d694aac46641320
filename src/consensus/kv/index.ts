/**
 * The replicated key-value state machine (etcd semantics, with leases, fencing tokens and
 * idempotency records): the commands, their results, the versioned codecs, and the state machine
 * that the consensus driver applies committed entries to.
 */
export { KvStateMachine } from './state-machine.ts'
export type { LeaseInfo, LeaseTimes } from './state-machine.ts'
export { encodeCommand, decodeCommand, commandTypeOf, KV_COMMAND_VERSION } from './codec.ts'
export { encodeResult, decodeResult, KV_RESULT_VERSION } from './result-codec.ts'
export { KV_SNAPSHOT_VERSION } from './snapshot.ts'
export { validateCommand } from './validate.ts'
export { KV_ERROR_NAMES, resultError, unwrapResult, errorResult, isKvErrorName } from './types.ts'
export type {
  KeyValue, Fence, WriteMeta, Compare, CompareOp, TxnOp, KvCommand, KvCommandType, OpResult, KvResult,
  KvErrorName, KvErrorResult
} from './types.ts'
export * from './constants.ts'
