/** What the Raft driver is built from (RaftDriverInit) and what it tells its owner (DriverHooks). */
import type { Tracing } from '../monitoring/types.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import type { Rng } from '../util/prng.ts'
import type { KvCommand, KvResult } from './kv/index.ts'
import type { DurableRaftLog } from './log-store.ts'
import type { ConfState, RaftLogger, StateRole } from './raft/index.ts'
import type { RaftSender } from './raft-transport.ts'

export interface DriverHooks {
  /** the known leader changed ('' for none) */
  leaderChanged?: (leader: string, term: number) => void
  roleChanged?: (role: StateRole) => void
  /** the membership changed (a conf change or a snapshot was applied) */
  confChanged?: (cs: ConfState) => void
  /** a Ready that applied a membership change is done: Raft takes the next change from now on */
  confApplied?: () => void
  /** a snapshot sent by a member of `groupId` was installed */
  snapshotInstalled?: (groupId: string) => void
  /** a command without a request id (expire-leases, lease-promote) was applied from an entry of `term` */
  applied?: (cmd: KvCommand, term: number, result: KvResult) => void
  /** the driver stopped working (the log cannot be written) */
  failed?: (err: Error) => void
  /** seconds spent making one Ready durable */
  persisted?: (seconds: number) => void
  /** seconds from a proposal to its result */
  proposalDone?: (seconds: number, ok: boolean) => void
  /** this peer, as leader, renewed a lease from memory (lease-renewals.ts) */
  leaseRenewed?: () => void
}

export interface RaftDriverInit {
  id: string
  log: DurableRaftLog
  sender: RaftSender
  clock: Clock
  /** the time leases are renewed by on the leader (lease-time.ts); `clock` when not given */
  leaseClock?: Clock
  rng: Rng
  logger: Logger
  hooks?: DriverHooks
  tickMs?: number
  electionTicks?: number
  heartbeatTicks?: number
  snapshotEveryEntries?: number
  compactKeepEntries?: number
  raftLogger?: RaftLogger
  /** spans around proposals (`raft.propose`), when given */
  tracing?: Tracing
}
