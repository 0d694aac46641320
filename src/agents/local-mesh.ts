/**
 * AgentServices in one process: one AgentHost per named (virtual) node, placement by the real
 * scorer over the hosts' records, state kept across activations, so agents can be deployed,
 * messaged, crashed, re-activated elsewhere and migrated without a network. For tests, examples
 * and single-process use; the DistributedAgentManager is the same services over the broker,
 * Raft leases and CRDT docs.
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
import type { AgentActivation, MailboxOptions } from './activation.ts'
import { KindRegistry, validateAgentId } from './define.ts'
import { AgentHost } from './host.ts'
import type { NodeCapacity } from './ledger.ts'
import type { LlmClient } from './llm-types.ts'
import { scorePlacement } from './placement.ts'
import type { PlacementCandidate } from './placement.ts'
import { linkSignals } from '../util/abort.ts'
import { MemoryAgentState } from './state.ts'
import type {
  AgentAddress, AgentKind, AgentServices, DeployedAgent, DeploySpec, JsonObject, JsonValue, ServiceCallOptions
} from './types.ts'

export interface LocalAgentMeshInit {
  kinds: Iterable<AgentKind>
  llm: LlmClient
  /** virtual node ids (default ['local']) */
  nodes?: string[]
  /** what each node offers (default: room for thousands of agents) */
  capacity?: NodeCapacity
  mailbox?: MailboxOptions
  clock?: Clock
  telemetry?: Telemetry
  logger?: Logger
}

export type Fault = 'unreachable' | 'hang'

const DEFAULT_LOCAL_CAPACITY: NodeCapacity = { cpu: 1024, memoryMb: 1024 * 1024, maxAgents: 10_000 }

interface Placement {
  id: string
  kind: string
  config: JsonObject
  node: string
  epoch: number
  state: MemoryAgentState
  /** the node it runs on now; undefined after a crash */
  active?: string
}

type TopicHandler = (message: JsonValue, from: AgentAddress) => void

export class LocalAgentMesh implements AgentServices {
  readonly kinds: KindRegistry
  private readonly hosts = new Map<string, AgentHost>()
  private readonly log: Logger
  private readonly placements = new Map<string, Placement>()
  private readonly faults = new Map<string, Fault>()
  private readonly topics = new Map<string, Set<TopicHandler>>()
  private readonly clock: Clock
  private seq = 0
  private pending = 0
  private keepAlive?: ReturnType<typeof globalThis.setInterval>

  constructor (init: LocalAgentMeshInit) {
    this.kinds = new KindRegistry(init.kinds)
    const nodes = init.nodes ?? ['local']
    if (nodes.length === 0) throw new InvalidArgumentError('a local mesh needs at least one node')
    this.clock = init.clock ?? systemClock
    this.log = init.logger ?? componentLogger('agents:local-mesh')
    for (const nodeId of nodes) {
      this.hosts.set(nodeId, new AgentHost({
        nodeId,
        kinds: this.kinds.names().map(k => this.kinds.get(k) as AgentKind),
        capacity: init.capacity ?? DEFAULT_LOCAL_CAPACITY,
        components: { services: this, llm: init.llm, ...(init.telemetry != null ? { telemetry: init.telemetry } : {}) },
        clock: this.clock,
        ...(init.mailbox != null ? { mailbox: init.mailbox } : {})
      }))
    }
  }

  /** deploys and starts an agent where placement puts it; ConflictError if the id exists */
  async deployAgent (agentId: string, spec: DeploySpec, options: AbortOptions = {}): Promise<DeployedAgent> {
    return await this.held(async () => {
      validateAgentId(agentId)
      if (this.placements.has(agentId)) throw new ConflictError(`agent ${agentId} exists`)
      const kind = this.kinds.get(spec.kind)
      if (kind == null) throw new NotFoundError(`no agent kind ${spec.kind}`)
      const [best] = scorePlacement(kind, this.candidates(), {
        ...(spec.node != null ? { preferred: spec.node } : {}),
        ...(spec.antiAffinity != null ? { antiAffinity: spec.antiAffinity } : {})
      })
      const p: Placement = { id: agentId, kind: kind.kind, config: spec.config ?? {}, node: best.peerId, epoch: 0, state: new MemoryAgentState() }
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
    return { ...this.describe(p), active: p.active != null && this.hosts.get(p.active)?.activation(agentId)?.status === 'active' }
  }

  /** the agent's state (kept across activations) */
  stateOf (agentId: string): MemoryAgentState {
    return this.get(agentId).state
  }

  activationOf (agentId: string): AgentActivation | undefined {
    const p = this.placements.get(agentId)
    return p?.active == null ? undefined : this.hosts.get(p.active)?.activation(agentId)
  }

  /** a node's host, for inspection (ledger, record ext, hosted agents) */
  host (nodeId: string): AgentHost {
    const h = this.hosts.get(nodeId)
    if (h == null) throw new NotFoundError(`no node ${nodeId}`)
    return h
  }

  /** the agent's node died: its activation stops (queued messages fail); its state survives */
  async crash (agentId: string, options: AbortOptions = {}): Promise<void> {
    await this.held(async () => {
      const p = this.get(agentId)
      const node = p.active
      p.active = undefined
      if (node != null) await this.host(node).deactivate(agentId, options)
    })
  }

  /** brings a crashed agent back on `node` (default: where placement puts it) with the state it had */
  async reactivate (agentId: string, node?: string, options: AbortOptions = {}): Promise<DeployedAgent> {
    return await this.held(async () => {
      const p = this.get(agentId)
      if (p.active != null) throw new ConflictError(`agent ${agentId} is active`)
      p.node = node ?? scorePlacement(this.kinds.get(p.kind) as AgentKind, this.candidates())[0].peerId
      p.epoch++
      await this.activate(p, false, options)
      return this.describe(p)
    })
  }

  /** a planned move: queued messages are handed to the new activation and answered there */
  async migrate (agentId: string, node: string, options: AbortOptions = {}): Promise<DeployedAgent> {
    return await this.held(async () => {
      const p = this.get(agentId)
      this.host(node)
      const from = p.active
      p.active = undefined
      const drained = from == null ? [] : await this.host(from).deactivate(agentId, { ...options, drain: true })
      p.node = node
      p.epoch++
      await this.activate(p, false, options)
      for (const d of drained) {
        this.host(node).deliver(agentId, d.message, { id: d.id, ...(d.traceparent != null ? { traceparent: d.traceparent } : {}), ...(d.origin != null ? { origin: d.origin } : {}) }).then(d.resolve, d.reject)
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

  async stop (options: AbortOptions = {}): Promise<void> {
    await this.held(async () => {
      for (const p of this.placements.values()) p.active = undefined
      await Promise.all([...this.hosts.values()].map(async h => { await h.stop(options) }))
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
    return await this.held(async () => {
      const linked = linkSignals([options.signal], options.timeoutMs, this.clock)
      try {
        return await this.route(from, to, message, options, linked.signal)
      } finally {
        linked.dispose()
      }
    })
  }

  private async route (from: AgentAddress, to: string, message: JsonValue, options: ServiceCallOptions, signal: AbortSignal): Promise<JsonValue> {
    const p = this.placements.get(to)
    if (p == null) throw new NotFoundError(`no agent ${to}`)
    const fault = this.faults.get(to)
    if (fault === 'unreachable') throw new UnreachableError(`agent ${to} on ${p.node} is unreachable`)
    if (fault === 'hang') return await raceSignal(new Promise<never>(() => {}), signal)
    if (p.active == null) throw new UnreachableError(`agent ${to} is not active (its node is down)`)
    const id = `${from.agentId}#${++this.seq}`
    return await this.host(p.active).deliver(to, message, {
      id,
      signal,
      epoch: p.epoch,
      ...(options.traceparent != null && options.traceparent !== '' ? { traceparent: options.traceparent } : {})
    })
  }

  private async activate (p: Placement, fresh: boolean, options: AbortOptions = {}): Promise<void> {
    p.active = p.node
    try {
      await this.host(p.node).activate({ agentId: p.id, kind: p.kind, config: p.config, state: p.state, epoch: p.epoch, fresh }, options)
    } catch (err) {
      if (p.active === p.node) p.active = undefined
      throw err
    }
  }

  /** every node as a placement candidate, as its record would show it */
  private candidates (): PlacementCandidate[] {
    return [...this.hosts.values()].map(h => {
      const cap = h.ledger.capacity
      return {
        record: {
          peerId: h.nodeId,
          role: 'node',
          hidden: false,
          // a virtual node offers every tag its kinds ask for
          capabilities: { cpu: cap.cpu, memoryMb: cap.memoryMb, tags: [...new Set(this.kinds.names().flatMap(k => this.kinds.get(k)?.requirements.tags ?? []))] },
          load: { ...h.load(), rssMb: 0, eventLoopLagMs: 0 },
          ext: { ...h.recordExt() }
        },
        agents: h.list().map(a => ({ id: a.id, kind: a.kind }))
      }
    })
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

  private get (agentId: string): Placement {
    const p = this.placements.get(agentId)
    if (p == null) throw new NotFoundError(`no agent ${agentId}`)
    return p
  }

  private describe (p: Placement): DeployedAgent {
    return { id: p.id, kind: p.kind, node: p.node, epoch: p.epoch }
  }
}
