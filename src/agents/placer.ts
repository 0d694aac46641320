/**
 * Placement over the real membership: candidates are the members' records (kinds from
 * `record.ext.kinds`, capacity and load), plus what this peer placed recently and the records do
 * not show yet; the scorer ranks them; the deploy commits a placement with a create-only cas and
 * activates it, falling back to the next candidate when an activation is refused.
 */
import { CapacityError, ConflictError, InvalidArgumentError, UnreachableError, describeError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import { linkSignals } from '../util/abort.ts'
import type { TimerHandle } from '../util/clock.ts'
import type { Placement } from './directory.ts'
import { DEPLOY_NODE_RECHECK_MS, DEPLOY_NODE_WAIT_MS, MAX_PLACEMENT_ATTEMPTS } from './constants.ts'
import { hostedKinds, rankPlacement, scorePlacement } from './placement.ts'
import type { PlacementCandidate, PlacementOptions, RankedCandidate } from './placement.ts'
import type { AgentKind, DeployedAgent, DeploySpec } from './types.ts'
import type { DistributedAgentManager } from './manager.ts'

/** placements made here that peers' records may not show yet */
const RECENT_PLACEMENT_MS = 3_000

interface Recent { node: string, cpu: number, memoryMb: number, at: number }

export class Placer {
  private readonly m: DistributedAgentManager
  private recent: Recent[] = []

  constructor (manager: DistributedAgentManager) {
    this.m = manager
  }

  /** every peer as a placement candidate, this one included */
  candidates (): PlacementCandidate[] {
    const now = this.m.clock.monotonic()
    this.recent = this.recent.filter(r => now - r.at < RECENT_PLACEMENT_MS)
    const byNode = new Map<string, Array<{ id: string, kind: string }>>()
    for (const p of this.m.cache.list()) {
      const list = byNode.get(p.node) ?? []
      list.push({ id: p.id, kind: p.kind })
      byNode.set(p.node, list)
    }
    const self = this.m.components.network.localRecord()
    const records = [
      // not this peer while it hands its agents off (its clock is the mesh's outlier)
      ...(this.m.clockHandoff.active ? [] : [{ record: { ...self, load: { ...self.load, ...this.m.host.load() }, ext: { ...self.ext, ...this.m.host.recordExt() } }, status: 'alive' as const }]),
      ...this.m.components.network.members().filter(m => m.peerId !== this.m.peerId).map(m => ({ record: m.record, status: m.status }))
    ]
    return records.filter(({ record }) => this.m.mayHost(record.peerId)).map(({ record, status }) => {
      const mine = this.recent.filter(r => r.node === record.peerId)
      return {
        record,
        status,
        agents: byNode.get(record.peerId) ?? [],
        ...(mine.length > 0 && record.peerId !== this.m.peerId
          ? { reserved: { cpu: sum(mine, 'cpu'), memoryMb: sum(mine, 'memoryMb'), agents: mine.length } }
          : {})
      }
    })
  }

  rank (kind: AgentKind, options: PlacementOptions = {}): RankedCandidate[] {
    return scorePlacement(kind, this.candidates(), options)
  }

  noteReserved (node: string, kind: AgentKind): void {
    this.recent.push({ node, cpu: kind.requirements.cpu, memoryMb: kind.requirements.memoryMb, at: this.m.clock.monotonic() })
  }

  /** refuses a migration target that cannot take the agent (CapacityError / InvalidArgumentError with the reasons) */
  checkTarget (p: Placement, target: string): void {
    const kind = this.m.kinds.get(p.kind)
    if (kind == null) return // not bundled here: the target's host checks on activation
    const c = this.candidates().find(c => c.record.peerId === target)
    if (c == null) throw new InvalidArgumentError(`peer ${target} is not a member of the mesh`)
    const { refused } = rankPlacement(kind, [c])
    if (refused.length > 0) throw new CapacityError(`peer ${target} cannot host ${p.id}: ${refused[0].reasons.join('; ')}`, { details: { refused } })
  }

  /**
   * Waits (at most `waitMs`) until `node` holds a node lease, i.e. its record advertises agent
   * kinds (this peer: its own lease is valid). UnreachableError naming the peer when it is not a
   * live member of the mesh or holds no lease by then.
   */
  async awaitHost (node: string, agentId: string, options: AbortOptions = {}, waitMs = DEPLOY_NODE_WAIT_MS): Promise<void> {
    const network = this.m.components.network
    const ready = (): boolean => {
      if (node === this.m.peerId) return this.m.lease.valid()
      const member = network.member(node)
      return member != null && member.status !== 'failed' && (hostedKinds(member.record)?.length ?? 0) > 0
    }
    if (ready()) return
    const linked = linkSignals([options.signal], waitMs, this.m.clock)
    try {
      await new Promise<void>((resolve, reject) => {
        let recheck: TimerHandle | undefined
        const check = (): void => {
          if (ready()) { done(); resolve(); return }
          if (linked.signal.aborted) { done(); reject(linked.signal.reason); return }
          recheck = this.m.clock.setTimeout(check, DEPLOY_NODE_RECHECK_MS)
        }
        const onEvent = (): void => { this.m.clock.clearTimeout(recheck); check() }
        const done = (): void => {
          this.m.clock.clearTimeout(recheck)
          network.removeEventListener('node:joined', onEvent)
          network.removeEventListener('node:updated', onEvent)
          linked.signal.removeEventListener('abort', onEvent)
        }
        network.addEventListener('node:joined', onEvent)
        network.addEventListener('node:updated', onEvent)
        linked.signal.addEventListener('abort', onEvent, { once: true })
        check()
      })
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      const member = network.member(node)
      const why = node === this.m.peerId
        ? 'this peer holds no node lease (no Raft majority reachable?)'
        : member == null ? 'it is not a member of the mesh (unknown or never seen)'
          : member.status === 'failed' ? 'it is failed' : 'it holds no node lease (it advertises no agent kinds)'
      throw new UnreachableError(`cannot deploy ${agentId} on peer ${node}: ${why} after waiting ${waitMs} ms`, { details: { node, agentId } })
    } finally {
      linked.dispose()
    }
  }

  /**
   * Create-only placement, then activation; the next candidate when one refuses. With
   * `spec.node` the agent goes there or nowhere: the deploy waits for that peer's node lease
   * (UnreachableError when it never comes) and CapacityError says why the peer cannot take it.
   */
  async deploy (agentId: string, kind: AgentKind, spec: DeploySpec, options: AbortOptions & { nodeWaitMs?: number }): Promise<Placement> {
    let ranked: RankedCandidate[]
    if (spec.node != null) {
      await this.awaitHost(spec.node, agentId, options, options.nodeWaitMs ?? DEPLOY_NODE_WAIT_MS)
      const c = this.candidates().find(c => c.record.peerId === spec.node)
      if (c == null) throw new UnreachableError(`cannot deploy ${agentId} on peer ${spec.node}: it is not a member of the mesh`, { details: { node: spec.node, agentId } })
      const result = rankPlacement(kind, [c], { preferred: spec.node })
      if (result.ranked.length === 0) {
        const reasons = result.refused[0]?.reasons.join('; ') ?? 'refused'
        throw new CapacityError(`peer ${spec.node} cannot host ${agentId} (kind ${kind.kind}): ${reasons}`, { details: { node: spec.node, refused: result.refused } })
      }
      ranked = result.ranked
    } else {
      ranked = this.rank(kind, spec.antiAffinity != null ? { antiAffinity: spec.antiAffinity } : {})
    }
    const first = ranked[0]
    let p = await this.m.records.write(undefined, {
      id: agentId, kind: kind.kind, node: first.peerId, epoch: this.m.nextEpoch(), config: spec.config ?? {}, status: 'active', ...(spec.node != null ? { pinned: true } : {})
    }, options)
    this.noteReserved(first.peerId, kind)
    let lastError: unknown
    for (let i = 0; i < Math.min(ranked.length, MAX_PLACEMENT_ATTEMPTS); i++) {
      if (i > 0) {
        p = await this.m.records.write(p, { ...p, node: ranked[i].peerId, epoch: this.m.nextEpoch() }, options)
        this.noteReserved(ranked[i].peerId, kind)
      }
      try {
        return await this.m.activateOn(p, { ...options, fresh: true })
      } catch (err) {
        lastError = err
        this.m.log('deploying %s on %s failed: %s', agentId, p.node, describeError(err).message)
        if (options.signal?.aborted === true || err instanceof ConflictError) break
        // the activation may have recorded its replica set before it failed
        try { p = await this.m.records.refreshed(p, options) } catch { break }
      }
    }
    await this.m.records.delete(p).catch(() => {})
    throw lastError instanceof Error ? lastError : new CapacityError(`agent ${agentId} could not be started anywhere`)
  }

  /** moves every agent running here to the best other peer (a tab going hidden) */
  async rebalanceAway (options: AbortOptions = {}): Promise<DeployedAgent[]> {
    const moved: DeployedAgent[] = []
    for (const a of this.m.host.list()) {
      const kind = this.m.kinds.get(a.kind)
      if (kind == null) continue
      try {
        const target = this.rank(kind, { exclude: [this.m.peerId] })[0]
        moved.push(await this.m.migrateAgent(a.id, target.peerId, { ...options, pin: false }))
      } catch (err) {
        this.m.log.error('could not move %s off this peer: %s', a.id, describeError(err).message)
      }
    }
    return moved
  }
}

function sum (rs: Recent[], k: 'cpu' | 'memoryMb'): number {
  return rs.reduce((a, r) => a + r[k], 0)
}
