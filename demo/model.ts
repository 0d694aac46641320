/**
 * The mesh as the dashboard shows it, rebuilt on every refresh from this peer's own APIs (its
 * membership, topology and Raft status) and the latest monitoring snapshot of every peer
 * (`node.meshView`): hosted agents, each peer's Raft view, metrics and alerts.
 */
import type { MeshNode } from '../src/node.ts'
import type { MeshSnapshot, SnapshotAlert } from '../src/monitoring/index.ts'
import type { NodeRecord } from '../src/network/index.ts'
import type { SnapshotAgent, SnapshotRaft } from '../src/wiring/dashboard.ts'

export type Transport = 'tcp' | 'websockets' | 'webrtc' | 'circuit-relay'

export interface PeerRow {
  peerId: string
  self: boolean
  /** membership status: alive | suspect | failed (this peer: alive) */
  status: string
  /** relay | node | browser */
  role: string
  /** voter | learner | none: what the peer is a candidate for */
  raftCandidate: string
  /** leader | follower | candidate | learner | none: from its snapshot */
  raftRole: string
  health: string
  agents: number
  lagMs: number
  memoryMb: number
  hidden: boolean
}

export interface AgentRow extends SnapshotAgent {
  node: string
}

export interface RaftView extends SnapshotRaft {
  /** the peer whose view this is */
  from: string
}

export interface PartitionView {
  partitioned: boolean
  /** peers reachable from this one (itself included) */
  reachable: number
  /** this side holds a majority of the Raft voters */
  majority: boolean
}

export interface MeshModel {
  self: string
  peers: PeerRow[]
  edges: Array<{ from: string, to: string, transport: Transport }>
  agents: AgentRow[]
  raft?: RaftView
  alerts: AlertRow[]
  partition?: PartitionView
  /** kinds some peer can host (from node records), sorted */
  kinds: string[]
  snapshots: MeshSnapshot[]
}

const BUILTIN_KINDS = ['coordinator', 'counter', 'echo', 'llm-chat', 'worker']

/** One alert as the mesh raises it: the same rule and message on several peers is one row. */
export type AlertRow = SnapshotAlert & { peers: string[] }

/**
 * Alerts from every peer's snapshot, one row per rule and message (a mesh-wide condition such as
 * a failed node fires on every peer that sees it), newest first, the peers that raise it sorted.
 */
export function alertsFromSnapshots (snapshots: MeshSnapshot[]): AlertRow[] {
  const rows = new Map<string, AlertRow>()
  for (const s of snapshots) {
    for (const a of s.alerts) {
      const key = `${a.name}\u0000${a.message}`
      const row = rows.get(key)
      if (row == null) {
        rows.set(key, { ...a, peers: [s.peerId] })
      } else {
        if (!row.peers.includes(s.peerId)) row.peers.push(s.peerId)
        if (a.firedAt > row.firedAt) row.firedAt = a.firedAt
      }
    }
  }
  for (const row of rows.values()) row.peers.sort()
  return [...rows.values()].sort((a, b) => b.firedAt - a.firedAt || a.name.localeCompare(b.name))
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return v != null && typeof v === 'object' && !Array.isArray(v)
}

/** `ext.agents` of a snapshot, keeping only well-formed entries (snapshots come from other peers) */
export function snapshotAgents (snap: MeshSnapshot): SnapshotAgent[] {
  const list = snap.ext.agents
  if (!Array.isArray(list)) return []
  return list.filter((a): a is SnapshotAgent => isRecord(a) && typeof a.id === 'string' && typeof a.kind === 'string' &&
    typeof a.epoch === 'number' && typeof a.status === 'string')
}

export function snapshotRaft (snap: MeshSnapshot): SnapshotRaft | undefined {
  const r = snap.ext.raft
  if (!isRecord(r) || typeof r.role !== 'string' || typeof r.term !== 'number' || typeof r.commitIndex !== 'number') return undefined
  const ids = (v: unknown): string[] => Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
  return {
    role: r.role,
    term: r.term,
    leader: typeof r.leader === 'string' ? r.leader : null,
    commitIndex: r.commitIndex,
    appliedIndex: typeof r.appliedIndex === 'number' ? r.appliedIndex : 0,
    voters: ids(r.voters),
    learners: ids(r.learners)
  }
}

/** `ext.partition` of a snapshot: `{ partitioned, reachable: peer ids, majority }` */
export function snapshotPartition (snap: MeshSnapshot): PartitionView | undefined {
  const p = snap.ext.partition
  if (!isRecord(p) || typeof p.partitioned !== 'boolean' || typeof p.majority !== 'boolean') return undefined
  const reachable = Array.isArray(p.reachable) ? p.reachable.length : typeof p.reachable === 'number' ? p.reachable : 0
  return { partitioned: p.partitioned, reachable, majority: p.majority }
}

/** the agent map: each agent on the peer that hosts it at the highest epoch */
export function agentsFromSnapshots (snapshots: MeshSnapshot[]): AgentRow[] {
  const best = new Map<string, AgentRow>()
  for (const snap of snapshots) {
    for (const a of snapshotAgents(snap)) {
      const have = best.get(a.id)
      if (have == null || a.epoch > have.epoch) best.set(a.id, { ...a, node: snap.peerId })
    }
  }
  return [...best.values()].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** the freshest view of the Raft group: the leader's own, else the highest term any peer saw */
export function raftFromSnapshots (snapshots: MeshSnapshot[]): RaftView | undefined {
  let best: RaftView | undefined
  for (const snap of snapshots) {
    const r = snapshotRaft(snap)
    if (r == null || r.role === 'none') continue
    const view = { ...r, from: snap.peerId }
    const rank = (v: RaftView): number => v.term * 4 + (v.role === 'leader' ? 2 : 0) + (v.leader != null ? 1 : 0)
    if (best == null || rank(view) > rank(best) || (rank(view) === rank(best) && view.commitIndex > best.commitIndex)) best = view
  }
  return best
}

/** a member as the dashboard reads it: this peer (alive) or one of its membership */
export interface MemberView {
  peerId: string
  status: string
  self: boolean
  record: NodeRecord
}

/**
 * One row per member. A failed peer hosts nothing: it shows 0 agents at once, not the count its
 * last record carried (its agents are re-placed elsewhere, and show there once those report).
 */
export function peerRows (members: MemberView[], snapshots: MeshSnapshot[], selfRaftRole: string): PeerRow[] {
  const bySnap = new Map(snapshots.map(s => [s.peerId, s]))
  return members.map(m => {
    const snap = bySnap.get(m.peerId)
    const raft = snap != null ? snapshotRaft(snap) : undefined
    return {
      peerId: m.peerId,
      self: m.self,
      status: m.status,
      role: m.record.role,
      raftCandidate: m.record.raft,
      raftRole: m.self ? selfRaftRole : (raft?.role ?? '–'),
      health: snap?.health.status ?? '–',
      agents: m.status === 'failed' ? 0 : m.record.load.agents,
      lagMs: m.record.load.eventLoopLagMs,
      memoryMb: m.record.load.rssMb,
      hidden: m.record.hidden === true
    }
  })
}

/**
 * the topology's edges without those touching a failed peer: a connection of ours to it (a tab's
 * WebRTC link) may stay open a while after it failed, and would be drawn until the next refresh
 */
export function liveEdges (edges: MeshModel['edges'], peers: PeerRow[]): MeshModel['edges'] {
  const failed = new Set(peers.filter(p => p.status === 'failed').map(p => p.peerId))
  return edges.filter(e => !failed.has(e.from) && !failed.has(e.to))
}

export function buildModel (node: MeshNode): MeshModel {
  const self = node.peerId
  const snapshots = node.meshView.snapshots()
  const bySnap = new Map(snapshots.map(s => [s.peerId, s]))
  const record = node.network.localRecord()
  const members: MemberView[] = [{ peerId: self, status: 'alive', record, self: true }, ...node.network.members().map(m => ({ ...m, self: false }))]
  const peers = peerRows(members, snapshots, node.consensus.status().role)
  const kinds = new Set<string>()
  for (const m of members) {
    const k = m.record.ext?.kinds
    if (Array.isArray(k)) for (const x of k) if (typeof x === 'string') kinds.add(x)
  }
  const alerts = alertsFromSnapshots(snapshots)
  const partition = bySnap.get(self) != null ? snapshotPartition(bySnap.get(self)!) : undefined
  return {
    self,
    peers,
    edges: liveEdges(node.network.getTopology().edges, peers),
    agents: agentsFromSnapshots(snapshots),
    raft: raftFromSnapshots(snapshots),
    alerts,
    partition: partition ?? snapshots.map(snapshotPartition).find(p => p != null),
    kinds: kinds.size > 0 ? [...kinds].sort() : BUILTIN_KINDS,
    snapshots
  }
}
