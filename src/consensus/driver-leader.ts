/**
 * The Raft driver's view of leadership over time: the leader it last reported, since when it has
 * known none, and the callers waiting for one (a proposal or read cannot go anywhere without it).
 */
import { NoQuorumError, NotStartedError } from '../errors.ts'
import { deferred, raceSignal, throwIfAborted } from '../util/abort.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import { NO_LEADER_GRACE_MS } from './constants.ts'

/** what waiting for a leader reads from the driver */
export interface LeaderWatchHost {
  /** the driver runs; a failure that stopped it, if any */
  running: () => boolean
  failure: () => Error | undefined
  /** the leader Raft knows now ('' for none) */
  raftLead: () => string
  isMember: () => boolean
  /** last index of this peer's log (0: it never had one, so no leader is coming without a join) */
  lastIndex: () => number
  /** longest wait between two looks at Raft's leader */
  tickMs: () => number
}

export class LeaderWatch {
  private readonly clock: Clock
  private readonly host: LeaderWatchHost
  /** the leader last reported by a Ready's soft state */
  private lead = ''
  private leaderlessSince: number
  private readonly waiters = new Set<() => void>()

  constructor (clock: Clock, host: LeaderWatchHost) {
    this.clock = clock
    this.host = host
    this.leaderlessSince = clock.monotonic()
  }

  /** (re)starts counting leaderless time from now */
  restart (): void {
    this.leaderlessSince = this.clock.monotonic()
  }

  /**
   * when the current stretch without a leader began. Raft drops its leader inside a tick (a
   * follower turning pre-candidate) and the Ready reporting it comes after: until then the last
   * report still names a leader and the stretch began just now, not at the last reported loss
   * (taking that one rejected every waiting request at the first tick of an election, NoQuorumError
   * "no raft leader known for 31467 ms" 1.5 s after the leader died)
   */
  private leaderlessStart (now: number): number {
    return this.lead !== '' ? now : this.leaderlessSince
  }

  /** monotonic ms without a known leader (0 while one is known) */
  leaderlessMs (): number {
    const now = this.clock.monotonic()
    return this.host.raftLead() === '' ? now - this.leaderlessStart(now) : 0
  }

  /** true once no leader has been known for longer than NO_LEADER_GRACE_MS */
  graceOver (now: number): boolean {
    return now - this.leaderlessStart(now) > NO_LEADER_GRACE_MS
  }

  /** a Ready reported `lead`; true when that is a change (waiters are woken) */
  reported (lead: string): boolean {
    if (lead === this.lead) return false
    this.lead = lead
    if (lead === '') this.leaderlessSince = this.clock.monotonic()
    this.wakeAll()
    return true
  }

  /** wakes every waiter to look again (on a change, or when the driver stops) */
  wakeAll (): void {
    for (const w of [...this.waiters]) w()
  }

  noQuorum (): Error {
    if (!this.host.isMember()) return new NoQuorumError('this peer is not (yet) a member of the raft group')
    return new NoQuorumError(`no raft leader known for ${Math.round(this.leaderlessMs())} ms`)
  }

  /** waits until a leader is known; NoQuorumError once none has been for NO_LEADER_GRACE_MS */
  async waitForLeader (options: AbortOptions = {}): Promise<string> {
    for (;;) {
      if (!this.host.running()) throw new NotStartedError('consensus is not running')
      const failure = this.host.failure()
      if (failure !== undefined) throw failure
      throwIfAborted(options.signal)
      const lead = this.host.raftLead()
      if (lead !== '') return lead
      const now = this.clock.monotonic()
      const left = NO_LEADER_GRACE_MS - (now - this.leaderlessStart(now))
      if (left <= 0 || (!this.host.isMember() && this.host.lastIndex() === 0)) throw this.noQuorum()
      const wake = deferred<void>()
      const timer = this.clock.setTimeout(() => { wake.resolve() }, Math.min(left, this.host.tickMs()))
      this.waiters.add(wake.resolve)
      try {
        await raceSignal(wake.promise, options.signal)
      } finally {
        this.clock.clearTimeout(timer)
        this.waiters.delete(wake.resolve)
      }
    }
  }
}
