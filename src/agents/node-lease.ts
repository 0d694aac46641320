/**
 * This peer's lease in Raft: the credential under which it runs agents. Granted once, renewed
 * (keepAlive) every renewMs; its timing is the runtime's (#platform/node-lease: 2 s in Node
 * processes, 10 s in browser tabs, whose renewals take longer to reach the leader). The peer counts it valid until the send time of its last
 * successful renewal plus the ttl minus a safety margin, which always ends before the leader
 * could expire it (the Raft leader answers a renewal from memory and counts from when it answered,
 * later: consensus/lease-renewals.ts). A
 * peer that cannot renew (partitioned from the majority, or its lease expired or was revoked)
 * stops serving when that time passes: `lease:lapsed`; a lease the store no longer knows is
 * `lease:lost` and a new one is granted.
 *
 * With a `holder`, each grant raises the fence `node-leases/<holder>` (nodeLeaseKey) to the new
 * lease's id, in the grant's own Raft entry, so the store always knows the peer's latest lease. The
 * leader looks a failed peer's lease up there (recovery.ts): the lease id in the peer's gossiped
 * record can be an older one, when the peer lost its lease, was granted another and was cut off
 * before its record carrying the new id spread.
 */
import { TypedEventEmitter } from 'main-event'
import { describeError } from '../errors.ts'
import { linkSignals } from '../util/abort.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import { NODE_LEASE_TIMING } from '#platform/node-lease'

/** the part of ConsensusKv the lease uses */
export interface LeaseKv {
  grantLease: (ttlMs: number, options?: { signal?: AbortSignal, fenceKey?: string }) => Promise<{ id: number, ttlMs: number, expiresAtMs: number }>
  keepAlive: (lease: number, options?: { signal?: AbortSignal }) => Promise<{ id: number, ttlMs: number, expiresAtMs: number }>
  revoke: (lease: number, options?: { signal?: AbortSignal }) => Promise<unknown>
}

/** the fence key each of a peer's node lease grants raises to its id: its highest token is the peer's latest lease */
export const NODE_LEASE_KEY_PREFIX = 'node-leases/'

export function nodeLeaseKey (peerId: string): string {
  return NODE_LEASE_KEY_PREFIX + peerId
}

export interface NodeLeaseEvents {
  'lease:granted': CustomEvent<{ lease: number }>
  'lease:renewed': CustomEvent<{ lease: number }>
  'lease:lapsed': CustomEvent<{ lease: number }>
  'lease:lost': CustomEvent<{ lease: number, reason: string }>
}

export interface NodeLeaseInit {
  kv: LeaseKv
  clock: Clock
  log: Logger
  ttlMs?: number
  renewMs?: number
  safetyMs?: number
  /** this peer's id: each grant raises the fence nodeLeaseKey(holder) to the lease's id */
  holder?: string
}

export class NodeLease extends TypedEventEmitter<NodeLeaseEvents> {
  private readonly kv: LeaseKv
  private readonly clock: Clock
  private readonly log: Logger
  private readonly ttlMs: number
  private readonly renewMs: number
  private readonly safetyMs: number
  private readonly holder?: string
  /** renewals in flight at once: one per renewMs of the ttl, so slow commits still overlap */
  private readonly maxInflight: number
  private leaseId = 0
  /** monotonic time until which this peer may serve */
  private validUntil = 0
  private timer?: TimerHandle
  private lapseTimer?: TimerHandle
  /** the lease whose lapse was last announced (a lapse is announced once) */
  private lapseAnnounced = 0
  /** renewals in flight: one delayed proposal must not stall the others */
  private inflight = 0
  private granting = false
  private running = false
  private readonly stopController = new AbortController()

  constructor (init: NodeLeaseInit) {
    super()
    this.kv = init.kv
    this.clock = init.clock
    this.log = init.log
    this.ttlMs = init.ttlMs ?? NODE_LEASE_TIMING.ttlMs
    this.renewMs = init.renewMs ?? NODE_LEASE_TIMING.renewMs
    this.safetyMs = init.safetyMs ?? NODE_LEASE_TIMING.safetyMs
    if (init.holder !== undefined) this.holder = init.holder
    this.maxInflight = Math.max(1, Math.ceil(this.ttlMs / this.renewMs))
  }

  /** the lease id (0 before the first grant) */
  get id (): number { return this.leaseId }

  /** the lease's ttl: how long after its last renewal the store expires it */
  get ttl (): number { return this.ttlMs }

  /**
   * this peer may serve its agents now. Judged by the monotonic clock at the call, not by a timer:
   * a throttled tab's timers fire late, so a lapse found here is announced (`lease:lapsed`) at once
   * after the caller's turn rather than when the lapse timer gets round to it
   */
  valid (): boolean {
    if (this.leaseId === 0) return false
    if (this.clock.monotonic() < this.validUntil) return true
    if (this.running && this.lapseAnnounced !== this.leaseId) {
      const lease = this.leaseId
      queueMicrotask(() => { this.announceLapse(lease) })
    }
    return false
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.timer = this.clock.setInterval(() => { void this.renew() }, this.renewMs)
    void this.renew()
  }

  /** stops renewing and gives the lease back (best effort) */
  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.clock.clearInterval(this.timer)
    this.clock.clearTimeout(this.lapseTimer)
    this.stopController.abort()
    const id = this.leaseId
    this.leaseId = 0
    this.validUntil = 0
    if (id !== 0) {
      await this.kv.revoke(id, { signal: AbortSignal.timeout(1000) }).catch(() => {})
    }
  }

  /**
   * Waits (at most `maxMs`) until the lease is valid: a peer whose renewal is merely late holds a
   * request for a moment rather than refusing it. False if it is still not valid.
   */
  async whenValid (maxMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.valid()) return true
    if (!this.running || signal?.aborted === true) return false
    return await new Promise<boolean>(resolve => {
      const done = (): void => {
        this.removeEventListener('lease:renewed', done)
        signal?.removeEventListener('abort', done)
        this.clock.clearTimeout(timer)
        resolve(this.valid())
      }
      const timer = this.clock.setTimeout(done, maxMs)
      this.addEventListener('lease:renewed', done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  /** one renewal (or the first grant); several may be in flight; never throws */
  async renew (): Promise<void> {
    if (!this.running || this.granting || this.inflight >= this.maxInflight) return
    // the lease this call renews (0: it asks for a grant)
    const forLease = this.leaseId
    if (forLease === 0) this.granting = true
    this.inflight++
    const sentAt = this.clock.monotonic()
    const linked = linkSignals([this.stopController.signal], this.ttlMs, this.clock)
    const signal = linked.signal
    try {
      if (forLease === 0) {
        const lease = await this.grant(signal)
        if (!this.running) return
        this.leaseId = lease.id
        this.extend(sentAt)
        this.log('granted node lease %d (%d ms)', lease.id, this.ttlMs)
        this.safeDispatchEvent('lease:granted', { detail: { lease: lease.id } })
      } else {
        await this.kv.keepAlive(forLease, { signal })
        if (this.running && forLease === this.leaseId) this.extend(sentAt)
      }
    } catch (err) {
      if (!this.running) return
      const { name, message } = describeError(err)
      // only a renewal of the current lease can lose it: one of a lease already lost and replaced,
      // answered late (renewals overlap), says nothing about the new one
      if (name === 'NotFoundError' && forLease !== 0 && forLease === this.leaseId) {
        const lost = this.leaseId
        this.leaseId = 0
        this.validUntil = 0
        this.clock.clearTimeout(this.lapseTimer)
        this.log.error('node lease %d is gone: %s', lost, message)
        this.safeDispatchEvent('lease:lost', { detail: { lease: lost, reason: message } })
        queueMicrotask(() => { void this.renew() })
      } else {
        this.log('lease renewal failed: %s: %s', name, message)
      }
    } finally {
      linked.dispose()
      this.inflight--
      // a keepalive ending while a grant is out must not let a second grant start
      if (forLease === 0) this.granting = false
    }
  }

  /**
   * a grant; with a holder it raises the fence nodeLeaseKey(holder). Fence keys are never removed
   * (one per peer id, as one per agent id), so a store that holds its maximum refuses a new one
   * (CapacityError): the lease is then granted without it, and the leader knows it only from this
   * peer's record, rather than this peer never holding a lease
   */
  private async grant (signal: AbortSignal): Promise<{ id: number }> {
    if (this.holder === undefined) return await this.kv.grantLease(this.ttlMs, { signal })
    try {
      return await this.kv.grantLease(this.ttlMs, { signal, fenceKey: nodeLeaseKey(this.holder) })
    } catch (err) {
      const { name, message } = describeError(err)
      if (name !== 'CapacityError') throw err
      this.log.error('node lease granted without its fence %s: %s', nodeLeaseKey(this.holder), message)
      return await this.kv.grantLease(this.ttlMs, { signal })
    }
  }

  private extend (sentAt: number): void {
    const until = sentAt + this.ttlMs - this.safetyMs
    const now = this.clock.monotonic()
    // an older renewal answered after a newer one
    if (until <= this.validUntil) return
    // answered after the validity it brings had ended (it took longer than ttl - safety): it
    // extends nothing, and a lease that is lapsed now (a late first grant) says so
    if (until <= now) {
      if (now >= this.validUntil) this.announceLapse(this.leaseId)
      return
    }
    this.validUntil = until
    this.lapseAnnounced = 0
    this.clock.clearTimeout(this.lapseTimer)
    const lease = this.leaseId
    this.safeDispatchEvent('lease:renewed', { detail: { lease } })
    this.lapseTimer = this.clock.setTimeout(() => {
      if (this.running && this.leaseId === lease && this.clock.monotonic() >= this.validUntil) this.announceLapse(lease)
    }, Math.max(0, this.validUntil - this.clock.monotonic()) + 1)
  }

  private announceLapse (lease: number): void {
    if (!this.running || this.leaseId !== lease || this.lapseAnnounced === lease || this.clock.monotonic() < this.validUntil) return
    this.lapseAnnounced = lease
    this.log.error('node lease %d lapsed: no renewal reached the majority in time', lease)
    this.safeDispatchEvent('lease:lapsed', { detail: { lease } })
  }
}
