/**
 * What the dashboard (index.html + demo/) reads from every peer's mesh snapshot besides the node
 * record and links: the agents this peer hosts, its view of the Raft group, and the message and
 * RPC-latency metrics the rate and latency charts are drawn from.
 */
import type { MonitoringSystem } from '../monitoring/index.ts'
import type { ConsensusManager } from '../consensus/index.ts'
import type { DistributedAgentManager } from '../agents/index.ts'

/** agents listed per snapshot: keeps the snapshot well under its wire limit */
export const MAX_SNAPSHOT_AGENTS = 200
/** voters/learners listed per snapshot */
export const MAX_SNAPSHOT_RAFT_MEMBERS = 32

/** counters and histograms every snapshot carries for the dashboard's charts */
export const DASHBOARD_METRICS = [
  'agentmesh_messaging_sent_total',
  'agentmesh_messaging_received_total',
  'agentmesh_rpc_latency_seconds',
  'agentmesh_agent_migrations_total',
  'agentmesh_agent_failovers_total'
] as const

/** one hosted agent as `ext.agents` lists it */
export interface SnapshotAgent {
  id: string
  kind: string
  epoch: number
  status: string
}

/** this peer's view of its Raft group, as `ext.raft` carries it */
export interface SnapshotRaft {
  role: string
  term: number
  leader: string | null
  commitIndex: number
  appliedIndex: number
  voters: string[]
  learners: string[]
}

export function registerDashboardProviders (monitoring: MonitoringSystem, consensus: ConsensusManager, agents: DistributedAgentManager): void {
  for (const name of DASHBOARD_METRICS) monitoring.addSnapshotMetric(name)
  monitoring.registerSnapshotProvider('agents', (): SnapshotAgent[] =>
    agents.host.list().slice(0, MAX_SNAPSHOT_AGENTS).map(a => ({ id: a.id, kind: a.kind, epoch: a.epoch, status: a.status })))
  monitoring.registerSnapshotProvider('raft', (): SnapshotRaft => {
    const s = consensus.status()
    return {
      role: s.role,
      term: s.term,
      leader: s.leader,
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      voters: s.voters.slice(0, MAX_SNAPSHOT_RAFT_MEMBERS),
      learners: s.learners.slice(0, MAX_SNAPSHOT_RAFT_MEMBERS)
    }
  })
}
