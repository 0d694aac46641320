/**
 * Lease expiry on the leader: a new leader first proposes lease-promote (so leases renewed through
 * the old leader are not expired early: each gets a full ttl from the new leader's now), then,
 * once a lease's effective expiry has passed (its replicated expiry or a later renewal the leader
 * answered from memory, lease-renewals.ts), expire-leases naming the due leases. Renewals are not
 * Raft entries, so these and grants and revokes are the only lease entries. Each is proposed again
 * if it has not been applied within a lease check or two.
 */
import type { Clock } from '../util/clock.ts'
import { LEASE_EXPIRY_CHECK_MS } from './constants.ts'
import type { RaftDriver } from './driver.ts'
import { MAX_EXPIRE_LEASES_PER_COMMAND } from './kv/index.ts'

export class LeaseExpiry {
  private readonly clock: Clock
  /** the leader's lease time (lease-time.ts) */
  private readonly leaseClock: Clock
  private proposedAt = 0

  constructor (clock: Clock, leaseClock: Clock) {
    this.clock = clock
    this.leaseClock = leaseClock
  }

  /** runs every LEASE_EXPIRY_CHECK_MS: proposes what is due when this peer leads */
  check (d: RaftDriver): void {
    if (!d.leases.leads()) return
    const now = this.leaseClock.now()
    const mono = this.clock.monotonic()
    if (mono - this.proposedAt < 2 * LEASE_EXPIRY_CHECK_MS) return
    if (!d.leases.promoted()) {
      if (d.proposeOnce({ type: 'lease-promote', nowMs: now })) this.proposedAt = mono
      return
    }
    const leases = d.leases.due(d.sm, now, MAX_EXPIRE_LEASES_PER_COMMAND)
    if (leases.length > 0 && d.proposeOnce({ type: 'expire-leases', nowMs: now, leases })) this.proposedAt = mono
  }

  /** a command without a request id (expire-leases, lease-promote) was applied: the next may be proposed */
  applied (): void {
    this.proposedAt = 0
  }
}
