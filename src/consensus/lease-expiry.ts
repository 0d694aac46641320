/**
 * Lease time on the leader: a new leader first proposes lease-promote (so leases kept alive
 * through the old leader are not expired early), then expire-leases once the earliest is due.
 * Each is proposed again if it has not been applied within a lease check or two.
 */
import type { Clock } from '../util/clock.ts'
import { LEASE_EXPIRY_CHECK_MS } from './constants.ts'
import type { RaftDriver } from './driver.ts'
import type { KvCommand } from './kv/index.ts'

export class LeaseExpiry {
  private readonly clock: Clock
  /** the leader's lease time (lease-time.ts) */
  private readonly leaseClock: Clock
  /** the term in which this peer, as leader, has had lease-promote applied */
  private promotedTerm = -1
  private proposedAt = 0

  constructor (clock: Clock, leaseClock: Clock) {
    this.clock = clock
    this.leaseClock = leaseClock
  }

  /** runs every LEASE_EXPIRY_CHECK_MS: proposes what is due when this peer leads */
  check (d: RaftDriver): void {
    const st = d.status()
    if (st.role !== 'leader') return
    const now = this.leaseClock.now()
    const mono = this.clock.monotonic()
    if (mono - this.proposedAt < 2 * LEASE_EXPIRY_CHECK_MS) return
    if (this.promotedTerm !== st.term) {
      if (d.proposeOnce({ type: 'lease-promote', nowMs: now })) this.proposedAt = mono
      return
    }
    const next = d.sm.nextLeaseExpiryMs()
    if (next === undefined || next > now) return
    if (d.proposeOnce({ type: 'expire-leases', nowMs: now })) this.proposedAt = mono
  }

  /** a command without a request id was applied from an entry of `term`; `currentTerm` reads the driver's */
  applied (cmd: KvCommand, term: number, currentTerm: () => number | undefined): void {
    if (cmd.type === 'lease-promote' && term === currentTerm()) this.promotedTerm = term
    this.proposedAt = 0
  }
}
