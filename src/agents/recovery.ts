/**
 * Failure recovery.
 *
 * - `reassignFrom(node)`: on `node:failed`, the Raft leader re-places every agent of the failed
 *   peer (a new epoch each, cas on the record) by placement, and asks each new owner to activate
 *   from the replicated state. A peer is declared failed either by silence (2.0-2.6 s, longer than
 *   a node lease, so it has stopped serving by then) or because its connections closed and it
 *   refused a fresh dial (the process is gone).
 * - `reconcile()` (every second, on leader change and on a new lease): the leader re-checks every
 *   placement against the membership; every peer claims (epoch + 1) the agents placed on it that
 *   it does not run, e.g. after a restart, once they have stayed so for a reconcile round.
 * - `restart(id)`: handleAgentFailure: stop and start the activation here again from its
 *   replicated state with exponential backoff; after MAX_AGENT_RESTARTS in a row it is
 *   quarantined (placement status `quarantined`, not served), counted in monitoring.
 */
import { NotStartedError, UnreachableError, describeError } from '../errors.ts'
import type { Counter } from '../monitoring/types.ts'
import { linkSignals, raceSignal } from '../util/abort.ts'
import { sleep } from '../messaging/index.ts'
import type { AbortOptions } from '../util/abort.ts'
import { AGENT_RESTART_BACKOFF_MS, LEASE_EXPIRY_RECHECK_MS, LEASE_TTL_READ_TIMEOUT_MS, MAX_AGENT_RESTARTS, MAX_PLACEMENT_ATTEMPTS, NODE_LEASE_TTL_MS } from './constants.ts'
import { placedOn } from './directory.ts'
import { nodeLeaseKey } from './node-lease.ts'
import type { Placement } from './directory.ts'
import type { DistributedAgentManager } from './manager.ts'
import type { AgentKind } from './types.ts'

const noop: Counter = { inc: () => {} }

export class Recovery {
  private readonly m: DistributedAgentManager
  private readonly inflight = new Map<string, Promise<Placement | undefined>>()
  /** peers whose node lease is being waited out (leaseOver), shared by their agents' re-placements */
  private readonly leaseWaits = new Map<string, Promise<void>>()
  /** aborted by stop(): ends the lease waits, which no one caller's signal may end (they are shared) */
  private stopping = new AbortController()
  private readonly unclaimedSince = new Map<string, number>()
  private readonly restarts = new Map<string, number>()
  private reconciling = false
  private readonly placements: Counter
  private readonly failures: Counter

  constructor (manager: DistributedAgentManager) {
    this.m = manager
    const metrics = manager.components.telemetry?.metrics
    this.placements = metrics?.counter('agentmesh_agent_placements_total', { help: 'placements committed, by reason (recover, claim)', labelNames: ['reason'] }) ?? noop
    this.failures = metrics?.counter('agentmesh_agent_failures_total', { help: 'agent activation failures handled, by action (restarted, quarantined)', labelNames: ['kind', 'action'] }) ?? noop
  }

  private isLeader (): boolean {
    return this.m.components.consensus.status().role === 'leader'
  }

  /** the leader re-places the agents of `node`; [] elsewhere */
  async reassignFrom (node: string, options: AbortOptions = {}): Promise<Placement[]> {
    if (!this.isLeader() || node === this.m.peerId) return []
    const all = await this.m.listAgents(options)
    const mine = all.filter(a => a.node === node && a.status !== 'quarantined')
    if (mine.length > 0) this.m.log('re-placing %d agents of failed peer %s', mine.length, node)
    const moved = await Promise.all(mine.map(async a => {
      const p = this.m.cache.get(a.id)
      if (p == null) return undefined
      return await this.reassign(p, { reason: `peer ${node} failed` }, options).catch(err => {
        this.m.log.error('re-placing %s failed: %s', a.id, describeError(err).message)
        return undefined
      })
    }))
    return moved.filter((p): p is Placement => p != null)
  }

  /**
   * Resolves once `node` (declared failed, or unknown) can no longer be serving its agents, so
   * they may be placed elsewhere. A node lease no longer than NODE_LEASE_TTL_MS (a Node peer's)
   * ends before the failure detector's verdict (2.0-2.6 s of silence): it is revoked, so the peer
   * renews no more if it is alive after all (it then stops serving once the validity of its last
   * renewal ends and surrenders what was re-placed when it sees the epochs), and the agents move at
   * once. A longer one (a browser tab's, 10 s) may still be valid where its holder is, alive but
   * cut off: the agents move once the store has expired it (its holder stopped serving ttl - safety
   * after its last renewal was sent, before that). While the holder keeps renewing it, its agents
   * stay: this throws after two ttls, and the next reconcile round asks again.
   * The leases waited out are the one the peer's record names and its latest grant in the store
   * (leasesOf): the record can name an older lease.
   */
  private async leaseOver (node: string, options: AbortOptions): Promise<void> {
    const running = this.leaseWaits.get(node)
    if (running != null) { await raceSignal(running, options.signal); return }
    const job = (async () => {
      for (const lease of await this.leasesOf(node)) await this.waitOutLease(node, lease)
    })()
    this.leaseWaits.set(node, job)
    job.then(() => {}, () => {}).finally(() => { if (this.leaseWaits.get(node) === job) this.leaseWaits.delete(node) })
    await raceSignal(job, options.signal)
  }

  /**
   * the node leases `node` may hold: the one its gossiped record names, and its latest grant as the
   * store knows it (NodeLease: each grant raises the fence `node-leases/<peer>` to its id, in the
   * same Raft entry). The record alone is not enough: a peer that lost its lease, was granted
   * another and was cut off before its record with the new id spread is known here by the old,
   * expired, id while it serves under the new one. A failed read throws (nothing is moved on a
   * guess; the next reconcile round asks again)
   */
  private async leasesOf (node: string): Promise<number[]> {
    const leases = new Set<number>()
    const recorded = this.m.components.network.member(node)?.record.ext.agentLease
    if (isLeaseId(recorded)) leases.add(recorded)
    const kv = this.m.components.consensus.kv
    if (kv.fenceToken == null) return [...leases]
    const read = linkSignals([this.stopping.signal], LEASE_TTL_READ_TIMEOUT_MS, this.m.clock)
    try {
      const latest = await kv.fenceToken(nodeLeaseKey(node), { signal: read.signal })
      if (isLeaseId(latest)) leases.add(latest)
    } finally {
      read.dispose()
    }
    return [...leases]
  }

  /** ends the lease waits under way (the manager is stopping) */
  stop (): void {
    this.stopping.abort(new NotStartedError('the agent manager stopped'))
    this.stopping = new AbortController()
  }

  private async waitOutLease (node: string, lease: number): Promise<void> {
    const kv = this.m.components.consensus.kv
    const clock = this.m.clock
    const stopping = this.stopping.signal
    const started = clock.monotonic()
    for (let round = 0; ; round++) {
      const read = linkSignals([stopping], LEASE_TTL_READ_TIMEOUT_MS, clock)
      const ttl = await kv.timeToLive?.(lease, { signal: read.signal }).finally(() => { read.dispose() })
      if (kv.timeToLive == null || (ttl != null && ttl.ttlMs <= NODE_LEASE_TTL_MS)) {
        kv.revoke(lease).then(
          () => { this.m.log('revoked the node lease %d of failed peer %s', lease, node) },
          (err: unknown) => { this.m.log('revoking the node lease of %s: %s', node, describeError(err).message) })
        return
      }
      if (ttl == null) return
      const waited = this.m.clock.monotonic() - started
      if (waited >= 2 * ttl.ttlMs) {
        throw new UnreachableError(`peer ${node} still renews its node lease ${lease} (${ttl.ttlMs} ms): its agents stay until it expires`)
      }
      if (round === 0) this.m.log('waiting for the node lease %d of failed peer %s to expire (%d of %d ms left)', lease, node, ttl.remainingMs, ttl.ttlMs)
      // just past its expiry, or (expiry due but not applied yet: remainingMs 0) the usual interval
      await sleep(clock, ttl.remainingMs > 0 ? Math.min(LEASE_EXPIRY_RECHECK_MS, ttl.remainingMs + 1) : LEASE_EXPIRY_RECHECK_MS, { signal: stopping })
    }
  }

  /** re-places one agent away from its (failed) node, on `target` or the best candidate */
  async reassign (p: Placement, how: { target?: string, reason: string, pin?: boolean }, options: AbortOptions = {}): Promise<Placement> {
    const running = this.inflight.get(p.id)
    if (running != null) {
      const r = await running
      if (r != null) return r
    }
    const job = this.reassignNow(p, how, options)
    this.inflight.set(p.id, job)
    try {
      return await job
    } finally {
      this.inflight.delete(p.id)
    }
  }

  private async reassignNow (p: Placement, how: { target?: string, reason: string, pin?: boolean }, options: AbortOptions): Promise<Placement> {
    const from = p.node
    // the old owner must have stopped serving it first
    if (from !== this.m.peerId) await this.leaseOver(from, options)
    const kind: Pick<AgentKind, 'kind' | 'requirements'> = this.m.kinds.get(p.kind) ?? { kind: p.kind, requirements: { cpu: 0, memoryMb: 0, tags: [] } }
    const targets = how.target != null
      ? [how.target]
      : this.m.placer.rank(kind as AgentKind, { exclude: [from] }).slice(0, MAX_PLACEMENT_ATTEMPTS).map(c => c.peerId)
    let current = p
    let lastError: unknown
    for (const target of targets) {
      try {
        current = await this.m.records.write(current, placedOn(current, target, this.m.nextEpoch(), how.pin === true), options)
        this.m.placer.noteReserved(target, kind as AgentKind)
        this.placements.inc(1, { reason: 'recover' })
        await this.m.activateOn(current, options)
        this.m.log('re-placed %s from %s on %s under epoch %d (%s)', p.id, from, target, current.epoch, how.reason)
        this.m.safeDispatchEvent('agent:recovered', { detail: { id: current.id, kind: current.kind, node: current.node, epoch: current.epoch, status: current.status, from } })
        return current
      } catch (err) {
        lastError = err
        this.m.log.error('re-placing %s on %s failed: %s', p.id, target, describeError(err).message)
        if (describeError(err).name === 'ConflictError' || options.signal?.aborted === true) break
        // the activation may have recorded its replica set before it failed
        if (current.node === target) {
          try { current = await this.m.records.refreshed(current, options) } catch { break }
        }
      }
    }
    throw lastError instanceof Error ? lastError : new Error(`agent ${p.id} could not be re-placed`)
  }

  /** this peer takes up an agent placed on it that it does not run (a new epoch) */
  async claim (p: Placement, options: AbortOptions = {}): Promise<Placement | undefined> {
    // a peer handing its agents off (its clock is the mesh's outlier) claims none: they move away
    if (!this.m.lease.valid() || this.m.clockHandoff.active || this.inflight.has(p.id)) return undefined
    const job = (async () => {
      const claimed = await this.m.records.write(p, { ...p, epoch: this.m.nextEpoch(), status: 'active' }, options)
      this.placements.inc(1, { reason: 'claim' })
      await this.m.local.activate(claimed, options)
      this.m.log('claimed %s under epoch %d', p.id, claimed.epoch)
      return claimed
    })()
    this.inflight.set(p.id, job)
    try {
      return await job
    } finally {
      this.inflight.delete(p.id)
    }
  }

  /** the periodic check; never throws */
  async reconcile (): Promise<void> {
    if (this.reconciling) return
    this.reconciling = true
    try {
      if (this.m.components.consensus.status().leader == null) return
      const all = await this.m.listAgents({ signal: AbortSignal.timeout(2000) })
      const now = this.m.clock.monotonic()
      const seen = new Set<string>()
      const leader = this.isLeader()
      for (const a of all) {
        if (a.status === 'quarantined') continue
        const p = this.m.cache.get(a.id)
        if (p == null) continue
        if (p.node === this.m.peerId) {
          if (this.m.local.epochOf(p.id) != null || this.m.local.isActivating(p.id) || this.m.migrating.has(p.id)) continue
          seen.add(p.id)
          const since = this.unclaimedSince.get(p.id)
          if (since == null) { this.unclaimedSince.set(p.id, now); continue }
          if (now - since < 900) continue
          this.unclaimedSince.delete(p.id)
          this.claim(p).catch(err => { this.m.log.error('claiming %s failed: %s', p.id, describeError(err).message) })
        } else if (leader && this.m.components.network.member(p.node)?.status === 'failed') {
          this.reassign(p, { reason: `peer ${p.node} is failed` }).catch(err => { this.m.log.error('re-placing %s failed: %s', p.id, describeError(err).message) })
        }
      }
      for (const id of [...this.unclaimedSince.keys()]) if (!seen.has(id)) this.unclaimedSince.delete(id)
    } catch (err) {
      this.m.log('reconcile skipped: %s', describeError(err).message)
    } finally {
      this.reconciling = false
    }
  }

  /** handleAgentFailure: restart here with backoff, quarantine after too many */
  async restart (agentId: string, options: AbortOptions = {}): Promise<{ id: string, action: 'restarted' | 'quarantined' | 'none', restarts: number }> {
    let p = await this.m.read(agentId, options)
    if (p == null || p.node !== this.m.peerId) return { id: agentId, action: 'none', restarts: this.restarts.get(agentId) ?? 0 }
    if (p.status === 'quarantined') {
      // asked again after a quarantine: an operator's retry, from a clean count
      this.restarts.set(agentId, 0)
      p = await this.m.records.write(p, { ...p, status: 'active', epoch: this.m.nextEpoch() }, options)
    }
    const n = (this.restarts.get(agentId) ?? 0) + 1
    this.restarts.set(agentId, n)
    if (n > MAX_AGENT_RESTARTS) {
      await this.m.records.write(p, { ...p, status: 'quarantined', epoch: this.m.nextEpoch() }, options)
      await this.m.local.surrender(agentId, 'quarantined')
      this.failures.inc(1, { kind: p.kind, action: 'quarantined' })
      this.m.log.error('agent %s quarantined after %d restarts', agentId, n - 1)
      this.m.safeDispatchEvent('agent:failed', { detail: { id: agentId, action: 'quarantined', restarts: n - 1, error: 'too many restarts' } })
      return { id: agentId, action: 'quarantined', restarts: n - 1 }
    }
    const delay = AGENT_RESTART_BACKOFF_MS * 2 ** (n - 1)
    await new Promise<void>(resolve => { this.m.clock.setTimeout(resolve, delay) })
    const drained = await this.m.local.deactivate(agentId, { drain: true })
    try {
      await this.m.local.activate(p, options)
      this.restarts.set(agentId, 0)
    } finally {
      for (const d of drained) {
        this.m.local.deliver(agentId, d.message, { id: d.id, ...(d.traceparent != null ? { traceparent: d.traceparent } : {}), ...(d.origin != null ? { origin: d.origin } : {}) }).then(d.resolve, d.reject)
      }
    }
    this.failures.inc(1, { kind: p.kind, action: 'restarted' })
    this.m.safeDispatchEvent('agent:failed', { detail: { id: agentId, action: 'restarted', restarts: n, error: 'restarted by handleAgentFailure' } })
    return { id: agentId, action: 'restarted', restarts: n }
  }
}

function isLeaseId (x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x > 0
}
