/**
 * AgentServices in one process: a registry of activations on named (virtual) nodes, with state
 * kept across activations, so agents can be deployed, messaged, crashed, re-activated elsewhere
 * and migrated without a network. For tests, examples and single-process use; the
 * DistributedAgentManager is the same services over the broker, Raft leases and CRDT docs.
 *
 * Fault injection (`setFault`) makes requests to an agent fail as a network would: unreachable,
 * or never answered (the caller's deadline fires).
 */
import { ConflictError, InvalidArgumentError, NotFoundError, UnreachableError } from '../errors.ts'
import type { Telemetry } from '../monitoring/types.ts'
import { raceSignal } from '../util/abort.ts'
import type { AbortOptions } from '../util/abort.ts'
import { systemClock } from '../util/clock.ts'
import type { Clock } from '../util/clock.ts'
import { componentLogger } from '../util/logger.ts'
import type { Logger } from '../util/logger.ts'
import { AgentActivation } from './activation.ts'
import type { MailboxOptions } from './activation.ts'
import { KindRegistry, validateAgentId } from './define.ts'
import type { LlmClient } from './llm-types.ts'
import { linkSignals } from './signals.ts'
import { MemoryAgentState } from './state.ts'
import type {
  AgentAddress, AgentKind, AgentServices, DeployedAgent, DeploySpec, JsonObject, JsonValue, ServiceCallOptions
} from './types.ts'

export interface LocalAgentMeshInit {
  kinds: Iterable<AgentKind>
  llm: LlmClient
  /** virtual node ids agents are spread over, round-robin (default ['local']) */
  nodes?: string[]
  mailbox?: MailboxOptions
  clock?: Clock
  telemetry?: Telemetry
  logger?: Logger
}

export type Fault = 'unreachable' | 'hang'

interface Placement {
  id: string
  kind: string
  config: JsonObject
  node: string
  epoch: number
  state: MemoryAgentState
  activation?: AgentActivation
}

type TopicHandler = (message: JsonValue, from: AgentAddress) => void

export class LocalAgentMesh implements AgentServices {
  readonly kinds: KindRegistry
  private readonly llm: LlmClient
  private readonly nodes: string[]
  private readonly mailboxOptions?: MailboxOptions
  private readonly clock: Clock
  private readonly telemetry?: Telemetry
  private readonly log: Logger
  private readonly placements = new Map<string, Placement>()
  private readonly faults = new Map<string, Fault>()
  private readonly topics = new Map<string, Set<TopicHandler>>()
  private nextNode = 0
  private seq = 0
  private pending = 0
  private keepAlive?: ReturnType<typeof globalThis.setInterval>

  constructor (init: LocalAgentMeshInit) {
    this.kinds = new KindRegistry(init.kinds)
    this.llm = init.llm
    this.nodes = init.nodes ?? ['local']
    if (this.nodes.length === 0) throw new InvalidArgumentError('a local mesh needs at least one node')
    this.mailboxOptions = init.mailbox
    this.clock = init.clock ?? systemClock
    this.telemetry = init.telemetry
    this.log = init.logger ?? componentLogger('agents:local-mesh')
  }

  /** deploys and starts an agent; ConflictError if the id exists */
  async deployAgent (agentId: string, spec: DeploySpec, options: AbortOptions = {}): Promise<DeployedAgent> {
    return await this.held(async () => {
      validateAgentId(agentId)
      if (this.placements.has(agentId)) throw new ConflictError(`agent ${agentId} exists`)
      const kind = this.kinds.get(spec.kind)
      if (kind == null) throw new NotFoundError(`no agent kind ${spec.kind}`)
      const node = spec.node ?? this.nodes[this.nextNode++ % this.nodes.length]
      const p: Placement = { id: agentId, kind: kind.kind, config: spec.config ?? {}, node, epoch: 0, state: new MemoryAgentState() }
      this.placements.set(agentId, p)
      try {
        await this.activate(p, true, options)
      } catch (err) {
        this.placements.delete(agentId)
        throw err
      }
      return this.describe(p)
    })
  }

  /** where an agent is, or NotFoundError */
  placement (agentId: string): DeployedAgent & { active: boolean } {
    const p = this.get(agentId)
    return { ...this.describe(p), active: p.activation?.status === 'active' }
  }

  /** the agent's state (kept across activations) */
  stateOf (agentId: string): MemoryAgentState {
    return this.get(agentId).state
  }

  activationOf (agentId: string): AgentActivation | undefined {
    return this.placements.get(agentId)?.activation
  }

  /** the agent's node died: its activation stops (queued messages fail); its state survives */
  async crash (agentId: string, options: AbortOptions = {}): Promise<void> {
    return await this.held(async () => {
      const p = this.get(agentId)
      const a = p.activation
      p.activation = undefined
      await a?.stop(options)
    })
  }

  /** brings a crashed agent back, on `node` (default: the next one), with the state it had */
  async reactivate (agentId: string, node?: string, options: AbortOptions = {}): Promise<DeployedAgent> {
    return await this.held(async () => {
      const p = this.get(agentId)
      if (p.activation != null) throw new ConflictError(`agent ${agentId} is active`)
      p.node = node ?? this.nodes[this.nextNode++ % this.nodes.length]
      p.epoch++
      await this.activate(p, false, options)
      return this.describe(p)
    })
  }

  /** a planned move: queued messages are handed to the new activation and answered there */
  async migrate (agentId: string, node: string, options: AbortOptions = {}): Promise<DeployedAgent> {
    return await this.held(async () => {
      const p = this.get(agentId)
      const old = p.activation
      p.activation = undefined
      const drained = old == null ? [] : await old.stop({ ...options, drain: true })
      p.node = node
      p.epoch++
      await this.activate(p, false, options)
      for (const d of drained) {
        this.activationOf(agentId)?.deliver(d.message, { id: d.id }).then(d.resolve, d.reject)
      }
      return this.describe(p)
    })
  }

  /** makes deliveries to an agent fail like a network would (undefined clears it) */
  setFault (agentId: string, fault: Fault | undefined): void {
    if (fault == null) this.faults.delete(agentId)
    else this.faults.set(agentId, fault)
  }

  subscribe (topic: string, handler: TopicHandler): () => void {
    let set = this.topics.get(topic)
    if (set == null) { set = new Set(); this.topics.set(topic, set) }
    set.add(handler)
    return () => { set.delete(handler) }
  }

  /** a request from outside the mesh (like POST /agents/:id/messages) */
  async call (agentId: string, message: JsonValue, options: ServiceCallOptions = {}): Promise<JsonValue> {
    return await this.request({ agentId: 'client', kind: 'client', nodeId: 'client' }, agentId, message, options)
  }

  async stop (): Promise<void> {
    return await this.held(async () => {
      await Promise.all([...this.placements.values()].map(async p => {
        const a = p.activation
        p.activation = undefined
        await a?.stop()
      }))
    })
  }

  // ------------------------------------------------------------------ AgentServices

  async send (from: AgentAddress, to: string, message: JsonValue, options: ServiceCallOptions = {}): Promise<void> {
    this.deliver(from, to, message, options).catch((err: unknown) => {
      this.log('send %s -> %s failed: %s', from.agentId, to, (err as Error).message)
    })
  }

  async request (from: AgentAddress, to: string, message: JsonValue, options: ServiceCallOptions = {}): Promise<JsonValue> {
    return await this.deliver(from, to, message, options)
  }

  async publish (from: AgentAddress, topic: string, message: JsonValue): Promise<void> {
    for (const h of this.topics.get(topic) ?? []) {
      try { h(message, from) } catch (err) { this.log.error('topic %s handler failed: %s', topic, (err as Error).message) }
    }
  }

  async deploy (_from: AgentAddress, agentId: string, spec: DeploySpec, options: ServiceCallOptions = {}): Promise<DeployedAgent> {
    return await this.deployAgent(agentId, spec, options.signal != null ? { signal: options.signal } : {})
  }

  // ------------------------------------------------------------------ internals

  private async deliver (from: AgentAddress, to: string, message: JsonValue, options: ServiceCallOptions): Promise<JsonValue> {
    return await this.held(async () => await this.route(from, to, message, options))
  }

  /** the clock's timers (mailbox backoff, deadlines) do not keep a process alive; a pending operation must */
  private async held<T> (fn: () => Promise<T>): Promise<T> {
    if (this.pending++ === 0) this.keepAlive = globalThis.setInterval(() => {}, 1 << 30)
    try {
      return await fn()
    } finally {
      if (--this.pending === 0) globalThis.clearInterval(this.keepAlive)
    }
  }

  private async route (from: AgentAddress, to: string, message: JsonValue, options: ServiceCallOptions): Promise<JsonValue> {
    const linked = linkSignals([options.signal], options.timeoutMs, this.clock)
    try {
      return await this.routeWithin(from, to, message, options, linked.signal)
    } finally {
      linked.dispose()
    }
  }

  private async routeWithin (from: AgentAddress, to: string, message: JsonValue, options: ServiceCallOptions, signal: AbortSignal): Promise<JsonValue> {
    const p = this.placements.get(to)
    if (p == null) throw new NotFoundError(`no agent ${to}`)
    const fault = this.faults.get(to)
    if (fault === 'unreachable') throw new UnreachableError(`agent ${to} on ${p.node} is unreachable`)
    if (fault === 'hang') return await raceSignal(new Promise<never>(() => {}), signal)
    if (p.activation == null || !['idle', 'starting', 'active'].includes(p.activation.status)) throw new UnreachableError(`agent ${to} is not active (its node is down)`)
    const id = `${from.agentId}#${++this.seq}`
    return await p.activation.deliver(message, { id, signal, ...(options.traceparent != null && options.traceparent !== '' ? { traceparent: options.traceparent } : {}) })
  }

  private async activate (p: Placement, fresh: boolean, options: AbortOptions = {}): Promise<void> {
    const kind = this.kinds.get(p.kind)
    if (kind == null) throw new NotFoundError(`no agent kind ${p.kind}`)
    const activation = new AgentActivation({
      kind,
      agentId: p.id,
      nodeId: p.node,
      config: p.config,
      state: p.state,
      fresh,
      clock: this.clock,
      ...(this.mailboxOptions != null ? { mailbox: this.mailboxOptions } : {})
    }, { services: this, llm: this.llm, ...(this.telemetry != null ? { telemetry: this.telemetry } : {}) })
    p.activation = activation
    try {
      await activation.start(options)
    } catch (err) {
      if (p.activation === activation) p.activation = undefined
      throw err
    }
  }

  private get (agentId: string): Placement {
    const p = this.placements.get(agentId)
    if (p == null) throw new NotFoundError(`no agent ${agentId}`)
    return p
  }

  private describe (p: Placement): DeployedAgent {
    return { id: p.id, kind: p.kind, node: p.node, epoch: p.epoch }
  }
}
