/**
 * The Raft data model, shaped like etcd-io/raft's raftpb: shared by the pure core, the durable
 * log storage and the driver. Node ids are strings (libp2p peer ids in production).
 */

export type NodeId = string

export const enum EntryType {
  Normal = 0,
  ConfChange = 1
}

export interface Entry {
  term: number
  index: number
  type: EntryType
  /** opaque to Raft: a state-machine command, or an encoded ConfChange; empty for leader no-ops */
  data: Uint8Array
}

export interface HardState {
  term: number
  vote: NodeId | ''
  commit: number
}

export interface ConfState {
  voters: NodeId[]
  learners: NodeId[]
}

export interface SnapshotMetadata {
  index: number
  term: number
  confState: ConfState
}

export interface Snapshot {
  metadata: SnapshotMetadata
  /** the state machine's serialised state at metadata.index */
  data: Uint8Array
}

export const enum ConfChangeType {
  AddNode = 0,
  RemoveNode = 1,
  AddLearner = 2
}

/** a single-server membership change; AddNode on an existing learner promotes it */
export interface ConfChange {
  type: ConfChangeType
  nodeId: NodeId
}

export const enum MessageType {
  Hup = 0, // local: start an election
  Beat = 1, // local: leader heartbeat tick
  Prop = 2, // propose entries (local, or forwarded by a follower)
  App = 3,
  AppResp = 4,
  Vote = 5,
  VoteResp = 6,
  PreVote = 7,
  PreVoteResp = 8,
  Snap = 9,
  SnapStatus = 10, // local: report whether a snapshot send succeeded
  Heartbeat = 11,
  HeartbeatResp = 12,
  Unreachable = 13, // local: the transport could not reach `from`
  TransferLeader = 14,
  TimeoutNow = 15,
  ReadIndex = 16,
  ReadIndexResp = 17,
  CheckQuorum = 18 // local
}

export interface Message {
  type: MessageType
  to: NodeId
  from: NodeId
  term: number
  /** for App: term of the entry before `entries`; for AppResp: hint term on reject */
  logTerm: number
  /** for App: index of the entry before `entries`; for AppResp: the index acked or rejected */
  index: number
  entries: Entry[]
  commit: number
  snapshot?: Snapshot
  reject: boolean
  /** on reject: the follower's hint of where its log may match */
  rejectHint: number
  /** opaque context: ReadIndex request ids, campaign-transfer marker */
  context?: Uint8Array
}

export interface ReadState {
  index: number
  /** the request context passed to readIndex() */
  requestCtx: Uint8Array
}

export type StateRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader'

export interface SoftState {
  lead: NodeId | ''
  role: StateRole
}

/**
 * What the driver must handle, in order: persist `hardState`, `entries` and `snapshot`
 * (durably), then send `messages`, then apply `snapshot` and `committedEntries`, then advance().
 */
export interface Ready {
  softState?: SoftState
  hardState?: HardState
  readStates: ReadState[]
  entries: Entry[]
  snapshot?: Snapshot
  committedEntries: Entry[]
  messages: Message[]
  /** true when hardState/entries/snapshot must be fsynced before messages are sent */
  mustSync: boolean
}
