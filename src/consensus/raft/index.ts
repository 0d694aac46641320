/**
 * The pure Raft core (etcd-io/raft shape): RawNode over a RaftLogStorage, the data model, the
 * in-memory storage, ConfChange encoding and snapshot chunking for the transport.
 */
export * from './types.ts'
export { RawNode } from './raw-node.ts'
export type { RaftStatus, PeerProgressStatus } from './raw-node.ts'
export type { RaftConfig, RaftLogger } from './config.ts'
export {
  MemoryRaftStorage, LogCompactedError, LogUnavailableError, SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError, entrySizeBytes, limitEntriesSize, ENTRY_OVERHEAD_BYTES
} from './storage.ts'
export type { RaftLogStorage, RaftInitialState } from './storage.ts'
export { ProposalDroppedError } from './errors.ts'
export { encodeConfChange, decodeConfChange, describeConfChange, describeConfState } from './conf-change.ts'
export { chunkSnapshot, SnapshotReassembler } from './snapshot-chunks.ts'
export { coalesceMessages } from './coalesce.ts'
export { ProgressState } from './progress.ts'
export type { SnapshotChunk } from './snapshot-chunks.ts'
export { MESSAGE_TYPE_NAMES, newMessage } from './messages.ts'
export * as raftConstants from './constants.ts'
