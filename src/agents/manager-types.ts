/**
 * What the DistributedAgentManager needs from the other components, as narrow interfaces (the
 * real NetworkManager, MessageBroker, ConsensusManager and DocReplicator fit them), and its events.
 */
import type { KvEntry, KvTxn, KvTxnResult, KvWriteOptions } from '../consensus/index.ts'
import type { Member, NetworkEvents, NodeRecord } from '../network/index.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { AgentLiveView, QuarantineNotice } from './failures.ts'
import type { LeaseKv } from './node-lease.ts'

export interface ManagerNetwork {
  readonly peerId: string
  members: () => Member[]
  member: (peerId: string) => Member | undefined
  localRecord: () => NodeRecord
  setExtension: (key: string, value: unknown) => void
  setHidden: (hidden: boolean) => void
  handleNodeFailure: (nodeId: string, options?: AbortOptions) => Promise<'alive' | 'suspect' | 'failed'>
  addEventListener: <K extends keyof NetworkEvents>(type: K, listener: (evt: NetworkEvents[K]) => void) => void
  removeEventListener: <K extends keyof NetworkEvents>(type: K, listener: (evt: NetworkEvents[K]) => void) => void
}

export interface ManagerKv extends LeaseKv {
  get: (key: string, options?: AbortOptions) => Promise<KvEntry | undefined>
  range: (prefix: string, options?: AbortOptions & { limit?: number }) => Promise<{ kvs: KvEntry[], more: boolean, revision: number }>
  txn: (t: KvTxn, options?: KvWriteOptions) => Promise<KvTxnResult>
  /** a lease's ttl and what is left of it, undefined once it expired or was revoked (recovery.ts) */
  timeToLive?: (lease: number, options?: AbortOptions) => Promise<{ id: number, ttlMs: number, remainingMs: number } | undefined>
  /** a fence key's highest token: for nodeLeaseKey(peer), the id of the peer's latest node lease (recovery.ts) */
  fenceToken?: (key: string, options?: AbortOptions) => Promise<number>
}

export interface ManagerConsensus {
  readonly kv: ManagerKv
  status: () => { role: string, leader: string | null, commitIndex: number, voters: string[] }
  addEventListener: (type: 'leader:changed', listener: (evt: CustomEvent<{ leader: string | null, term: number }>) => void) => void
  removeEventListener: (type: 'leader:changed', listener: (evt: CustomEvent<{ leader: string | null, term: number }>) => void) => void
}

/** a message as the broker hands it to handlers (the parts used here) */
export interface InboundMessage {
  id: string
  from: string
  target?: { kind: 'agent' | 'peer', id: string }
  /** the sender's sequence number on its channel to the target (durable sends; 0 = none) */
  seq?: number
  traceparent: string
  data: unknown
}

export interface ManagerBroker {
  setResolver: (resolver: ((agentId: string, options?: AbortOptions) => Promise<string | undefined>) | undefined) => void
  setRequestHandler: (handler: ((req: any, options: AbortOptions) => unknown) | undefined) => void // eslint-disable-line @typescript-eslint/no-explicit-any
  setMessageHandler: (handler: ((msg: any) => void | Promise<void>) | undefined) => void // eslint-disable-line @typescript-eslint/no-explicit-any
  request: (target: string | { kind: 'agent' | 'peer', id: string }, message: unknown, options?: AbortOptions & { timeoutMs?: number, traceparent?: string }) => Promise<unknown>
  send: (target: string | { kind: 'agent' | 'peer', id: string }, message: unknown, options?: AbortOptions & { traceparent?: string }) => Promise<unknown>
  publishMessage: (topic: string, message: unknown, options?: AbortOptions & { traceparent?: string }) => Promise<unknown>
  subscribe: (topic: string, handler: (msg: any) => void) => () => void // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** one agent as the API shows it */
export interface AgentInfo {
  id: string
  kind: string
  node: string
  epoch: number
  status: string
}

export interface AgentManagerEvents {
  'agent:deployed': CustomEvent<AgentInfo>
  'agent:migrated': CustomEvent<AgentInfo & { from: string, ms: number }>
  'agent:recovered': CustomEvent<AgentInfo & { from: string }>
  'agent:failed': CustomEvent<{ id: string, action: 'restarted' | 'quarantined', restarts: number, error: string }>
  /** an operator forced the agent's recovery from fewer members than its acknowledgements need */
  'agent:forced-recovery': CustomEvent<{ id: string, node: string, epoch: number, replicas: string[], lost: string[] }>
  /** a poison message was set aside by an agent running on this peer (the agent goes on serving) */
  'agent:message-quarantined': CustomEvent<QuarantineNotice>
}

/** GET /agents/:id: the placement plus its owner's live view (null when the owner did not answer) */
export interface AgentDetails extends AgentInfo {
  /** the replica set of its state, when one is recorded: members, and how many hold each acknowledged turn */
  replicas?: string[]
  acks?: number
  live: AgentLiveView | null
}
