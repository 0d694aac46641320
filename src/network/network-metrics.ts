/** The metrics NetworkManager keeps: members by status, connections by transport, failures seen, membership messages rejected. */
import type { Telemetry } from '../monitoring/types.ts'
import { transportOf } from './topology.ts'
import type { Member, MemberStatus } from './types.ts'

export interface NetworkMetricsView {
  members: () => Member[]
  connections: () => Array<{ remoteAddr: { toString: () => string } }>
}

export function createNetworkMetrics (telemetry: Telemetry | undefined, view: NetworkMetricsView) {
  const m = telemetry?.metrics
  if (m == null) return undefined
  return {
    members: m.gauge('agentmesh_network_members', {
      help: 'members of the mesh known to this peer, by status',
      labelNames: ['status'],
      collect: (g) => {
        const counts: Record<MemberStatus, number> = { alive: 0, suspect: 0, failed: 0 }
        for (const x of view.members()) counts[x.status]++
        for (const [status, n] of Object.entries(counts)) g.set(n, { status })
      }
    }),
    connections: m.gauge('agentmesh_network_connections', {
      help: 'open connections by transport',
      labelNames: ['transport'],
      collect: (g) => {
        const counts: Record<string, number> = { tcp: 0, websockets: 0, webrtc: 0, 'circuit-relay': 0 }
        for (const c of view.connections()) counts[transportOf(c.remoteAddr.toString())]++
        for (const [transport, n] of Object.entries(counts)) g.set(n, { transport })
      }
    }),
    failures: m.counter('agentmesh_network_node_failures_total', { help: 'peers this peer saw fail' }),
    invalid: m.counter('agentmesh_network_invalid_messages_total', { help: 'membership messages rejected', labelNames: ['reason'] })
  }
}

export type NetworkMetrics = NonNullable<ReturnType<typeof createNetworkMetrics>>
