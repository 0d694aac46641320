/**
 * A peer whose wall clock is the mesh's outlier hands its agents off.
 *
 * The hybrid logical clock refuses stamps more than 60 s ahead, so a peer that far off the others
 * is cut off from messaging (its envelopes are refused, or it refuses theirs) while its node lease,
 * which goes through Raft and no HLC, still holds: its agents would stay placed where no caller
 * reaches them. On `network:clock-skew` (NetworkManager found most peers' clocks far off its own,
 * the same way) this peer:
 *
 * 1. stops serving at once and advertises no agent kinds (the lease guard), so no one places an
 *    agent here and every activation asked of it is refused;
 * 2. stops each agent it runs (the running turn finishes; queued callers get NotOwnerError and
 *    retry at the new owner) — a turn acknowledged before was held by the write concern's replicas;
 * 3. moves each placement naming it to the best other peer (a Raft compare-and-swap under a new
 *    epoch; Raft needs no HLC). The new owner claims it on its own reconcile round and announces
 *    it: no request from this peer is needed, since its messages may be refused;
 * 4. re-checks every CLOCK_HANDOFF_RETRY_MS until no placement names it (Raft unavailable, no
 *    candidate, a compare-and-swap lost to another writer).
 *
 * On `network:clock-synced` it advertises its kinds again (with a valid lease); the leader's
 * rebalancer then treats it as a peer that joined.
 */
import { describeError } from '../errors.ts'
import type { ClockSkewStatus } from '../network/index.ts'
import type { TimerHandle } from '../util/clock.ts'
import { CLOCK_HANDOFF_RETRY_MS } from './constants.ts'
import { placedOn } from './directory.ts'
import type { Placement } from './directory.ts'
import type { DistributedAgentManager } from './manager.ts'
import type { AgentKind } from './types.ts'

/** read deadline of one hand-off pass over the placements */
const PASS_TIMEOUT_MS = 5_000

export interface ClockHandoffHooks {
  /** the lease guard: serve nothing and advertise no kinds while `skewed` */
  setSkewed: (skewed: boolean) => void
}

export class ClockSkewHandoff {
  private readonly m: DistributedAgentManager
  private readonly hooks: ClockHandoffHooks
  private skewed = false
  private running = false
  private timer?: TimerHandle
  private passing?: Promise<number>
  /** agents handed off since this peer last became the outlier */
  private handedOff = 0

  constructor (manager: DistributedAgentManager, hooks: ClockHandoffHooks) {
    this.m = manager
    this.hooks = hooks
  }

  /** this peer is the clock outlier: it takes no agents and hands off what it has */
  get active (): boolean {
    return this.skewed
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.m.components.network.addEventListener('network:clock-skew', this.onSkew)
    this.m.components.network.addEventListener('network:clock-synced', this.onSynced)
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.m.components.network.removeEventListener('network:clock-skew', this.onSkew)
    this.m.components.network.removeEventListener('network:clock-synced', this.onSynced)
    this.m.clock.clearTimeout(this.timer)
    this.timer = undefined
    await this.passing?.catch(() => {})
  }

  /** why an activation here is refused now (undefined: it is not) */
  refusal (): string | undefined {
    return this.skewed ? `peer ${this.m.peerId} hands its agents off: its wall clock is the mesh's outlier (messages to and from it are refused)` : undefined
  }

  /**
   * One pass: stops every agent running here and moves every placement naming this peer to
   * another one. Returns how many placements still name this peer afterwards.
   */
  async handOff (): Promise<number> {
    this.passing ??= this.pass().finally(() => { this.passing = undefined })
    return await this.passing
  }

  private readonly onSkew = (evt: CustomEvent<ClockSkewStatus>): void => {
    if (this.skewed) return
    this.skewed = true
    this.handedOff = 0
    this.hooks.setSkewed(true)
    this.m.log.error('wall clock off the mesh by ~%d ms (%d of %d peers): handing every agent off', -evt.detail.offsetMs, evt.detail.farPeers, evt.detail.peers)
    this.schedule(0)
  }

  private readonly onSynced = (): void => {
    if (!this.skewed) return
    this.skewed = false
    this.m.clock.clearTimeout(this.timer)
    this.timer = undefined
    this.hooks.setSkewed(false)
    this.m.log('wall clock agrees with the mesh again: taking agents (%d were handed off)', this.handedOff)
  }

  private schedule (ms: number): void {
    if (!this.running || !this.skewed) return
    this.m.clock.clearTimeout(this.timer)
    this.timer = this.m.clock.setTimeout(() => {
      this.timer = undefined
      this.handOff().then(left => {
        if (left > 0) this.schedule(CLOCK_HANDOFF_RETRY_MS)
      }, err => {
        this.m.log.error('handing agents off failed: %s', describeError(err).message)
        this.schedule(CLOCK_HANDOFF_RETRY_MS)
      })
    }, ms)
  }

  private async pass (): Promise<number> {
    // what runs here stops first: nothing is served while its placement moves
    await Promise.all(this.m.local.host.list().map(async a => { await this.m.local.surrender(a.id, 'this peer\'s clock is the mesh\'s outlier') }))
    if (!this.skewed) return 0
    const all = await this.m.listAgents({ signal: AbortSignal.timeout(PASS_TIMEOUT_MS) })
    let left = 0
    for (const a of all) {
      if (!this.skewed || !this.running) break
      if (a.node !== this.m.peerId || a.status === 'quarantined') continue
      const p = this.m.cache.get(a.id)
      if (p == null || p.node !== this.m.peerId) continue
      if (!await this.moveAway(p)) left++
    }
    return left
  }

  /** re-places `p` on the best other peer; false when it could not (retried on the next pass) */
  private async moveAway (p: Placement): Promise<boolean> {
    // an activation that began meanwhile (a late request) is stopped before the placement moves
    await this.m.local.surrender(p.id, 'this peer\'s clock is the mesh\'s outlier')
    const kind: Pick<AgentKind, 'kind' | 'requirements'> = this.m.kinds.get(p.kind) ?? { kind: p.kind, requirements: { cpu: 0, memoryMb: 0, tags: [] } }
    const target = this.m.placer.rank(kind as AgentKind, { exclude: [this.m.peerId] })[0]
    if (target == null) {
      this.m.log.error('no other peer can take %s (%s): it stays placed here, unserved, until one can or the clock is fixed', p.id, p.kind)
      return false
    }
    try {
      const moved = await this.m.records.write(p, placedOn(p, target.peerId, this.m.nextEpoch(), false), { signal: AbortSignal.timeout(PASS_TIMEOUT_MS) })
      this.m.placer.noteReserved(target.peerId, kind as AgentKind)
      this.handedOff++
      this.m.log('handed %s off to %s under epoch %d (this peer\'s clock is the outlier); it claims the agent there', p.id, moved.node, moved.epoch)
      return true
    } catch (err) {
      this.m.log.error('handing %s off to %s failed: %s', p.id, target.peerId, describeError(err).message)
      return false
    }
  }
}
