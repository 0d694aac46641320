/** Node roles: a relay, a headless Node peer, a browser tab. */
export type NodeRole = 'relay' | 'node' | 'browser'
export type RaftRole = 'voter' | 'learner' | 'none'
export type MemberStatus = 'alive' | 'suspect' | 'failed'
export type LinkTransport = 'tcp' | 'websockets' | 'webrtc' | 'circuit-relay'

export interface Capabilities {
  cpu: number
  memoryMb: number
  tags: string[]
}

/** What a node is using now; placement compares it with Capabilities. */
export interface Load {
  agents: number
  /** cpu units reserved by hosted agents */
  cpu: number
  /** memory reserved by hosted agents */
  memoryMb: number
  /** resident memory of the process (or tab heap), MB */
  rssMb: number
  eventLoopLagMs: number
}

export interface Link {
  peer: string
  transport: LinkTransport
}

/** The record a node signs and publishes about itself: when it changes, and every RECORD_REFRESH_INTERVAL_MS (heartbeats in between). */
export interface NodeRecord {
  peerId: string
  mesh: string
  role: NodeRole
  raft: RaftRole
  addrs: string[]
  capabilities: Capabilities
  load: Load
  links: Link[]
  /** agentmesh package version */
  version: string
  /** start time of this process: a higher one is a restart of the same peer */
  incarnation: number
  /** increases with every record within one incarnation */
  seq: number
  /** sender's wall clock when published */
  ts: number
  /** the interval at which this node promises to republish */
  heartbeatMs: number
  /** a hidden (throttled) browser tab */
  hidden: boolean
  /** extension fields other components publish (e.g. agent kinds hosted); JSON values */
  ext: Record<string, unknown>
}

/**
 * The small signed message a peer publishes between full records: it is alive, this is its load,
 * and `recordSeq` names the full record it currently stands by (a receiver that holds an older one
 * asks for it).
 */
export interface Heartbeat {
  peerId: string
  incarnation: number
  /** the same counter as NodeRecord.seq: a heartbeat is newer than every record and heartbeat before it */
  seq: number
  /** seq of the sender's current full record */
  recordSeq: number
  /** sender's wall clock when published */
  ts: number
  load: Load
}

export interface Member {
  peerId: string
  status: MemberStatus
  record: NodeRecord
  /** local monotonic time the last record arrived */
  lastSeen: number
  /** why it is suspect/failed */
  reason?: string
}

export interface Topology {
  nodes: Array<{ peerId: string, role: NodeRole, status: MemberStatus | 'self' }>
  edges: Array<{ from: string, to: string, transport: LinkTransport }>
}

export interface NodeEventDetail {
  peerId: string
  member: Member
  reason?: string
}

/** what partition awareness (partition.ts) concludes */
export interface PartitionStatus {
  /** some Raft voter is out of reach, or this side holds no voter majority */
  partitioned: boolean
  /** members this peer reaches, directly or through others (itself included), sorted */
  reachable: string[]
  /** this side holds a majority of the Raft voters (true while no voter group is known) */
  majority: boolean
  /** peers with an open connection to this one, sorted */
  direct: string[]
  /** the Raft voters this judgement used */
  voters: string[]
  /** voters known to this peer (members) and out of reach, sorted; a voter never heard of is not judged */
  unreachableVoters: string[]
}

/** what clock-skew outlier detection (clock-skew.ts) concludes */
export interface ClockSkewStatus {
  /** most peers heard from recently have clocks more than the bound off ours, the same way: ours is wrong */
  outlier: boolean
  /** median over those peers of (their clock - ours), ms: positive when they run ahead (ours is behind) */
  offsetMs: number
  /** peers whose recent stamps were compared */
  peers: number
  /** of those, how many are beyond the bound either way */
  farPeers: number
}

export interface NetworkEvents {
  'node:joined': CustomEvent<NodeEventDetail>
  'node:updated': CustomEvent<NodeEventDetail>
  'node:suspect': CustomEvent<NodeEventDetail>
  'node:failed': CustomEvent<NodeEventDetail>
  'node:recovered': CustomEvent<NodeEventDetail>
  'topology:changed': CustomEvent<Topology>
  /** this side lost sight of some Raft voter or of the voter majority */
  'network:partitioned': CustomEvent<PartitionStatus>
  /** every voter is in reach again */
  'network:healed': CustomEvent<PartitionStatus>
  /** this peer's wall clock is off from most peers' by more than the HLC drift bound allows (it is the outlier) */
  'network:clock-skew': CustomEvent<ClockSkewStatus>
  /** this peer's wall clock agrees with most peers' again */
  'network:clock-synced': CustomEvent<ClockSkewStatus>
}
