/**
 * Placement scoring (pure): which peers can host an agent of a kind, best first.
 *
 * A candidate must advertise the kind (`record.ext.kinds`, see agentsRecordExt), not be failed or
 * excluded, have every required tag, and have room for the kind's cpu and memory and one more
 * agent (`record.ext.maxAgents`), counting what it already uses (`record.load`) plus what the
 * caller has reserved on it and the record does not show yet (`reserved`).
 *
 * Among those: the preferred peer first; then peers hosting none of the anti-affine agents/kinds;
 * alive before suspect; Node peers, then relays, then visible tabs, then hidden tabs; then the
 * emptiest (utilization after placing, plus event-loop lag); ties broken by peer id.
 */
import { CapacityError, InvalidArgumentError } from '../errors.ts'
import type { MemberStatus, NodeRecord } from '../network/index.ts'
import { DEFAULT_MAX_AGENTS_PER_NODE, PLACEMENT_LAG_FULL_MS } from './constants.ts'
import { validateRequirements } from './define.ts'
import { fitProblems } from './ledger.ts'
import type { ResourceUse } from './ledger.ts'
import type { AgentRequirements } from './types.ts'

/** the part of a node record placement reads */
export type PlacementRecord = Pick<NodeRecord, 'peerId' | 'role' | 'hidden' | 'capabilities' | 'load' | 'ext'>

/** what a peer publishes in `record.ext` about agents: the kinds it bundles and its agent limit */
export interface AgentsRecordExt {
  kinds: string[]
  maxAgents?: number
}

export interface PlacementCandidate {
  record: PlacementRecord
  /** membership status; failed peers are refused, suspect ones ranked after alive ones */
  status?: MemberStatus
  /** reservations on this peer that its record does not show yet (placements in flight) */
  reserved?: Partial<ResourceUse>
  /** agents placed on this peer, for anti-affinity */
  agents?: Array<{ id: string, kind: string }>
}

export interface PlacementOptions {
  /** a peer to put first if it fits */
  preferred?: string
  /** spread: peers already hosting any of these agents or kinds go last */
  antiAffinity?: { agentIds?: string[], kinds?: string[] }
  /** peers not to use at all */
  exclude?: string[]
}

export interface RankedCandidate {
  peerId: string
  /** utilization after placing (0 = empty, 1 = full) plus lag; lower is better */
  score: number
  preferred: boolean
  /** anti-affine agents already on the peer */
  antiAffinityHits: number
  /** 0 node, 1 relay, 2 visible tab, 3 hidden tab */
  tier: number
  status: MemberStatus
}

export interface RefusedCandidate {
  peerId: string
  reasons: string[]
}

export interface PlacementResult {
  ranked: RankedCandidate[]
  refused: RefusedCandidate[]
}

function isStringArray (x: unknown): x is string[] {
  return Array.isArray(x) && x.every(s => typeof s === 'string')
}

/** the `ext` fields a peer publishes so that placement knows which kinds it hosts */
export function agentsRecordExt (kinds: Iterable<string>, maxAgents?: number): AgentsRecordExt {
  const ext: AgentsRecordExt = { kinds: [...new Set(kinds)].sort() }
  if (maxAgents != null) {
    if (!Number.isSafeInteger(maxAgents) || maxAgents < 0) throw new InvalidArgumentError('maxAgents must be a non-negative integer')
    ext.maxAgents = maxAgents
  }
  return ext
}

/** the kinds a record says its peer hosts; undefined when absent or malformed */
export function hostedKinds (record: Pick<NodeRecord, 'ext'>): string[] | undefined {
  const kinds = record.ext?.kinds
  return isStringArray(kinds) ? kinds : undefined
}

/** the agent limit a record advertises, or the default */
export function maxAgentsOf (record: Pick<NodeRecord, 'ext'>): number {
  const m = record.ext?.maxAgents
  return typeof m === 'number' && Number.isSafeInteger(m) && m >= 0 ? m : DEFAULT_MAX_AGENTS_PER_NODE
}

/** 0 Node peer, 1 relay, 2 visible tab, 3 hidden tab: lower tiers are preferred hosts */
export function placementTier (r: Pick<NodeRecord, 'role' | 'hidden'>): number {
  if (r.hidden) return 3
  if (r.role === 'browser') return 2
  if (r.role === 'relay') return 1
  return 0
}

const finite = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : NaN)

/** why the candidate cannot host the kind (empty when it can) */
function refusalReasons (kind: string, req: Readonly<AgentRequirements> & { tags: readonly string[] }, c: PlacementCandidate, exclude: Set<string>): { reasons: string[], used?: ResourceUse, capacity?: { cpu: number, memoryMb: number, maxAgents: number } } {
  const r = c.record
  const reasons: string[] = []
  if (exclude.has(r.peerId)) return { reasons: ['excluded'] }
  if (c.status === 'failed') return { reasons: ['failed'] }
  const kinds = hostedKinds(r)
  if (kinds == null) reasons.push('advertises no agent kinds (record.ext.kinds)')
  else if (!kinds.includes(kind)) reasons.push(`does not host kind ${kind}`)
  const tags = new Set(Array.isArray(r.capabilities?.tags) ? r.capabilities.tags : [])
  const missing = req.tags.filter(t => !tags.has(t))
  if (missing.length > 0) reasons.push(`missing tags: ${missing.join(', ')}`)
  const capacity = { cpu: finite(r.capabilities?.cpu), memoryMb: finite(r.capabilities?.memoryMb), maxAgents: maxAgentsOf(r) }
  const used: ResourceUse = {
    cpu: finite(r.load?.cpu) + finite(c.reserved?.cpu ?? 0),
    memoryMb: finite(r.load?.memoryMb) + finite(c.reserved?.memoryMb ?? 0),
    agents: finite(r.load?.agents) + finite(c.reserved?.agents ?? 0)
  }
  if ([capacity.cpu, capacity.memoryMb, used.cpu, used.memoryMb, used.agents].some(Number.isNaN)) {
    reasons.push('record has malformed capabilities or load')
    return { reasons }
  }
  reasons.push(...fitProblems(capacity, used, req))
  return { reasons, used, capacity }
}

/** ranks every candidate able to host `kind`; also says why each other one was refused */
export function rankPlacement (kind: { kind: string, requirements: AgentRequirements }, candidates: PlacementCandidate[], options: PlacementOptions = {}): PlacementResult {
  const req = validateRequirements(kind.requirements)
  const exclude = new Set(options.exclude ?? [])
  const avoidIds = new Set(options.antiAffinity?.agentIds ?? [])
  const avoidKinds = new Set(options.antiAffinity?.kinds ?? [])
  const ranked: RankedCandidate[] = []
  const refused: RefusedCandidate[] = []
  const seen = new Set<string>()
  for (const c of candidates) {
    const peerId = c.record?.peerId
    if (typeof peerId !== 'string' || seen.has(peerId)) continue
    seen.add(peerId)
    const { reasons, used, capacity } = refusalReasons(kind.kind, req, c, exclude)
    if (reasons.length > 0 || used == null || capacity == null) { refused.push({ peerId, reasons }); continue }
    const after = (u: number, cap: number): number => (cap > 0 ? u / cap : 1)
    const utilization = Math.max(
      after(used.cpu + req.cpu, capacity.cpu),
      after(used.memoryMb + req.memoryMb, capacity.memoryMb),
      after(used.agents + 1, capacity.maxAgents)
    )
    const lag = Math.min(1, finite(c.record.load?.eventLoopLagMs) / PLACEMENT_LAG_FULL_MS) || 0
    ranked.push({
      peerId,
      // rounded so float noise never decides an order
      score: Math.round((utilization + lag) * 1e9) / 1e9,
      preferred: options.preferred === peerId,
      antiAffinityHits: (c.agents ?? []).filter(a => avoidIds.has(a.id) || avoidKinds.has(a.kind)).length,
      tier: placementTier(c.record),
      status: c.status ?? 'alive'
    })
  }
  ranked.sort((a, b) =>
    Number(b.preferred) - Number(a.preferred) ||
    a.antiAffinityHits - b.antiAffinityHits ||
    Number(a.status === 'suspect') - Number(b.status === 'suspect') ||
    a.tier - b.tier ||
    a.score - b.score ||
    (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))
  refused.sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))
  return { ranked, refused }
}

/**
 * The candidates able to host `kind`, best first. CapacityError when none is, with each
 * candidate's reasons in the message and in `details.refused`.
 */
export function scorePlacement (kind: { kind: string, requirements: AgentRequirements }, candidates: PlacementCandidate[], options: PlacementOptions = {}): RankedCandidate[] {
  const { ranked, refused } = rankPlacement(kind, candidates, options)
  if (ranked.length > 0) return ranked
  const why = refused.length === 0 ? 'no candidates' : refused.map(r => `${r.peerId}: ${r.reasons.join('; ')}`).join(' | ')
  throw new CapacityError(`no peer can host an agent of kind ${kind.kind} (${why})`, { details: { kind: kind.kind, refused } })
}
