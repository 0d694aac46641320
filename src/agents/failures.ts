/**
 * What an operator sees of an agent's failures on its owner:
 *
 * - every activation's mailbox is watched: a poison message (its handler threw or hung
 *   `maxTries` times) that the mailbox quarantined raises the `agent_message_quarantined` alert
 *   (when the telemetry can raise alerts: the MonitoringSystem can), the manager's
 *   `agent:message-quarantined` event, and is counted (the mailbox's
 *   `agentmesh_agent_messages_quarantined_total{kind}`);
 * - `live(id)` is the owner's view of one agent for `GET /agents/:id`: its activation status,
 *   queued messages, restarts and quarantined messages (the last few, with their errors).
 */
import { describeError } from '../errors.ts'
import type { Logger } from '../util/logger.ts'
import type { AgentHost, HostedAgent } from './host.ts'
import type { QuarantinedMessage } from './mailbox.ts'

/** quarantined messages shown per agent in its live view */
export const LIVE_QUARANTINED_SHOWN = 8
/** the alert type raised for a quarantined message */
export const QUARANTINE_ALERT = 'agent_message_quarantined'

/** the optional alert capability of the telemetry (MonitoringSystem has it) */
export interface AlertSink {
  generateAlert: (alertType: string, message: string, options?: { severity?: 'info' | 'warning' | 'critical', labels?: Record<string, string> }) => unknown
}

/** the owner's view of one of its agents */
export interface AgentLiveView {
  /** the owner that answered */
  node: string
  /** the activation: starting, active, stopping... */
  activation: string
  /** messages waiting in its mailbox */
  queued: number
  /** mailbox restarts (backoffs after a failed or hung turn) in this activation */
  restarts: number
  /** messages quarantined in this activation */
  quarantinedCount: number
  /** the last few quarantined messages, oldest first */
  quarantined: Array<{ messageId: string, tries: number, error: { name: string, message: string }, at: number }>
}

export interface QuarantineNotice {
  id: string
  kind: string
  node: string
  messageId: string
  tries: number
  error: { name: string, message: string }
}

export class AgentFailureWatch {
  private readonly host: AgentHost
  private readonly nodeId: string
  private readonly alerts?: AlertSink
  private readonly log: Logger
  private readonly notify: (n: QuarantineNotice) => void
  private readonly counts = new Map<string, { restarts: number, quarantined: number }>()
  private running = false

  constructor (init: { host: AgentHost, nodeId: string, alerts?: AlertSink, log: Logger, notify: (n: QuarantineNotice) => void }) {
    this.host = init.host
    this.nodeId = init.nodeId
    this.log = init.log
    this.notify = init.notify
    if (init.alerts != null && typeof init.alerts.generateAlert === 'function') this.alerts = init.alerts
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.host.addEventListener('agent:activated', this.onActivated)
    this.host.addEventListener('agent:deactivated', this.onDeactivated)
    for (const a of this.host.list()) this.watch(a)
  }

  stop (): void {
    if (!this.running) return
    this.running = false
    this.host.removeEventListener('agent:activated', this.onActivated)
    this.host.removeEventListener('agent:deactivated', this.onDeactivated)
    this.counts.clear()
  }

  /** the live view of an agent running here; undefined when it does not */
  live (agentId: string): AgentLiveView | undefined {
    const activation = this.host.activation(agentId)
    if (activation == null) return undefined
    const counts = this.counts.get(agentId) ?? { restarts: 0, quarantined: 0 }
    return {
      node: this.nodeId,
      activation: activation.status,
      queued: activation.mailbox.size,
      restarts: counts.restarts,
      quarantinedCount: counts.quarantined,
      quarantined: activation.mailbox.quarantined().slice(-LIVE_QUARANTINED_SHOWN)
        .map(q => ({ messageId: q.messageId, tries: q.tries, error: q.error, at: q.at }))
    }
  }

  private readonly onActivated = (evt: CustomEvent<HostedAgent>): void => { this.watch(evt.detail) }

  private readonly onDeactivated = (evt: CustomEvent<HostedAgent>): void => { this.counts.delete(evt.detail.id) }

  private watch (a: HostedAgent): void {
    const activation = this.host.activation(a.id)
    if (activation == null) return
    const counts = { restarts: 0, quarantined: 0 }
    this.counts.set(a.id, counts)
    // the listeners go with the activation's mailbox when it stops
    activation.mailbox.addEventListener('mailbox:restarted', () => { counts.restarts++ })
    activation.mailbox.addEventListener('message:quarantined', (evt: CustomEvent<QuarantinedMessage>) => {
      counts.quarantined++
      this.onQuarantined(a, evt.detail)
    })
  }

  private onQuarantined (a: HostedAgent, q: QuarantinedMessage): void {
    const notice: QuarantineNotice = { id: a.id, kind: a.kind, node: this.nodeId, messageId: q.messageId, tries: q.tries, error: q.error }
    try {
      this.alerts?.generateAlert(QUARANTINE_ALERT, `agent ${a.id} (${a.kind}) on ${this.nodeId}: message ${q.messageId} quarantined after ${q.tries} tries: ${q.error.name}: ${q.error.message}`, {
        severity: 'warning', labels: { agent: a.id, kind: a.kind }
      })
    } catch (err) {
      this.log('could not raise the quarantine alert for %s: %s', a.id, describeError(err).message)
    }
    this.notify(notice)
  }
}
