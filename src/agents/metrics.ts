/** The agents layer's metrics, registered through the Telemetry contract (no-ops without one). */
import type { Counter, Gauge, Histogram, Telemetry } from '../monitoring/types.ts'

export interface MailboxMetrics {
  /** turns by kind and outcome: ok | rejected | error | timeout | refused (queue full) */
  turns: Counter
  quarantined: Counter
  restarts: Counter
  /** deliveries answered from the dedup memory */
  dedupHits: Counter
  turnSeconds: Histogram
}

export interface ActivationMetrics {
  /** activations by kind and event: started | stopped | failed */
  activations: Counter
  /** agents active on this peer, by kind */
  active: Gauge
}

const noopCounter: Counter = { inc: () => {} }
const noopGauge: Gauge = { set: () => {}, inc: () => {}, dec: () => {} }
const noopHistogram: Histogram = { observe: () => {}, startTimer: () => () => 0 }

export function createMailboxMetrics (telemetry?: Telemetry): MailboxMetrics {
  if (telemetry == null) {
    return { turns: noopCounter, quarantined: noopCounter, restarts: noopCounter, dedupHits: noopCounter, turnSeconds: noopHistogram }
  }
  const m = telemetry.metrics
  return {
    turns: m.counter('agentmesh_agent_turns_total', { help: 'agent message turns, by kind and outcome', labelNames: ['kind', 'outcome'] }),
    quarantined: m.counter('agentmesh_agent_messages_quarantined_total', { help: 'poison messages set aside after failing too often', labelNames: ['kind'] }),
    restarts: m.counter('agentmesh_agent_mailbox_restarts_total', { help: 'mailbox restarts after a failed turn', labelNames: ['kind'] }),
    dedupHits: m.counter('agentmesh_agent_dedup_hits_total', { help: 'retried deliveries answered with the first reply', labelNames: ['kind'] }),
    turnSeconds: m.histogram('agentmesh_agent_turn_duration_seconds', { help: 'time a message turn took', labelNames: ['kind'] })
  }
}

export function createActivationMetrics (telemetry?: Telemetry): ActivationMetrics {
  if (telemetry == null) return { activations: noopCounter, active: noopGauge }
  const m = telemetry.metrics
  return {
    activations: m.counter('agentmesh_agent_activations_total', { help: 'agent activations, by kind and event', labelNames: ['kind', 'event'] }),
    active: m.gauge('agentmesh_agents_active', { help: 'agents active on this peer', labelNames: ['kind'] })
  }
}
