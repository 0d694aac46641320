/**
 * Rebalancing, by the Raft leader only (one coordinator, so two peers never move the same agent):
 *
 * - **a peer joins**: when a peer gains a node lease (its record starts advertising agent kinds:
 *   a new peer, or one back after a failure), a pass runs once things settled (REBALANCE_SETTLE_MS)
 *   and moves agents from the most loaded peers to it while the source hosts at least
 *   REBALANCE_MIN_GAP_AGENTS more agents than the newcomer, at most REBALANCE_MAX_MOVES_PER_PASS
 *   moves, one after another. Only from peers of the newcomer's placement tier or a worse one (a
 *   new Node peer relieves Node peers, relays and tabs; a new tab does not take from Node peers).
 * - **a tab is hidden**: a hidden tab hands its agents off itself (setHidden); what is still there
 *   after REBALANCE_HIDDEN_GRACE_MS (a tab throttled too hard to do it) the leader moves.
 *
 * Hysteresis: counts come from the placements in Raft (not from records that lag), the gap rule
 * leaves a move that would only swap which peer is fuller undone, and an agent the rebalancer
 * moved stays put for REBALANCE_AGENT_COOLDOWN_MS, and a peer declared failed gains nothing for
 * REBALANCE_REJOIN_PROBATION_MS (a flapping peer does not pull recovered agents back). Agents pinned by an operator (deployed or
 * migrated to a named peer) are left where they are, except on a hidden tab. Every move is a live
 * migration (migrateAgent): no message lost, none handled twice.
 */
import { describeError } from '../errors.ts'
import type { Counter } from '../monitoring/types.ts'
import type { NodeEventDetail } from '../network/index.ts'
import type { TimerHandle } from '../util/clock.ts'
import {
  REBALANCE_AGENT_COOLDOWN_MS, REBALANCE_HIDDEN_GRACE_MS, REBALANCE_INTERVAL_MS, REBALANCE_MAX_MOVES_PER_PASS, REBALANCE_MIN_GAP_AGENTS,
  REBALANCE_REJOIN_PROBATION_MS, REBALANCE_SETTLE_MS
} from './constants.ts'
import type { Placement } from './directory.ts'
import { hostedKinds, placementTier, rankPlacement } from './placement.ts'
import type { PlacementCandidate } from './placement.ts'
import type { DistributedAgentManager } from './manager.ts'

/** a pass reads the placements with this deadline */
const PASS_READ_TIMEOUT_MS = 2_000
/** one live migration of a pass gives up after this long */
const MOVE_TIMEOUT_MS = 15_000

const noop: Counter = { inc: () => {} }

export interface RebalanceMove {
  id: string
  from: string
  to: string
  reason: 'join' | 'hidden'
}

export class Rebalancer {
  private readonly m: DistributedAgentManager
  /** peers seen holding a node lease */
  private readonly hosting = new Set<string>()
  /** peers that gained a lease, waiting for a pass: peer -> monotonic time */
  private readonly joined = new Map<string, number>()
  /** hidden tabs: peer -> monotonic time first seen hidden */
  private readonly hiddenSince = new Map<string, number>()
  /** agents this rebalancer moved: id -> monotonic time */
  private readonly movedAt = new Map<string, number>()
  /** peers last seen failed: peer -> monotonic time (they take no agents for REBALANCE_REJOIN_PROBATION_MS) */
  private readonly failedAt = new Map<string, number>()
  private timer?: TimerHandle
  private passing = false
  private running = false
  private readonly moves: Counter

  constructor (manager: DistributedAgentManager) {
    this.m = manager
    this.moves = manager.components.telemetry?.metrics.counter('agentmesh_agent_rebalance_moves_total', {
      help: 'live migrations made by the leader\'s rebalancer, by reason (join, hidden)', labelNames: ['reason']
    }) ?? noop
  }

  start (): void {
    if (this.running) return
    this.running = true
    const network = this.m.components.network
    for (const member of network.members()) this.observe(member.peerId, member, false)
    network.addEventListener('node:joined', this.onNode)
    network.addEventListener('node:updated', this.onNode)
    network.addEventListener('node:recovered', this.onNode)
    network.addEventListener('node:failed', this.onNode)
    this.timer = this.m.clock.setInterval(() => { void this.tick() }, REBALANCE_INTERVAL_MS)
  }

  stop (): void {
    if (!this.running) return
    this.running = false
    const network = this.m.components.network
    network.removeEventListener('node:joined', this.onNode)
    network.removeEventListener('node:updated', this.onNode)
    network.removeEventListener('node:recovered', this.onNode)
    network.removeEventListener('node:failed', this.onNode)
    this.m.clock.clearInterval(this.timer)
    this.timer = undefined
  }

  private readonly onNode = (evt: CustomEvent<NodeEventDetail>): void => {
    this.observe(evt.detail.peerId, evt.detail.member, true)
  }

  private observe (peer: string, member: NodeEventDetail['member'], isNews: boolean): void {
    if (peer === this.m.peerId) return
    const now = this.m.clock.monotonic()
    if (member.status === 'failed') this.failedAt.set(peer, now)
    const hosts = member.status !== 'failed' && (hostedKinds(member.record)?.length ?? 0) > 0
    if (hosts && !this.hosting.has(peer)) {
      this.hosting.add(peer)
      if (isNews) this.joined.set(peer, now)
    } else if (!hosts) {
      this.hosting.delete(peer)
      this.joined.delete(peer)
    }
    if (member.record.hidden && member.status !== 'failed') {
      if (!this.hiddenSince.has(peer)) this.hiddenSince.set(peer, now)
    } else {
      this.hiddenSince.delete(peer)
    }
  }

  private isLeader (): boolean {
    return this.m.components.consensus.status().role === 'leader'
  }

  /** the periodic check: a pass when a joined peer settled or a hidden tab kept agents; never throws */
  async tick (): Promise<RebalanceMove[]> {
    if (!this.running || this.passing) return []
    const now = this.m.clock.monotonic()
    // every peer records failures (it may lead later): expire them here too, or they pile up
    for (const [peer, at] of [...this.failedAt]) if (now - at >= REBALANCE_REJOIN_PROBATION_MS) this.failedAt.delete(peer)
    if (!this.isLeader()) { this.joined.clear(); return [] }
    // a peer back from a failure waits out its probation (it stays in `joined` until then)
    const targets = [...this.joined].filter(([peer, at]) => now - at >= REBALANCE_SETTLE_MS && !this.failedAt.has(peer)).map(([peer]) => peer)
    const hidden = [...this.hiddenSince].filter(([, at]) => now - at >= REBALANCE_HIDDEN_GRACE_MS).map(([peer]) => peer)
    const hiddenWithAgents = hidden.filter(peer => this.m.cache.list().some(p => p.node === peer))
    if (targets.length === 0 && hiddenWithAgents.length === 0) return []
    for (const t of targets) this.joined.delete(t)
    this.passing = true
    try {
      return await this.pass(targets, hidden)
    } catch (err) {
      this.m.log('rebalance pass skipped: %s', describeError(err).message)
      return []
    } finally {
      this.passing = false
    }
  }

  private async pass (targets: string[], hidden: string[]): Promise<RebalanceMove[]> {
    await this.m.listAgents({ signal: AbortSignal.timeout(PASS_READ_TIMEOUT_MS) })
    const now = this.m.clock.monotonic()
    for (const [id, at] of [...this.movedAt]) if (now - at >= REBALANCE_AGENT_COOLDOWN_MS) this.movedAt.delete(id)
    const byNode = new Map<string, Placement[]>()
    for (const p of this.m.cache.list()) {
      if (p.status === 'quarantined') continue
      const list = byNode.get(p.node) ?? []
      list.push(p)
      byNode.set(p.node, list)
    }
    const count = (peer: string): number => byNode.get(peer)?.length ?? 0
    const shift = (p: Placement, to: string): void => {
      byNode.set(p.node, (byNode.get(p.node) ?? []).filter(x => x.id !== p.id))
      byNode.set(to, [...(byNode.get(to) ?? []), { ...p, node: to }])
    }
    const done: RebalanceMove[] = []
    const hiddenSet = new Set(hidden)

    // hidden tabs first: everything goes, pinned or not, to the best visible peer
    for (const peer of hidden) {
      for (const p of [...(byNode.get(peer) ?? [])]) {
        if (done.length >= REBALANCE_MAX_MOVES_PER_PASS) return done
        const kind = this.m.kinds.get(p.kind)
        if (kind == null) continue
        const ranked = rankPlacement(kind, this.m.placer.candidates(), { exclude: [...hiddenSet] }).ranked
        const to = ranked[0]?.peerId
        if (to == null) { this.m.log('no visible peer can take %s off hidden tab %s', p.id, peer); break }
        if (await this.move(p, to, 'hidden')) { shift(p, to); done.push({ id: p.id, from: peer, to, reason: 'hidden' }) }
      }
    }

    // joined peers: relieve the fullest peers of the same or a worse tier
    for (const target of targets) {
      const candidates = this.m.placer.candidates()
      const tc = candidates.find(c => c.record.peerId === target)
      if (tc == null || tc.status !== 'alive' || tc.record.hidden) continue
      const tier = placementTier(tc.record)
      const exhausted = new Set<string>()
      while (done.length < REBALANCE_MAX_MOVES_PER_PASS) {
        const sources = [...byNode.keys()]
          .filter(peer => peer !== target && !exhausted.has(peer) && !hiddenSet.has(peer))
          .map(peer => ({ peer, c: this.m.placer.candidates().find(c => c.record.peerId === peer) }))
          .filter(s => s.c != null && s.c.status !== 'failed' && placementTier(s.c.record) >= tier)
          .sort((a, b) => count(b.peer) - count(a.peer) || (a.peer < b.peer ? -1 : 1))
        const source = sources[0]
        if (source == null || count(source.peer) - count(target) < REBALANCE_MIN_GAP_AGENTS) break
        const p = this.pick(byNode.get(source.peer) ?? [], target, byNode.get(target) ?? [])
        if (p == null) { exhausted.add(source.peer); continue }
        if (await this.move(p, target, 'join')) {
          shift(p, target)
          done.push({ id: p.id, from: source.peer, to: target, reason: 'join' })
        } else {
          exhausted.add(source.peer)
        }
      }
    }
    if (done.length > 0) this.m.log('rebalanced %d agents: %s', done.length, done.map(d => `${d.id} ${d.from} -> ${d.to} (${d.reason})`).join(', '))
    return done
  }

  /** an agent of `onSource` that may move to `target` and fits there: one of a kind the target runs none of first */
  private pick (onSource: Placement[], target: string, onTarget: Placement[]): Placement | undefined {
    const c: PlacementCandidate | undefined = this.m.placer.candidates().find(x => x.record.peerId === target)
    if (c == null) return undefined
    const kindsThere = new Set(onTarget.map(p => p.kind))
    const movable = onSource.filter(p =>
      p.pinned !== true && p.status === 'active' && !this.movedAt.has(p.id) && !this.m.migrating.has(p.id) &&
      this.m.kinds.get(p.kind) != null && rankPlacement(this.m.kinds.get(p.kind)!, [c]).ranked.length > 0)
    return movable.find(p => !kindsThere.has(p.kind)) ?? movable[0]
  }

  private async move (p: Placement, to: string, reason: 'join' | 'hidden'): Promise<boolean> {
    try {
      await this.m.migrateAgent(p.id, to, { pin: false, signal: AbortSignal.timeout(MOVE_TIMEOUT_MS) })
      this.movedAt.set(p.id, this.m.clock.monotonic())
      const kind = this.m.kinds.get(p.kind)
      if (kind != null) this.m.placer.noteReserved(to, kind)
      this.moves.inc(1, { reason })
      return true
    } catch (err) {
      this.m.log('rebalancer could not move %s from %s to %s: %s', p.id, p.node, to, describeError(err).message)
      return false
    }
  }
}
