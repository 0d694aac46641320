/**
 * AgentHost: the agents active on one peer. It checks the kind is bundled here, reserves the
 * kind's resources in the peer's ResourceLedger, starts the activation, routes messages to it
 * (refusing those for agents it does not hold, or for a stale epoch), and on deactivation stops it
 * (handing back its queued messages when asked) and frees its resources. It also produces what
 * the peer publishes in its node record: `recordExt()` and `load()`.
 *
 * The DistributedAgentManager drives one host per peer: lease granted -> activate; RPC for an
 * agent -> deliver; migration or lease lost -> deactivate.
 */
import { TypedEventEmitter } from 'main-event'
import { ConflictError, NotFoundError, NotOwnerError, StaleEpochError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import { componentLogger } from '../util/logger.ts'
import type { Logger } from '../util/logger.ts'
import { AgentActivation } from './activation.ts'
import { ReplyRecords } from './reply-records.ts'
import { systemClock } from '../util/clock.ts'
import type { ActivationStatus, MailboxOptions, StopOptions } from './activation.ts'
import { KindRegistry, validateAgentId } from './define.ts'
import { ResourceLedger } from './ledger.ts'
import type { NodeCapacity, ResourceUse } from './ledger.ts'
import type { DrainedMessage, PostOptions } from './mailbox.ts'
import { agentsRecordExt } from './placement.ts'
import type { AgentsRecordExt } from './placement.ts'
import type { ActivationComponents, AgentKind, AgentState, JsonObject, JsonValue } from './types.ts'

export interface AgentHostInit {
  nodeId: string
  kinds: Iterable<AgentKind>
  capacity: NodeCapacity
  components: ActivationComponents
  mailbox?: MailboxOptions
  clock?: Clock
  logger?: Logger
}

export interface ActivateSpec {
  agentId: string
  kind: string
  config?: JsonObject
  state: AgentState
  /** the lease epoch (fencing token) under which this peer runs the agent */
  epoch?: number
  /** the first activation after a deploy: the kind's init runs */
  fresh?: boolean
  /** the agent's replicated reply records map (the `replies` map of its state doc) */
  replies?: AgentState
}

export interface DeliverOptions extends PostOptions {
  /** the epoch the sender addressed; a different one is refused with StaleEpochError */
  epoch?: number
}

export interface HostedAgent {
  id: string
  kind: string
  epoch: number
  status: ActivationStatus
}

export interface AgentHostEvents {
  'agent:activated': CustomEvent<HostedAgent>
  'agent:deactivated': CustomEvent<HostedAgent & { drained: number }>
  'agent:failed': CustomEvent<{ id: string, kind: string, error: Error }>
}

interface Hosted {
  activation: AgentActivation
  epoch: number
}

export class AgentHost extends TypedEventEmitter<AgentHostEvents> {
  readonly nodeId: string
  readonly kinds: KindRegistry
  readonly ledger: ResourceLedger
  private readonly components: ActivationComponents
  private readonly mailbox?: MailboxOptions
  private readonly clock?: Clock
  private readonly log: Logger
  private readonly agents = new Map<string, Hosted>()

  constructor (init: AgentHostInit) {
    super()
    this.nodeId = init.nodeId
    this.kinds = new KindRegistry(init.kinds)
    this.ledger = new ResourceLedger(init.capacity)
    this.components = init.components
    this.mailbox = init.mailbox
    this.clock = init.clock
    this.log = init.logger ?? componentLogger('agents:host')
  }

  /**
   * Starts an agent here. NotFoundError for a kind not bundled here, ConflictError if it is already
   * here, CapacityError when its resources do not fit; a failing start frees them and rethrows.
   */
  async activate (spec: ActivateSpec, options: AbortOptions = {}): Promise<AgentActivation> {
    const agentId = validateAgentId(spec.agentId)
    const kind = this.kinds.get(spec.kind)
    if (kind == null) throw new NotFoundError(`peer ${this.nodeId} does not bundle agent kind ${spec.kind}`)
    if (this.agents.has(agentId)) throw new ConflictError(`agent ${agentId} is already active on ${this.nodeId}`)
    this.ledger.reserve(agentId, { cpu: kind.requirements.cpu, memoryMb: kind.requirements.memoryMb, kind: kind.kind })
    const activation = new AgentActivation({
      kind,
      agentId,
      nodeId: this.nodeId,
      state: spec.state,
      fresh: spec.fresh === true,
      ...(spec.replies != null ? { replies: new ReplyRecords(spec.replies, this.clock ?? systemClock) } : {}),
      ...(spec.config != null ? { config: spec.config } : {}),
      ...(this.mailbox != null ? { mailbox: this.mailbox } : {}),
      ...(this.clock != null ? { clock: this.clock } : {})
    }, this.components)
    const hosted: Hosted = { activation, epoch: spec.epoch ?? 0 }
    this.agents.set(agentId, hosted)
    try {
      await activation.start(options)
    } catch (err) {
      if (this.agents.get(agentId) === hosted) this.agents.delete(agentId)
      this.ledger.release(agentId)
      const error = err instanceof Error ? err : new Error(String(err))
      this.log.error('agent %s (%s) failed to start on %s: %s', agentId, kind.kind, this.nodeId, error.message)
      this.safeDispatchEvent('agent:failed', { detail: { id: agentId, kind: kind.kind, error } })
      throw err
    }
    this.safeDispatchEvent('agent:activated', { detail: this.describe(agentId, hosted) })
    return activation
  }

  /** the reply of the agent's handler; NotOwnerError when the agent is not active here */
  async deliver (agentId: string, message: JsonValue, options: DeliverOptions = {}): Promise<JsonValue> {
    const hosted = this.agents.get(agentId)
    if (hosted == null) throw new NotOwnerError(`agent ${agentId} is not active on ${this.nodeId}`)
    if (options.epoch != null && options.epoch !== hosted.epoch) {
      throw new StaleEpochError(`agent ${agentId} runs on ${this.nodeId} under epoch ${hosted.epoch}, not ${options.epoch}`)
    }
    const { epoch: _epoch, ...post } = options
    return await hosted.activation.deliver(message, post)
  }

  /**
   * Stops the agent and frees its resources. With `drain`, its queued messages are returned for the
   * next owner; otherwise they fail. Unknown agent: [] (already gone).
   */
  async deactivate (agentId: string, options: StopOptions = {}): Promise<DrainedMessage[]> {
    const hosted = this.agents.get(agentId)
    if (hosted == null) return []
    this.agents.delete(agentId)
    try {
      const drained = await hosted.activation.stop(options)
      this.safeDispatchEvent('agent:deactivated', { detail: { ...this.describe(agentId, hosted), drained: drained.length } })
      return drained
    } finally {
      this.ledger.release(agentId)
    }
  }

  has (agentId: string): boolean {
    return this.agents.has(agentId)
  }

  activation (agentId: string): AgentActivation | undefined {
    return this.agents.get(agentId)?.activation
  }

  list (): HostedAgent[] {
    return [...this.agents.entries()].map(([id, h]) => this.describe(id, h)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  /** what this peer publishes in `record.ext` so placement knows what it hosts */
  recordExt (): AgentsRecordExt {
    return agentsRecordExt(this.kinds.names(), this.ledger.capacity.maxAgents)
  }

  /** the reserved part of the node record's `load` */
  load (): ResourceUse {
    return this.ledger.load()
  }

  /** stops every agent (their queued messages fail) */
  async stop (options: AbortOptions = {}): Promise<void> {
    await Promise.all([...this.agents.keys()].map(async id => { await this.deactivate(id, options) }))
  }

  private describe (id: string, h: Hosted): HostedAgent {
    return { id, kind: h.activation.kind.kind, epoch: h.epoch, status: h.activation.status }
  }
}
