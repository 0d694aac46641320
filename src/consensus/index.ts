/**
 * The consensus contract: ConsensusManager (Raft group membership, the replicated KV store,
 * proposeChange / reachConsensus), its events and status, and the parts others may use directly
 * (the driver and transport for tests and benchmarks). The CRDT side lives in ./crdt/.
 */
export { ConsensusManager } from './consensus-manager.ts'
export type {
  ConsensusManagerComponents, ConsensusManagerInit, ConsensusNetwork, ConsensusRaftTransport, ConsensusStatus, ConsensusRole, ConsensusEvents
} from './consensus-manager.ts'
export { ConsensusKv, encodeValue, decodeValue } from './kv.ts'
export type {
  KvEntry, KvPutOptions, KvWriteOptions, KvCompare, KvTxnOp, KvOpResult, KvTxn, KvTxnResult, KvLease
} from './kv.ts'
export type { ConsensusChange, ProposalOutcome, ProposalStatus } from './changes.ts'
export { RaftDriver } from './driver.ts'
export type { RaftDriverInit, DriverHooks } from './driver.ts'
export { Libp2pRaftTransport } from './raft-transport.ts'
export type { RaftSender, RaftLibp2p, RaftTransportHandler } from './raft-transport.ts'
export { DurableRaftLog } from './log-store.ts'
export { planAutopilot, voterTarget, BootstrapWatch } from './autopilot.ts'
export type { AutopilotView, AutopilotPeer, AutopilotAction, RaftAnnouncement } from './autopilot.ts'
export { RAFT_PROTOCOL } from './constants.ts'
