/**
 * Agents: kinds, the context their handlers get, the turn-based mailbox, placement scoring and
 * resource accounting, the LLM client and the built-in kinds. The DistributedAgentManager wires
 * these to the broker, the Raft KV store and the CRDT docs through `AgentServices` and `AgentState`.
 */
export * from './types.ts'
export type { ChatRole, ChatMessage, ChatOptions, ChatUsage, ChatResult, ChatChunk, LlmClient } from './llm-types.ts'
export { HttpLlmClient, createLlmClient, resolveLlmConfig, parseRetryAfter } from './llm.ts'
export type { LlmClientInit, LlmConfig, FetchLike } from './llm.ts'
export { PoisonMessageError, LlmResponseError } from './errors.ts'
export * as agentConstants from './constants.ts'
export { defineAgent, KindRegistry, validateAgentId, validateKindName, validateRequirements, validateTags } from './define.ts'
export { MemoryAgentState } from './state.ts'
export { Mailbox } from './mailbox.ts'
export type {
  Turn, TurnHandler, MailboxInit, PostOptions, FailureDetail, QuarantinedMessage, DrainedMessage, MailboxEvents
} from './mailbox.ts'
export { ResourceLedger, fitProblems } from './ledger.ts'
export type { NodeCapacity, ResourceAmount, ResourceUse, Reservation, LedgerJSON } from './ledger.ts'
export { scorePlacement, rankPlacement, agentsRecordExt, hostedKinds, maxAgentsOf, placementTier } from './placement.ts'
export type {
  PlacementRecord, AgentsRecordExt, PlacementCandidate, PlacementOptions, RankedCandidate, RefusedCandidate, PlacementResult
} from './placement.ts'
export { linkSignals } from '../util/abort.ts'
export type { LinkedSignal } from '../util/abort.ts'
export { createAgentContext, noopSpan } from './context.ts'
export type { ContextBase, TurnScope } from './context.ts'
export { AgentActivation } from './activation.ts'
export type { AgentActivationInit, ActivationStatus, ActivationEvents, MailboxOptions, StopOptions } from './activation.ts'
export { AgentHost } from './host.ts'
export type { AgentHostInit, ActivateSpec, DeliverOptions, HostedAgent, AgentHostEvents } from './host.ts'
export { LocalAgentMesh } from './local-mesh.ts'
export type { LocalAgentMeshInit, Fault } from './local-mesh.ts'
export * from './kinds/index.ts'
export { DistributedAgentManager } from './manager.ts'
export type { AgentManagerComponents, AgentManagerInit } from './manager.ts'
export type { AgentDetails, AgentInfo, AgentManagerEvents, ManagerBroker, ManagerConsensus, ManagerNetwork, ManagerKv } from './manager-types.ts'
export type { Placement, PlacementStatus } from './directory.ts'
export { PlacementCache, decodePlacement, encodePlacement, placementKey } from './directory.ts'
export { AgentFailureWatch, QUARANTINE_ALERT } from './failures.ts'
export type { AgentLiveView, AlertSink, QuarantineNotice } from './failures.ts'
export { Rebalancer } from './rebalancer.ts'
export type { RebalanceMove } from './rebalancer.ts'
export { NodeLease, nodeLeaseKey, NODE_LEASE_KEY_PREFIX } from './node-lease.ts'
export type { NodeLeaseEvents, NodeLeaseInit, LeaseKv } from './node-lease.ts'
export type { NodeLeaseTiming } from './constants.ts'
export { decodeControl, encodeControl, CONTROL_TAG } from './control.ts'
export type { ControlMessage } from './control.ts'
export type { AgentDocs } from './local-agents.ts'
