/** The consensus metrics (`agentmesh_raft_*`), registered on the telemetry passed in. */
import type { MetricsRegistry } from '../monitoring/types.ts'
import type { RaftDriver } from './driver.ts'

const noop = { inc: () => {}, observe: () => {} }

export function createConsensusMetrics (m: MetricsRegistry | undefined, driver: () => RaftDriver | undefined): {
  leaderChanges: { inc: () => void }
  fsync: { observe: (s: number) => void }
  proposals: { observe: (s: number, labels: { outcome: string }) => void }
  leaseRenewals: { inc: () => void }
} {
  if (m === undefined) return { leaderChanges: noop, fsync: noop, proposals: noop, leaseRenewals: noop }
  const status = (): ReturnType<RaftDriver['status']> | undefined => {
    const d = driver()
    try { return d?.status() } catch { return undefined }
  }
  m.gauge('agentmesh_raft_term', { help: 'current Raft term', collect: g => { const s = status(); if (s !== undefined) g.set(s.term) } })
  m.gauge('agentmesh_raft_commit_index', { help: 'highest log index known committed', collect: g => { const s = status(); if (s !== undefined) g.set(s.commit) } })
  m.gauge('agentmesh_raft_applied_index', { help: 'highest log index applied to the state machine', collect: g => { const a = driver()?.sm.appliedIndex; if (a !== undefined) g.set(a) } })
  m.gauge('agentmesh_raft_is_leader', { help: '1 when this peer leads the Raft group', collect: g => { g.set(status()?.role === 'leader' ? 1 : 0) } })
  m.gauge('agentmesh_raft_voters', { help: 'voters in the Raft group', collect: g => { const s = status(); if (s !== undefined) g.set(s.voters.length) } })
  const leaderChanges = m.counter('agentmesh_raft_leader_changes_total', { help: 'times the known leader changed' })
  const fsync = m.histogram('agentmesh_raft_fsync_latency_seconds', {
    help: 'time to make one Ready durable (one synced batch)',
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
  })
  const proposals = m.histogram('agentmesh_raft_proposal_latency_seconds', {
    help: 'time from a proposal to its result on this peer',
    labelNames: ['outcome'],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
  })
  const leaseRenewals = m.counter('agentmesh_raft_lease_renewals_total', { help: 'lease renewals this peer answered as leader, from memory (no Raft entry)' })
  return {
    leaderChanges: { inc: () => { leaderChanges.inc() } },
    leaseRenewals: { inc: () => { leaseRenewals.inc() } },
    fsync: { observe: (s) => { fsync.observe(s) } },
    proposals: { observe: (s, labels) => { proposals.observe(s, labels) } }
  }
}
