/**
 * agentmesh: a browser-first, peer-to-peer network of AI agents. The same import in Node and in
 * browsers; platform differences are selected by package.json conditions.
 */
export { createNode } from './node.ts'
export type { CreateNodeOptions, MeshNode } from './node.ts'
export * from './errors.ts'
export { VERSION } from './version.ts'

export { NetworkManager } from './network/index.ts'
export type {
  Capabilities, Load, Link, LinkTransport, Member, MemberStatus, NodeRecord, NodeRole, RaftRole,
  Topology, NetworkEvents, NodeEventDetail
} from './network/index.ts'
export { MessageBroker } from './messaging/index.ts'
export { MonitoringSystem, MeshView } from './monitoring/index.ts'
export type { MeshSnapshot, HealthReport, Alert, SpanRecord } from './monitoring/index.ts'
export { ConsensusManager, ConsensusKv } from './consensus/index.ts'
export type { ConsensusStatus, ConsensusRole, ConsensusEvents, ConsensusChange, ProposalOutcome } from './consensus/index.ts'
export { DocReplicator, YKeyValue } from './consensus/crdt/index.ts'
export {
  DistributedAgentManager, defineAgent, builtinKinds, echo, counter, llmChat, coordinator, worker, createLlmClient, PoisonMessageError, LlmResponseError
} from './agents/index.ts'
export type {
  AgentKind, AgentDefinition, AgentContext, AgentState, AgentMessage, AgentRequirements, DeploySpec, DeployedAgent, AgentInfo,
  AgentManagerEvents, Placement, PlacementStatus, LlmClient, ChatMessage, ChatResult, JsonValue, JsonObject
} from './agents/index.ts'
export type { Store } from './storage/types.ts'
