/**
 * The leader's lessor (etcd's): lease renewals are answered by the Raft leader from memory, not
 * written to the log. Only grants, revokes, `lease-promote` and `expire-leases` are entries, so
 * an idle mesh writes no entry for the renewals of its peers' node leases (they were most of its
 * Raft traffic: one fsynced entry per peer every 400 ms on every voter).
 *
 * - A renewal is a linearizable read plus a local write (driver-leases.ts: the leader confirms
 *   its leadership and applies up to the read index first, then asks `renew`). The renewed expiry,
 *   `now + ttl` by the leader's lease time (lease-time.ts), is kept here; a lease's effective
 *   expiry on the leader is the later of that and its replicated `expiresAtMs`.
 * - A lease whose effective expiry has passed is never renewed (NotFoundError): `expire-leases`
 *   is proposed for due leases only, naming them, so a due lease may already be on its way out
 *   and must not come back.
 * - What is kept here is only meaningful while this peer leads in one term: it is dropped when the
 *   term or role changes. A new leader first has `lease-promote` applied (every lease gets a full
 *   ttl from the new leader's now), which covers the renewals the old leader answered: each was
 *   answered after a heartbeat quorum of the old term confirmed it, so before the new leader was
 *   elected and before the promote was proposed. Until the promote of its term is applied, a new
 *   leader renews without the due check (it proposes no expiry before then, and the promote gives
 *   every lease at least as much).
 *
 * The holder still counts its lease valid until its renewal's send time + ttl - safety
 * (agents/node-lease.ts), which ends before any expiry stamped here: the leader's now is later.
 */
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import type { KvCommand, KvStateMachine } from './kv/index.ts'
import type { LeaseOutcome } from './lease-wire.ts'
import type { StateRole } from './raft/index.ts'

export interface LeaderLeasesHost {
  /** the leader's lease time */
  leaseClock: Clock
  /** this peer's Raft role and term now */
  raft: () => { role: StateRole, term: number }
  logger: Logger
  /** a renewal was answered here */
  renewed?: () => void
}

export class LeaderLeases {
  private readonly host: LeaderLeasesHost
  /** lease id -> expiry renewed here (lease time), for the term in `term` */
  private readonly renewals = new Map<number, number>()
  /** the term in which this peer led when `renewals` was filled (-1: none) */
  private term = -1
  /** the term whose lease-promote has been applied here while this peer led it */
  private promotedTerm = -1

  constructor (host: LeaderLeasesHost) {
    this.host = host
  }

  /** true while this peer leads; what was renewed in an earlier term or role is dropped */
  leads (): boolean {
    const { role, term } = this.host.raft()
    const leads = role === 'leader'
    if (!leads || term !== this.term) {
      this.renewals.clear()
      this.term = leads ? term : -1
    }
    return leads
  }

  /** a command without a request id was applied from an entry of `entryTerm` */
  applied (cmd: KvCommand, entryTerm: number): void {
    if (cmd.type === 'lease-promote' && entryTerm === this.host.raft().term) this.promotedTerm = entryTerm
  }

  /** the lease-promote of this peer's current term has been applied (expiry may be proposed) */
  promoted (): boolean {
    return this.promotedTerm === this.host.raft().term
  }

  /** a lease's expiry by this leader: its replicated expiry or a later renewal made here */
  private effective (id: number, replicatedMs: number): number {
    const renewed = this.renewals.get(id)
    return renewed !== undefined && renewed > replicatedMs ? renewed : replicatedMs
  }

  /**
   * renews `id` for its ttl from now; the caller has confirmed leadership and applied up to a read
   * index since the question arrived. Not found when the lease is gone, or due (never brought back)
   */
  renew (sm: KvStateMachine, id: number): LeaseOutcome {
    if (!this.leads()) return { status: 'retry' }
    const l = sm.leaseTimes(id)
    if (l === undefined) return this.refuse(id, 'expired or revoked')
    const now = this.host.leaseClock.now()
    const current = this.effective(id, l.expiresAtMs)
    if (current <= now && this.promoted()) return this.refuse(id, `due since ${now - current} ms`)
    const expiresAtMs = Math.max(current, now + l.ttlMs)
    this.renewals.set(id, expiresAtMs)
    this.host.renewed?.()
    return { status: 'ok', ttlMs: l.ttlMs, expiresAtMs, remainingMs: expiresAtMs - now }
  }

  /** a lease's ttl and what is left of it by this leader (renewals made here counted) */
  timeToLive (sm: KvStateMachine, id: number): LeaseOutcome {
    if (!this.leads()) return { status: 'retry' }
    const l = sm.leaseTimes(id)
    if (l === undefined) return { status: 'not-found' }
    const expiresAtMs = this.effective(id, l.expiresAtMs)
    return { status: 'ok', ttlMs: l.ttlMs, expiresAtMs, remainingMs: Math.max(0, expiresAtMs - this.host.leaseClock.now()) }
  }

  /**
   * the leases whose effective expiry is at or before `nowMs` (at most `max`, earliest first), for
   * expire-leases; renewals of leases that are gone are forgotten on the way
   */
  due (sm: KvStateMachine, nowMs: number, max: number): number[] {
    this.leads()
    for (const id of this.renewals.keys()) if (sm.leaseTimes(id) === undefined) this.renewals.delete(id)
    const due: Array<{ id: number, at: number }> = []
    sm.forEachLease(l => {
      const at = this.effective(l.id, l.expiresAtMs)
      if (at <= nowMs) due.push({ id: l.id, at })
    })
    if (due.length > max) due.sort((a, b) => a.at - b.at || a.id - b.id)
    return due.slice(0, max).map(d => d.id).sort((a, b) => a - b)
  }

  /** renewals held here now (for tests and inspection) */
  get size (): number {
    return this.renewals.size
  }

  private refuse (id: number, why: string): LeaseOutcome {
    this.host.logger('refused a renewal of lease %d: %s', id, why)
    return { status: 'not-found' }
  }
}
