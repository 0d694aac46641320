/**
 * Refusals this peer receives (raft-wire.ts: a small frame written back on its own Raft stream by
 * a peer that dropped what it sent). Only its current leader is believed, and only about what
 * this peer asks of a leader (proposals, reads): then the callers waiting for that leader fail at
 * once with UnauthorizedError naming the leader's reason, and for RAFT_REFUSAL_MEMORY_MS new strong
 * operations of the same kind fail the same way without asking (while that peer still leads). A
 * refusal of reads says nothing about proposals, nor the other way round: each is remembered apart. A leader could as
 * well drop what it refuses, so believing it costs nothing; a refusal from anyone else (a forger,
 * a deposed leader) changes nothing here and is only logged. A refusal of voter messages is logged.
 */
import { UnauthorizedError } from '../errors.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import { RAFT_REFUSAL_LOG_INTERVAL_MS, RAFT_REFUSAL_MEMORY_MS } from './constants.ts'
import type { RaftRefusal, StrongOperation } from './raft-wire.ts'

/** what a believed refusal acts on: the driver's waiting callers */
export interface RefusedRequests {
  /** the leader this peer knows now ('' for none) */
  readonly leader: string
  /** fails the waiting proposals (subject 'proposal') or the reads not yet given an index ('read') with `err` */
  rejectRefused: (subject: StrongOperation, err: Error) => void
}

/** most peers remembered for rate-limiting log lines (the map is cleared beyond it) */
const MAX_LOGGED_PEERS = 1024

export class ReceivedRefusals {
  private readonly clock: Clock
  private readonly log: Logger
  /** the last believed refusal of each subject */
  private readonly last = new Map<StrongOperation, { leader: string, message: string, until: number }>()
  private readonly loggedAt = new Map<string, number>()

  constructor (clock: Clock, log: Logger) {
    this.clock = clock
    this.log = log
  }

  /** a refusal from `peer`; `requests` is the driver as it is now */
  received (peer: string, refusal: RaftRefusal, requests: RefusedRequests): void {
    if (refusal.subject === 'raft') {
      this.logLimited(peer, 'raft peer %s refuses this peer\'s voter messages: %s', peer, refusal.reason)
      return
    }
    if (peer !== requests.leader) {
      this.logLimited(peer, 'ignored a refusal of this peer\'s %s from %s, which is not its raft leader (%s): %s',
        refusal.subject, peer, requests.leader === '' ? 'none known' : requests.leader, refusal.reason)
      return
    }
    const what = refusal.subject === 'proposal' ? 'KV proposals' : 'linearizable reads'
    const message = `the raft leader ${peer} refuses this peer's ${what}: ${refusal.reason}`
    const prev = this.last.get(refusal.subject)
    const fresh = prev === undefined || prev.leader !== peer || prev.message !== message || this.clock.monotonic() >= prev.until
    this.last.set(refusal.subject, { leader: peer, message, until: this.clock.monotonic() + RAFT_REFUSAL_MEMORY_MS })
    if (fresh) this.log.error('%s', message)
    requests.rejectRefused(refusal.subject, new UnauthorizedError(message, { details: { leader: peer, subject: refusal.subject, reason: refusal.reason } }))
  }

  /** the UnauthorizedError a strong operation of `subject` gets now without asking, if `leader` refused that lately */
  current (leader: string, subject: StrongOperation): UnauthorizedError | undefined {
    const l = this.last.get(subject)
    if (l === undefined || leader === '' || l.leader !== leader) return undefined
    if (this.clock.monotonic() >= l.until) {
      this.last.delete(subject)
      return undefined
    }
    return new UnauthorizedError(`${l.message} (refused within the last ${RAFT_REFUSAL_MEMORY_MS / 1000} s; not asked again yet)`, { details: { leader, subject } })
  }

  private logLimited (peer: string, format: string, ...args: unknown[]): void {
    const now = this.clock.monotonic()
    const at = this.loggedAt.get(peer)
    if (at !== undefined && now - at < RAFT_REFUSAL_LOG_INTERVAL_MS) return
    if (this.loggedAt.size >= MAX_LOGGED_PEERS) this.loggedAt.clear()
    this.loggedAt.set(peer, now)
    this.log(format, ...args)
  }
}
