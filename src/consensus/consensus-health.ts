/** The ConsensusManager's health check: down without a working log or leader, degraded while joining or short of voters. */
import type { ConsensusRole } from './consensus-types.ts'
import type { RaftDriver } from './driver.ts'

export interface ConsensusHealth {
  status: 'ok' | 'degraded' | 'down'
  detail?: string
  [k: string]: unknown
}

/** `d` is the running driver (undefined when not started); `role` as the manager reports it */
export function consensusHealth (d: RaftDriver | undefined, role: ConsensusRole, peerId: string, group: string): ConsensusHealth {
  if (d === undefined) return { status: 'down', detail: 'not started' }
  if (d.failure !== undefined) return { status: 'down', detail: `raft log failed: ${d.failure.message}` }
  const st = d.status()
  const facts = { role, term: st.term, leader: st.lead === '' ? null : st.lead, group }
  if (!d.isMember) return { status: 'degraded', detail: 'not a member of a raft group yet', ...facts }
  if (st.lead === '') {
    const ms = Math.round(d.leaderlessMs)
    return { status: ms > 2 * d.electionTimeoutMs ? 'down' : 'degraded', detail: `no leader known for ${ms} ms`, ...facts }
  }
  if (st.role === 'leader') {
    const active = st.voters.filter(v => v === peerId || st.progress[v]?.recentActive === true).length
    if (active * 2 <= st.voters.length) return { status: 'degraded', detail: `only ${active} of ${st.voters.length} voters reachable`, ...facts }
  }
  return { status: 'ok', ...facts }
}
