/**
 * The default alert rules that need more than one component: Raft leadership and quorum (from the
 * ConsensusManager), RPC latency and the outbox backlog (from the broker's metrics). Node failures
 * and CRDT sync lag are registered where their sources are wired.
 */
import {
  histogramQuantileSource, metricSumSource, type AlertRule, noRaftLeaderRule, outboxBacklogRule, quorumLostRule, rpcLatencyRule,
  type MonitoringSystem
} from '../monitoring/index.ts'
import type { ConsensusManager } from '../consensus/index.ts'
import type { DistributedAgentManager } from '../agents/index.ts'
import type { NetworkManager } from '../network/index.ts'

/** how long this peer must sit on the minority side of a partition before the alert fires */
export const PARTITION_ALERT_FOR_MS = 3_000

/**
 * `network_partition`: this peer is on the minority side of a network partition (fewer than half
 * of the Raft voters in reach), so strong operations fail here until the partition heals.
 */
export function partitionRule (network: Pick<NetworkManager, 'partitionStatus'>): AlertRule {
  return {
    name: 'network_partition',
    kind: 'threshold',
    sample: () => network.partitionStatus().majority ? 0 : 1,
    op: '>',
    value: 0,
    forMs: PARTITION_ALERT_FOR_MS,
    severity: 'critical',
    message: 'on the minority side of a network partition: kv writes, deploys and migrations fail here until it heals'
  }
}

/** how long this peer's clock must have been the mesh's outlier before the alert fires (the verdict itself settles for 2 s) */
export const CLOCK_SKEW_ALERT_FOR_MS = 1_000

/**
 * `network_clock_skew`: this peer's wall clock is more than the HLC drift bound off most peers'
 * (the same way), so its messages are refused or it refuses theirs; it hands its agents off and
 * takes none until the clock is fixed.
 */
export function clockSkewRule (network: Pick<NetworkManager, 'clockSkewStatus'>): AlertRule {
  return {
    name: 'network_clock_skew',
    kind: 'threshold',
    sample: () => network.clockSkewStatus().outlier ? 1 : 0,
    op: '>',
    value: 0,
    forMs: CLOCK_SKEW_ALERT_FOR_MS,
    severity: 'critical',
    message: 'this peer\'s wall clock is off the mesh by more than the 60 s drift bound: its messages are refused, its agents are handed off; fix the clock (NTP)'
  }
}

export function registerDefaultAlerts (monitoring: MonitoringSystem, consensus: ConsensusManager, network: NetworkManager): void {
  const selfId = network.peerId
  const read = async (names: string[]): ReturnType<MonitoringSystem['metricsSnapshot']> => await monitoring.metricsSnapshot(names)
  /** only a member of a Raft group can judge its leader and quorum */
  const member = (): boolean => {
    const s = consensus.status()
    return s.voters.includes(selfId) || s.learners.includes(selfId)
  }
  // a peer outside any group reports "leader present" (1): the rule is about groups it belongs to
  monitoring.addRule(noRaftLeaderRule({ hasLeader: () => !member() || consensus.status().leader != null ? 1 : 0 }))
  monitoring.addRule(quorumLostRule({
    hasQuorum: async () => {
      if (!member()) return undefined
      return (await monitoring.checkHealth('consensus')).status === 'ok' ? 1 : 0
    }
  }))
  monitoring.addRule(partitionRule(network))
  monitoring.addRule(clockSkewRule(network))
  monitoring.addRule(rpcLatencyRule({ p99Seconds: histogramQuantileSource(read, { name: 'agentmesh_rpc_latency_seconds' }, 0.99) }))
  monitoring.addRule(outboxBacklogRule({ backlog: metricSumSource(read, { name: 'agentmesh_messaging_outbox_entries', labels: { state: 'pending' } }) }))
}

/** counts agent migrations and failovers (re-placements after a node failed) as metrics */
export function countAgentMoves (monitoring: MonitoringSystem, agents: DistributedAgentManager): void {
  const migrations = monitoring.metrics.counter('agentmesh_agent_migrations_total', { help: 'planned agent migrations completed from this peer', labelNames: ['kind'] })
  const failovers = monitoring.metrics.counter('agentmesh_agent_failovers_total', { help: 'agents this peer re-placed after their node failed', labelNames: ['kind'] })
  agents.addEventListener('agent:migrated', (e) => { migrations.inc(1, { kind: e.detail.kind }) })
  agents.addEventListener('agent:recovered', (e) => { failovers.inc(1, { kind: e.detail.kind }) })
}
