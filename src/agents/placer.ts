/**
 * Placement over the real membership: candidates are the members' records (kinds from
 * `record.ext.kinds`, capacity and load), plus what this peer placed recently and the records do
 * not show yet; the scorer ranks them; the deploy commits a placement with a create-only cas and
 * activates it, falling back to the next candidate when an activation is refused.
 */
import { CapacityError, ConflictError, InvalidArgumentError, describeError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Placement } from './directory.ts'
import { MAX_PLACEMENT_ATTEMPTS } from './constants.ts'
import { rankPlacement, scorePlacement } from './placement.ts'
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
      { record: { ...self, load: { ...self.load, ...this.m.host.load() }, ext: { ...self.ext, ...this.m.host.recordExt() } }, status: 'alive' as const },
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

  /** create-only placement, then activation; the next candidate when one refuses */
  async deploy (agentId: string, kind: AgentKind, spec: DeploySpec, options: AbortOptions): Promise<Placement> {
    const ranked = this.rank(kind, {
      ...(spec.node != null ? { preferred: spec.node } : {}),
      ...(spec.antiAffinity != null ? { antiAffinity: spec.antiAffinity } : {})
    })
    const first = ranked[0]
    let p = await this.m.writePlacement(undefined, {
      id: agentId, kind: kind.kind, node: first.peerId, epoch: this.m.nextEpoch(), config: spec.config ?? {}, status: 'active'
    }, options)
    this.noteReserved(first.peerId, kind)
    let lastError: unknown
    for (let i = 0; i < Math.min(ranked.length, MAX_PLACEMENT_ATTEMPTS); i++) {
      if (i > 0) {
        p = await this.m.writePlacement(p, { ...p, node: ranked[i].peerId, epoch: this.m.nextEpoch() }, options)
        this.noteReserved(ranked[i].peerId, kind)
      }
      try {
        await this.m.activateOn(p, { ...options, fresh: true })
        return p
      } catch (err) {
        lastError = err
        this.m.log('deploying %s on %s failed: %s', agentId, p.node, describeError(err).message)
        if (options.signal?.aborted === true || err instanceof ConflictError) break
      }
    }
    await this.m.deletePlacement(p).catch(() => {})
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
        moved.push(await this.m.migrateAgent(a.id, target.peerId, options))
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
