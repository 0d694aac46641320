/** The ConsensusManager's contract types: what it is built from, its status and its events. */
import type { Telemetry } from '../monitoring/types.ts'
import type { Member, NodeRecord, RaftRole } from '../network/index.ts'
import type { Store } from '../storage/types.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Rng } from '../util/prng.ts'
import type { ConsensusGate } from './consensus-gate.ts'
import type { DurableRaftLog } from './log-store.ts'
import type { StateRole } from './raft/index.ts'
import type { Message } from './raft/index.ts'
import type { RaftLibp2p, RaftTransportHandler } from './raft-transport.ts'
import type { RaftRefusal } from './raft-wire.ts'

/** what the manager needs from the NetworkManager */
export interface ConsensusNetwork {
  readonly peerId: string
  members: () => Member[]
  localRecord: () => NodeRecord
  setRaftRole: (role: RaftRole) => void
  setExtension: (key: string, value: unknown) => void
  /** partition awareness: on the minority side strong operations fail fast (NoQuorumError) */
  partitionStatus?: () => { majority: boolean, voters: string[], unreachableVoters: string[] }
}

/** what the manager needs of its Raft transport (Libp2pRaftTransport, or an in-memory one in tests) */
export interface ConsensusRaftTransport {
  start: () => Promise<void>
  stop: () => Promise<void>
  send: (to: string, messages: Message[]) => void
  /** writes a refusal back to `peer` (rate-limited per peer and subject); false when dropped */
  refuse: (peer: string, make: () => Promise<RaftRefusal | undefined>, subject?: string) => boolean
}

export interface ConsensusManagerComponents {
  libp2p: RaftLibp2p
  network: ConsensusNetwork
  store: Store
  telemetry?: Telemetry
  clock?: Clock
  rng?: Rng
  /**
   * membership credentials: only peers it allows as `voter` are made voters or heard as such, and
   * only `member`s (a valid credential with any roles) have proposals and reads served (default: everyone)
   */
  gate?: ConsensusGate
  /** opens the Raft log given its Store (default: the log kept in that Store; Node data dirs use a WAL) */
  openLog?: (store: Store, options?: AbortOptions) => Promise<DurableRaftLog>
  /** makes the Raft transport (default: Libp2pRaftTransport over `libp2p`; deterministic tests pass an in-memory one) */
  raftTransport?: (init: { selfId: string, clock: Clock, handler: RaftTransportHandler }) => ConsensusRaftTransport
}

export interface ConsensusManagerInit {
  /** a candidate for the voter group (default true; tabs should say false) */
  voter?: boolean
  /** candidates seen before the lowest bootstraps without waiting (default BOOTSTRAP_EXPECT) */
  bootstrapExpect?: number
  /**
   * this peer joins an existing mesh (it was given bootstrap peers): it does not bootstrap a group
   * before it has heard from another peer that runs consensus, however long that takes (a slow
   * start is not an empty mesh; default false)
   */
  joining?: boolean
  /** run the voter autopilot when leading (default true) */
  autopilot?: boolean
  /** let tabs be voters (default false) */
  tabVoters?: boolean
  /** Raft timing (tests) */
  tickMs?: number
  electionTicks?: number
  snapshotEveryEntries?: number
  compactKeepEntries?: number
}

export type ConsensusRole = StateRole | 'learner' | 'none'

export interface ConsensusStatus {
  role: ConsensusRole
  term: number
  leader: string | null
  commitIndex: number
  appliedIndex: number
  voters: string[]
  learners: string[]
  /** the group's id ('' before this peer belongs to one) */
  group: string
  /** index of this peer's latest snapshot (the log before it is compacted away) */
  snapshotIndex: number
}

export interface ConsensusEvents {
  'leader:changed': CustomEvent<{ leader: string | null, term: number }>
  'role:changed': CustomEvent<{ role: ConsensusRole }>
  'membership:changed': CustomEvent<{ voters: string[], learners: string[] }>
}
