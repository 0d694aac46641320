/**
 * What this peer's node lease means for the agents it runs: kinds are advertised in the node
 * record only while the lease is held (so placement never picks a peer that cannot run agents);
 * a request is served only while the lease is valid (waiting a moment for a late renewal); and
 * after a lost lease every agent running here is read back from the store before anything is
 * served, surrendering those placed elsewhere meanwhile. While this peer's wall clock is the
 * mesh's outlier (clock-handoff.ts) it serves nothing and advertises no kinds, lease or not.
 *
 * It also keeps the lease's history that a turn's release is judged by (turn-fence.ts): `term()`
 * counts lapses and losses, `onLapse` tells of the next one. A request that finds the lease lapsed
 * while this peer hears from no majority of the voters (its failure detector has them suspect or
 * failed: cut off, not merely slow) is refused at once, saying why (`why()`), instead of waiting
 * the grace (LEASE_GRACE_MS) for a renewal that cannot come: each of the broker's NotOwner retries
 * waited it again, so a cut-off peer's callers waited out their deadline. A peer that still hears
 * from the voters (a loaded machine whose renewals commit late) waits the grace as before.
 */
import { NotStartedError, describeError } from '../errors.ts'
import { linkSignals, raceSignal, throwIfAborted } from '../util/abort.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Placement } from './directory.ts'
import { LEASE_GRACE_MS } from './constants.ts'
import type { DistributedAgentManager } from './manager.ts'
import type { OwnerAuthority, TurnAdmission } from './turn-fence.ts'

export class LeaseGuard implements OwnerAuthority {
  private readonly m: DistributedAgentManager
  private readonly onGranted: () => void
  private revalidating?: Promise<void>
  private running = false
  /** this peer's clock is the mesh's outlier: it hands its agents off and takes none */
  private skewed = false
  /** lapses and losses of the node lease so far */
  private lapses = 0
  /** monotonic time of the lapse (or loss) not yet followed by a renewal */
  private lapsedAt: number | undefined
  private readonly lapseListeners = new Set<() => void>()

  /** `onGranted`: called when a lease is granted (the manager reconciles then) */
  constructor (manager: DistributedAgentManager, onGranted: () => void) {
    this.m = manager
    this.onGranted = onGranted
  }

  start (): void {
    if (this.running) return
    this.running = true
    // kinds are advertised once this peer holds a node lease: until then it cannot run agents
    this.m.components.network.setExtension('kinds', [])
    this.m.lease.addEventListener('lease:lost', this.onLeaseLost)
    this.m.lease.addEventListener('lease:granted', this.onLeaseGranted)
    this.m.lease.addEventListener('lease:lapsed', this.onLeaseLapsed)
    this.m.lease.addEventListener('lease:renewed', this.onLeaseRenewed)
  }

  stop (): void {
    if (!this.running) return
    this.running = false
    this.m.lease.removeEventListener('lease:lost', this.onLeaseLost)
    this.m.lease.removeEventListener('lease:granted', this.onLeaseGranted)
    this.m.lease.removeEventListener('lease:lapsed', this.onLeaseLapsed)
    this.m.lease.removeEventListener('lease:renewed', this.onLeaseRenewed)
    this.lapseListeners.clear()
  }

  /** lapses and losses of the node lease so far: a turn that saw it change held no lease throughout */
  term (): number {
    return this.lapses
  }

  /** calls `listener` once, at the next lapse or loss of the lease; answers how to stop listening */
  onLapse (listener: () => void): () => void {
    const once = (): void => { this.lapseListeners.delete(once); listener() }
    this.lapseListeners.add(once)
    return () => { this.lapseListeners.delete(once) }
  }

  /** the agent's placement in the store (linearizable): the turn fence reads it back after a lapse */
  async read (agentId: string, options: AbortOptions = {}): Promise<Placement | undefined> {
    return await this.m.read(agentId, options)
  }

  /** a newer placement of the agent on another peer is in the routing cache (a notice or hint) */
  superseded (agentId: string, epoch: number): boolean {
    const news = this.m.cache.get(agentId)
    return news != null && news.epoch > epoch && news.node !== this.m.peerId
  }

  /** why this peer serves nothing now, for the error its callers get */
  why (): string {
    if (this.skewed) return 'its wall clock is the mesh\'s outlier'
    if (this.lapsedAt === undefined) return 'its node lease is not valid'
    const ms = Math.round(this.m.clock.monotonic() - this.lapsedAt)
    const cut = this.cutOff()
    const hears = cut === undefined ? '' : `; it hears from ${cut.alive} of ${cut.voters} voters (cut off from the Raft majority)`
    return `its node lease lapsed ${ms} ms ago: no renewal has reached the Raft majority since${hears}`
  }

  /**
   * the voters this peer hears from (itself included), when that is no majority: its failure
   * detector has the others suspect or failed. Undefined while a majority is heard from
   */
  cutOff (): { alive: number, voters: number } | undefined {
    const { network, consensus } = this.m.components
    const voters = consensus?.status?.().voters ?? []
    if (voters.length === 0 || typeof network.member !== 'function') return undefined
    const alive = voters.filter(v => v === this.m.peerId || network.member(v)?.status === 'alive').length
    return alive * 2 > voters.length ? undefined : { alive, voters: voters.length }
  }

  /** the node lease itself is valid now (a turn in flight is judged by it; the clock hand-off refuses only new ones) */
  leaseValid (): boolean {
    return this.m.lease.valid()
  }

  /** waits, as long as `signal` allows, until the node lease is valid again; throws the signal's reason */
  async untilLeaseValid (signal?: AbortSignal): Promise<void> {
    while (!this.m.lease.valid()) {
      throwIfAborted(signal)
      if (!this.running) throw new NotStartedError('the lease guard stopped')
      await this.m.lease.whenValid(LEASE_GRACE_MS, signal)
    }
  }

  /**
   * the lease is valid and, after a lost lease, what runs here is checked against the store. A
   * request that waited for the lease through a loss and a new grant (a partition healing) waits
   * for that check too: served at once, it would run under an epoch that may have been superseded
   * while this peer was cut off, and its state write would merge into the new owner's state
   */
  async mayServe (signal?: AbortSignal): Promise<boolean> {
    return await this.waitForLease(signal, true)
  }

  /**
   * a turn may begin: the lease is valid, or became so within the grace; 'checking' (no wait) while
   * what runs here is re-checked after a lost lease
   */
  async admitTurn (signal?: AbortSignal): Promise<TurnAdmission> {
    if (!await this.waitForLease(signal, false)) return 'refused'
    return this.revalidating != null ? 'checking' : 'ok'
  }

  private async waitForLease (signal: AbortSignal | undefined, recheck: boolean): Promise<boolean> {
    if (this.skewed) return false
    // valid now, nothing to re-check first: no wait (and no timer)
    if (this.m.lease.valid() && (!recheck || this.revalidating == null)) return true
    // a lapse that outlasted the grace is no late renewal: refused at once until the lease is back
    if (!this.m.lease.valid() && this.lapsedAt !== undefined && this.cutOff() !== undefined) return false
    const waitMs = LEASE_GRACE_MS
    const linked = linkSignals([signal], waitMs, this.m.clock)
    try {
      const valid = await this.m.lease.whenValid(waitMs, linked.signal)
      // after the wait: a re-check started before it or during it (a lost lease, then a new grant)
      if (recheck && this.revalidating != null) await raceSignal(this.revalidating, linked.signal)
      return valid && this.m.lease.valid() && !this.skewed
    } catch {
      return false
    } finally {
      linked.dispose()
    }
  }

  /** the clock hand-off: while skewed nothing is served and no kinds are advertised */
  setSkewed (skewed: boolean): void {
    if (skewed === this.skewed) return
    this.skewed = skewed
    this.advertise(this.m.lease.valid())
  }

  private advertise (canHost: boolean): void {
    const ext = this.m.local.host.recordExt()
    this.m.components.network.setExtension('kinds', canHost && !this.skewed ? ext.kinds : [])
    if (ext.maxAgents != null) this.m.components.network.setExtension('maxAgents', ext.maxAgents)
  }

  /**
   * The store no longer knows our lease (it expired while renewals were late). Placements do not
   * name a lease: an agent is re-placed only when its peer is declared failed (and a newer epoch
   * then makes this peer surrender it), so nothing stops here; serving waits for the new grant.
   */
  private readonly onLeaseLost = (): void => {
    this.lapsed()
    this.advertise(false)
    this.revalidating ??= this.revalidate().finally(() => { this.revalidating = undefined })
  }

  /**
   * After a lost lease (e.g. this process was paused past its lease and declared failed) the
   * agents running here may have been re-placed: once a new lease is granted, each is read back
   * and those placed elsewhere or under a newer epoch are surrendered before anything is served.
   */
  private async revalidate (): Promise<void> {
    const { lease, clock, local } = this.m
    while (this.running && lease.id === 0) {
      await new Promise<void>(resolve => {
        const done = (): void => { lease.removeEventListener('lease:granted', done); clock.clearTimeout(t); resolve() }
        const t = clock.setTimeout(done, LEASE_GRACE_MS)
        lease.addEventListener('lease:granted', done)
      })
    }
    await Promise.all(local.host.list().map(async a => {
      try {
        const p = await this.m.read(a.id)
        if (p == null || p.node !== this.m.peerId || p.epoch !== a.epoch) await local.surrender(a.id, 'superseded while this peer had no lease')
      } catch (err) {
        this.m.log.error('could not re-check %s after losing the lease: %s; stopping it', a.id, describeError(err).message)
        await local.surrender(a.id, 'not re-checked after a lost lease')
      }
    }))
  }

  private readonly onLeaseLapsed = (): void => {
    this.lapsed()
  }

  private readonly onLeaseRenewed = (): void => {
    this.lapsedAt = undefined
  }

  private lapsed (): void {
    this.lapses++
    this.lapsedAt ??= this.m.clock.monotonic()
    for (const listener of [...this.lapseListeners]) listener()
  }

  private readonly onLeaseGranted = (evt: CustomEvent<{ lease: number }>): void => {
    this.m.components.network.setExtension('agentLease', evt.detail.lease)
    this.advertise(true)
    this.onGranted()
  }
}
