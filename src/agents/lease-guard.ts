/**
 * What this peer's node lease means for the agents it runs: kinds are advertised in the node
 * record only while the lease is held (so placement never picks a peer that cannot run agents);
 * a request is served only while the lease is valid (waiting a moment for a late renewal); and
 * after a lost lease every agent running here is read back from the store before anything is
 * served, surrendering those placed elsewhere meanwhile. While this peer's wall clock is the
 * mesh's outlier (clock-handoff.ts) it serves nothing and advertises no kinds, lease or not.
 */
import { describeError } from '../errors.ts'
import { linkSignals, raceSignal } from '../util/abort.ts'
import { LEASE_GRACE_MS } from './constants.ts'
import type { DistributedAgentManager } from './manager.ts'

export class LeaseGuard {
  private readonly m: DistributedAgentManager
  private readonly onGranted: () => void
  private revalidating?: Promise<void>
  private running = false
  /** this peer's clock is the mesh's outlier: it hands its agents off and takes none */
  private skewed = false

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
  }

  stop (): void {
    if (!this.running) return
    this.running = false
    this.m.lease.removeEventListener('lease:lost', this.onLeaseLost)
    this.m.lease.removeEventListener('lease:granted', this.onLeaseGranted)
  }

  /**
   * the lease is valid and, after a lost lease, what runs here is checked against the store. A
   * request that waited for the lease through a loss and a new grant (a partition healing) waits
   * for that check too: served at once, it would run under an epoch that may have been superseded
   * while this peer was cut off, and its state write would merge into the new owner's state
   */
  async mayServe (signal?: AbortSignal): Promise<boolean> {
    if (this.skewed) return false
    const linked = linkSignals([signal], LEASE_GRACE_MS, this.m.clock)
    try {
      const valid = await this.m.lease.whenValid(LEASE_GRACE_MS, linked.signal)
      // after the wait: a re-check started before it or during it (a lost lease, then a new grant)
      if (this.revalidating != null) await raceSignal(this.revalidating, linked.signal)
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

  private readonly onLeaseGranted = (evt: CustomEvent<{ lease: number }>): void => {
    this.m.components.network.setExtension('agentLease', evt.detail.lease)
    this.advertise(true)
    this.onGranted()
  }
}
