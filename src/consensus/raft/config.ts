/** Configuration of one Raft node, with defaults from constants.ts. */
import { InvalidArgumentError } from '../../errors.ts'
import { componentLogger } from '../../util/logger.ts'
import { systemRng } from '../../util/prng.ts'
import type { Rng } from '../../util/prng.ts'
import {
  ELECTION_TICKS, HEARTBEAT_TICKS, MAX_COMMITTED_SIZE_PER_READY_BYTES, MAX_INFLIGHT_MSGS,
  MAX_PENDING_READ_INDEX, MAX_SIZE_PER_MSG_BYTES, MAX_UNCOMMITTED_ENTRIES_BYTES
} from './constants.ts'
import type { RaftLogStorage } from './storage.ts'
import type { NodeId } from './types.ts'

/** where the core reports what it decided (role changes, votes, membership, snapshots) */
export interface RaftLogger {
  info: (msg: string) => void
  warn: (msg: string) => void
}

export interface RaftConfig {
  id: NodeId
  storage: RaftLogStorage
  /** randomness for election timeouts (seeded in tests and simulations) */
  rng?: Rng
  electionTick?: number
  heartbeatTick?: number
  /** the application's last applied index on restart (default: the storage's snapshot index) */
  applied?: number
  preVote?: boolean
  checkQuorum?: boolean
  maxSizePerMsg?: number
  maxInflightMsgs?: number
  maxCommittedSizePerReady?: number
  maxUncommittedEntriesSize?: number
  maxPendingReadIndex?: number
  /** followers drop proposals instead of forwarding them to the leader */
  disableProposalForwarding?: boolean
  logger?: RaftLogger
}

export interface ResolvedRaftConfig extends Required<Omit<RaftConfig, 'applied'>> {
  applied: number
}

let defaultLogger: RaftLogger | undefined

function raftLogger (): RaftLogger {
  if (defaultLogger === undefined) {
    const log = componentLogger('raft')
    defaultLogger = { info: (msg) => { log(msg) }, warn: (msg) => { log(msg) } }
  }
  return defaultLogger
}

function positiveInt (name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0) throw new InvalidArgumentError(`raft config ${name} must be a positive integer, got ${v}`)
  return v
}

export function resolveRaftConfig (c: RaftConfig): ResolvedRaftConfig {
  if (typeof c.id !== 'string' || c.id === '') throw new InvalidArgumentError('raft config id must be a non-empty string')
  const electionTick = positiveInt('electionTick', c.electionTick ?? ELECTION_TICKS)
  const heartbeatTick = positiveInt('heartbeatTick', c.heartbeatTick ?? HEARTBEAT_TICKS)
  if (electionTick <= heartbeatTick) throw new InvalidArgumentError('raft config electionTick must be greater than heartbeatTick')
  return {
    id: c.id,
    storage: c.storage,
    rng: c.rng ?? systemRng,
    electionTick,
    heartbeatTick,
    applied: c.applied ?? 0,
    preVote: c.preVote ?? true,
    checkQuorum: c.checkQuorum ?? true,
    maxSizePerMsg: positiveInt('maxSizePerMsg', c.maxSizePerMsg ?? MAX_SIZE_PER_MSG_BYTES),
    maxInflightMsgs: positiveInt('maxInflightMsgs', c.maxInflightMsgs ?? MAX_INFLIGHT_MSGS),
    maxCommittedSizePerReady: positiveInt('maxCommittedSizePerReady', c.maxCommittedSizePerReady ?? MAX_COMMITTED_SIZE_PER_READY_BYTES),
    maxUncommittedEntriesSize: positiveInt('maxUncommittedEntriesSize', c.maxUncommittedEntriesSize ?? MAX_UNCOMMITTED_ENTRIES_BYTES),
    maxPendingReadIndex: positiveInt('maxPendingReadIndex', c.maxPendingReadIndex ?? MAX_PENDING_READ_INDEX),
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    logger: c.logger ?? raftLogger()
  }
}
