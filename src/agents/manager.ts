/**
 * DistributedAgentManager: agents across the mesh.
 *
 * - Placement records live in the Raft KV store (`agents/<id>`), changed only by compare-and-swap
 *   on the record's revision and fenced by the new epoch (a Raft commit index, so epochs only grow
 *   and a write under an older one is refused with StaleEpochError): placement-records.ts.
 * - A peer runs agents only while its node lease (Raft, renewed every 400 ms, 2 s ttl) is valid
 *   (lease-guard.ts).
 * - The broker resolves agents through a cached directory (updated by notices on the placements
 *   topic, by hints sent with NotOwner refusals and by linearizable reads); inbound requests go to
 *   the local AgentHost, whose replies wait for the state's write concern.
 * - Migration (`migrateAgent`) and failure recovery (`handleNodeFailure`, by the Raft leader) are
 *   in migration.ts and recovery.ts; rebalancing (the leader, toward joined peers and off hidden
 *   tabs) in rebalancer.ts; quarantine alerts and the live view of GET /agents/:id in failures.ts
 *   and inspection.ts.
 */
import { TypedEventEmitter } from 'main-event'
import { ClockSkewError, InvalidArgumentError, InvalidMessageError, NotFoundError, UnauthorizedError, describeError } from '../errors.ts'
import type { Telemetry } from '../monitoring/types.ts'
import type { RoleGate } from '../security/index.ts'
import type { AbortOptions } from '../util/abort.ts'
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts'
import { componentLogger, type Logger } from '../util/logger.ts'
import type { MailboxOptions } from './activation.ts'
import { PLACEMENT_TOPIC, RECONCILE_INTERVAL_MS, WRITE_CONCERN_REPLICAS } from './constants.ts'
import type { NodeLeaseTiming } from './constants.ts'
import { encodeCall, encodeControl } from './control.ts'
import { KindRegistry, validateAgentId } from './define.ts'
import { PlacementCache, decodePlacement, type Placement } from './directory.ts'
import { PlacementRecords } from './placement-records.ts'
import type { NodeCapacity } from './ledger.ts'
import type { LlmClient } from './llm-types.ts'
import { LocalAgents, type AgentDocs } from './local-agents.ts'
import { migrateFrom } from './migration.ts'
import { NodeLease } from './node-lease.ts'
import { Placer } from './placer.ts'
import { AgentFailureWatch, type AlertSink } from './failures.ts'
import { inspect, readState, syncState } from './inspection.ts'
import { LeaseGuard } from './lease-guard.ts'
import { ClockSkewHandoff } from './clock-handoff.ts'
import { writeConcernFor } from './write-concern.ts'
import { Rebalancer } from './rebalancer.ts'
import { Recovery } from './recovery.ts'
import { forceRecover } from './forced-recovery.ts'
import type { ForcedRecovery } from './forced-recovery.ts'
import { Routing } from './routing.ts'
import type { AgentDetails, AgentInfo, AgentManagerEvents, ManagerBroker, ManagerConsensus, ManagerNetwork } from './manager-types.ts'
import type { AgentAddress, AgentKind, AgentServices, DeployedAgent, DeploySpec, JsonValue, ServiceCallOptions } from './types.ts'

export interface AgentManagerComponents {
  network: ManagerNetwork
  broker: ManagerBroker
  consensus: ManagerConsensus
  docs: AgentDocs
  llm: LlmClient
  /** metrics and spans; when it can also raise alerts (the MonitoringSystem can), quarantined messages raise one */
  telemetry?: Telemetry & Partial<AlertSink>
  clock?: Clock
  /** membership credentials: only peers it allows as `host` are given agents (default: every peer) */
  gate?: RoleGate
}

export interface AgentManagerInit {
  kinds: Iterable<AgentKind>
  /** what this peer offers agents (default: its capabilities) */
  capacity: NodeCapacity
  /** other peers that must hold a turn's state before its reply (default 1; fewer if fewer are around) */
  writeConcern?: number
  mailbox?: MailboxOptions
  /** the node lease's timing instead of the runtime's (#platform/node-lease); tests only */
  nodeLease?: Partial<NodeLeaseTiming>
  /** the Raft leader moves agents toward peers that join and off hidden tabs (default true) */
  rebalance?: boolean
}

export class DistributedAgentManager extends TypedEventEmitter<AgentManagerEvents> implements AgentServices {
  readonly peerId: string
  readonly kinds: KindRegistry
  readonly cache = new PlacementCache()
  readonly local: LocalAgents
  readonly lease: NodeLease
  readonly components: AgentManagerComponents
  readonly clock: Clock
  readonly log: Logger
  readonly placer: Placer
  /** the placement records in the Raft store: read, compare-and-swap writes, notices */
  readonly records: PlacementRecords
  private readonly init: AgentManagerInit
  private readonly recovery: Recovery
  private readonly routing: Routing
  readonly rebalancer: Rebalancer
  readonly failures: AgentFailureWatch
  private started = false
  private timer?: TimerHandle
  private unsubscribe?: () => void
  readonly migrating = new Set<string>()
  private readonly leaseGuard: LeaseGuard
  /** hands every agent off while this peer's wall clock is the mesh's outlier */
  readonly clockHandoff: ClockSkewHandoff

  constructor (components: AgentManagerComponents, init: AgentManagerInit) {
    super()
    this.components = components
    this.init = init
    this.peerId = components.network.peerId
    this.clock = components.clock ?? systemClock
    this.log = componentLogger('agents:manager')
    this.kinds = new KindRegistry(init.kinds)
    this.lease = new NodeLease({
      kv: components.consensus.kv,
      clock: this.clock,
      log: componentLogger('agents:lease'),
      holder: this.peerId,
      ...init.nodeLease
    })
    this.leaseGuard = new LeaseGuard(this, () => { void this.recovery.reconcile() })
    this.local = new LocalAgents({
      nodeId: this.peerId,
      kinds: this.kinds.names().map(k => this.kinds.get(k) as AgentKind),
      capacity: init.capacity,
      services: this,
      llm: components.llm,
      docs: components.docs,
      writeConcern: () => this.writeConcern(),
      healthy: (peer) => {
        const status = this.components.network.member(peer)?.status
        // replicas of agent state only on peers that may host agents (credentialed meshes)
        return status == null ? peer === this.peerId : status === 'alive' && this.mayHost(peer)
      },
      authority: this.leaseGuard,
      refusal: () => this.clockHandoff.refusal(),
      recordReplicas: async (agentId, epoch, set, options) => { await this.records.recordReplicaSet(agentId, this.peerId, epoch, set, options) },
      lost: (peer) => !this.reachable(peer),
      clock: this.clock,
      log: this.log,
      ...(components.telemetry != null ? { telemetry: components.telemetry } : {}),
      ...(init.mailbox != null ? { mailbox: init.mailbox } : {})
    })
    this.records = new PlacementRecords({ kv: components.consensus.kv, broker: components.broker, cache: this.cache, log: this.log, learn: (p) => { this.learn(p) } })
    this.placer = new Placer(this)
    this.recovery = new Recovery(this)
    this.routing = new Routing(this)
    this.rebalancer = new Rebalancer(this)
    this.clockHandoff = new ClockSkewHandoff(this, { setSkewed: (skewed) => { this.leaseGuard.setSkewed(skewed) } })
    this.failures = new AgentFailureWatch({
      host: this.local.host,
      nodeId: this.peerId,
      log: this.log,
      ...(components.telemetry?.generateAlert != null ? { alerts: components.telemetry as AlertSink } : {}),
      notify: (n) => { this.safeDispatchEvent('agent:message-quarantined', { detail: n }) }
    })
  }

  get host () { return this.local.host }

  start (): void {
    if (this.started) return
    this.started = true
    const { network, broker, consensus } = this.components
    this.leaseGuard.start()
    this.clockHandoff.start()
    broker.setResolver(this.routing.resolve)
    broker.setRequestHandler(this.routing.onRequest)
    broker.setMessageHandler(this.routing.onMessage)
    this.unsubscribe = broker.subscribe(PLACEMENT_TOPIC, (msg: { data: unknown, from: string }) => {
      try { this.learn(decodePlacement(msg.data), false) } catch (err) { this.log('bad placement notice from %s: %s', msg.from, describeError(err).message) }
    })
    network.addEventListener('node:failed', this.onNodeFailed)
    consensus.addEventListener('leader:changed', this.onLeaderChanged)
    this.lease.start()
    this.timer = this.clock.setInterval(() => { void this.recovery.reconcile() }, RECONCILE_INTERVAL_MS)
    if (this.init.rebalance !== false) this.rebalancer.start()
    this.failures.start()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    const { network, broker, consensus } = this.components
    this.clock.clearInterval(this.timer)
    this.rebalancer.stop()
    this.failures.stop()
    this.unsubscribe?.()
    network.removeEventListener('node:failed', this.onNodeFailed)
    consensus.removeEventListener('leader:changed', this.onLeaderChanged)
    this.leaseGuard.stop()
    this.recovery.stop()
    await this.clockHandoff.stop()
    broker.setResolver(undefined)
    broker.setRequestHandler(undefined)
    broker.setMessageHandler(undefined)
    await this.local.stop()
    await this.lease.stop()
  }

  // ------------------------------------------------------------------ the seed's API

  /**
   * places and starts an agent: ConflictError if the id exists, CapacityError if nothing fits;
   * with `spec.node`, UnreachableError when that peer holds no node lease within `nodeWaitMs`
   * (default DEPLOY_NODE_WAIT_MS); ClockSkewError (HTTP 503) on a peer whose clock is the mesh's
   * outlier, as its other refusals for that (deploy through another peer)
   */
  async deployAgent (agentId: string, spec: DeploySpec, options: AbortOptions & { nodeWaitMs?: number } = {}): Promise<DeployedAgent> {
    validateAgentId(agentId)
    if (spec == null || typeof spec.kind !== 'string') throw new InvalidArgumentError('deployAgent needs { kind }')
    const kind = this.kinds.get(spec.kind)
    if (kind == null) throw new NotFoundError(`agent kind ${spec.kind} is not bundled on ${this.peerId}`)
    if (spec.config != null && (typeof spec.config !== 'object' || Array.isArray(spec.config))) throw new InvalidArgumentError('config must be an object')
    if (spec.node != null) this.assertMayHost(spec.node, `host ${agentId}`)
    // its requests to other peers are refused (HLC drift bound): the deploy could not complete from here
    const refusal = this.clockHandoff.refusal()
    if (refusal != null) throw new ClockSkewError(`cannot deploy ${agentId} from here, deploy through another peer: ${refusal}`, { details: { agentId } })
    const p = await this.placer.deploy(agentId, kind, spec, options)
    this.safeDispatchEvent('agent:deployed', { detail: info(p) })
    return { id: p.id, kind: p.kind, node: p.node, epoch: p.epoch }
  }

  /**
   * moves an agent to `target` live: no queued message lost, none handled twice. The agent stays
   * pinned there (the rebalancer leaves it) unless `pin: false` (the rebalancer's own moves).
   */
  async migrateAgent (agentId: string, target: string, options: AbortOptions & { pin?: boolean } = {}): Promise<DeployedAgent> {
    validateAgentId(agentId)
    if (typeof target !== 'string' || target.length === 0) throw new InvalidArgumentError('migrateAgent needs a target peer id')
    const p = await this.read(agentId, options)
    if (p == null) throw new NotFoundError(`no agent ${agentId}`)
    if (p.node === target) return describe(p)
    this.assertMayHost(target, `host ${agentId}`)
    this.placer.checkTarget(p, target)
    const moved = await migrateFrom(this, p, target, options, async (q, how, o) => await this.recovery.reassign(q, how, o))
    return describe(moved)
  }

  /** the leader re-places the agents of a failed peer (epoch + 1 each); others probe the peer */
  async handleNodeFailure (nodeId: string, options: AbortOptions = {}): Promise<DeployedAgent[]> {
    const status = nodeId === this.peerId ? 'alive' : await this.components.network.handleNodeFailure(nodeId, options)
    if (status !== 'failed') return []
    return (await this.recovery.reassignFrom(nodeId, options)).map(describe)
  }

  /** restarts a failed activation here with backoff; quarantines it after too many failures */
  async handleAgentFailure (agentId: string, options: AbortOptions = {}): Promise<{ id: string, action: 'restarted' | 'quarantined' | 'none', restarts: number }> {
    return await this.recovery.restart(agentId, options)
  }

  /**
   * forces the agent's state out: on the owner, flush to the write concern; elsewhere, catch up
   * from the owner. Answers the other peers now holding it.
   */
  async syncAgentState (agentId: string, options: AbortOptions = {}): Promise<{ id: string, node: string, holders: string[] }> {
    return await syncState(this, agentId, options)
  }

  // ------------------------------------------------------------------ reads

  /** every placement (linearizable) */
  async listAgents (options: AbortOptions = {}): Promise<AgentInfo[]> {
    return (await this.records.list(options)).map(info)
  }

  /** one placement (linearizable); NotFoundError if unknown */
  async getAgent (agentId: string, options: AbortOptions = {}): Promise<AgentInfo> {
    const p = await this.read(agentId, options)
    if (p == null) throw new NotFoundError(`no agent ${agentId}`)
    return info(p)
  }

  /**
   * GET /agents/:id: the placement (linearizable) and its owner's live view: activation status,
   * queued messages, restarts and quarantined messages. `live` is null when the owner did not
   * answer within `liveTimeoutMs` (default 2 s). NotFoundError if unknown.
   */
  async inspectAgent (agentId: string, options: AbortOptions & { liveTimeoutMs?: number } = {}): Promise<AgentDetails> {
    return await inspect(this, agentId, options)
  }

  /** the agent's state as JSON, read from its owner */
  async agentState (agentId: string, options: AbortOptions = {}): Promise<Record<string, unknown>> {
    return await readState(this, agentId, options)
  }

  /**
   * an RPC to an agent wherever it lives (what POST /agents/:id/messages does). With `messageId`
   * the agent handles that id once: a retry with the same id, even after a failover, gets the
   * first reply (replicated with the agent's state, for the dedup window)
   */
  async call (agentId: string, message: JsonValue, options: AbortOptions & { timeoutMs?: number, messageId?: string } = {}): Promise<JsonValue> {
    const { messageId, ...rest } = options
    return await this.components.broker.request(agentId, messageId != null ? encodeCall(messageId, message) : message, rest) as JsonValue
  }

  /**
   * Operator override for an agent whose state replica set lost too many members for good: it
   * takes the agent over from the members reachable now, giving up turns acknowledged only on the
   * lost ones (forced-recovery.ts). ConflictError when enough members are reachable (wait instead),
   * UnreachableError when none is.
   */
  async forceRecoverAgent (agentId: string, options: AbortOptions = {}): Promise<ForcedRecovery> {
    return await forceRecover(this, agentId, options)
  }

  /** whether `peer` is this peer or a member not marked failed */
  reachable (peer: string): boolean {
    const status = this.components.network.member(peer)?.status
    return status == null ? peer === this.peerId : status !== 'failed'
  }

  /** the placement in Raft (linearizable), cached; undefined when there is none */
  async read (agentId: string, options: AbortOptions = {}): Promise<Placement | undefined> {
    return await this.records.read(agentId, options)
  }

  /** a tab going hidden hands its agents to visible peers */
  async setHidden (hidden: boolean, options: AbortOptions = {}): Promise<void> {
    this.components.network.setHidden(hidden)
    if (hidden) await this.placer.rebalanceAway(options)
  }

  // ------------------------------------------------------------------ AgentServices

  async send (from: AgentAddress, to: string, message: JsonValue, options: ServiceCallOptions = {}): Promise<void> {
    await this.components.broker.send(to, message, { ...(options.signal != null ? { signal: options.signal } : {}), ...(options.traceparent != null ? { traceparent: options.traceparent } : {}) })
  }

  async request (from: AgentAddress, to: string, message: JsonValue, options: ServiceCallOptions = {}): Promise<JsonValue> {
    return await this.components.broker.request(to, message, options) as JsonValue
  }

  async publish (from: AgentAddress, topic: string, message: JsonValue, options: ServiceCallOptions = {}): Promise<void> {
    await this.components.broker.publishMessage(topic, message, options)
  }

  async deploy (from: AgentAddress, agentId: string, spec: DeploySpec, options: ServiceCallOptions = {}): Promise<DeployedAgent> {
    return await this.deployAgent(agentId, spec, options.signal != null ? { signal: options.signal } : {})
  }

  // ------------------------------------------------------------------ internals shared with migration/recovery/placer

  /** peers besides this one that must hold a turn's changes (see writeConcernFor) */
  writeConcern (): number {
    const others = this.components.network.members().filter(m => m.status !== 'failed' && m.peerId !== this.peerId).length
    return writeConcernFor(this.init.writeConcern ?? WRITE_CONCERN_REPLICAS, others, () => this.components.consensus.status().voters, this.peerId)
  }

  /** a fresh epoch: the commit index, which is past every epoch already applied here */
  nextEpoch (): number {
    return this.components.consensus.status().commitIndex
  }

  /** membership credentials: may `peer` host agents? (placement skips those that may not) */
  mayHost (peer: string): boolean {
    return this.components.gate?.allows(peer, 'host') ?? true
  }

  /** UnauthorizedError, and a log line, unless `peer` may host agents */
  assertMayHost (peer: string, what: string): void {
    const gate = this.components.gate
    if (gate === undefined || gate.allows(peer, 'host')) return
    gate.refuse(peer, 'host', what)
    throw new UnauthorizedError(`${peer} has no valid credential to host agents: cannot ${what}`)
  }

  /**
   * asks `node` to run `p` (or runs it here); returns the placement it runs, `p` or, when that
   * peer claimed the agent meanwhile, the same peer under a newer epoch
   */
  async activateOn (p: Placement, options: AbortOptions & { fresh?: boolean, syncFrom?: string[] } = {}): Promise<Placement> {
    this.assertMayHost(p.node, `run ${p.id}`)
    if (p.node === this.peerId) { await this.local.activate(p, options); return p }
    const answer = await this.components.broker.request({ kind: 'peer', id: p.node },
      encodeControl({ op: 'activate', id: p.id, epoch: p.epoch, syncFrom: options.syncFrom ?? [], ...(options.fresh === true ? { fresh: true } : {}) }), options)
    if (answer == null) return p // a peer from before activations answered with the placement
    const running = decodePlacement(answer)
    if (running.id !== p.id || running.node !== p.node || running.epoch < p.epoch) {
      throw new InvalidMessageError(`peer ${p.node} answered an activation of ${p.id}@${p.epoch} with ${running.id}@${running.epoch} on ${running.node}`)
    }
    return running.epoch === p.epoch ? p : running
  }

  /**
   * a placement seen: cache it, and stop a local activation it supersedes. Notices and hints from
   * other peers are not trusted for that: the placement is read back from the store first.
   */
  learn (p: Placement, trusted = true): void {
    const mine = this.local.epochOf(p.id)
    const supersedes = mine != null && mine < p.epoch && p.node !== this.peerId && !this.migrating.has(p.id)
    // routing follows any news at once; stopping what runs here waits for the store to confirm it
    this.cache.offer(p)
    if (!supersedes) return
    if (!trusted) {
      this.read(p.id).catch(err => { this.log('re-reading %s after a notice failed: %s', p.id, describeError(err).message) })
      return
    }
    void this.local.surrender(p.id, `placed on ${p.node} under epoch ${p.epoch}`).catch(() => {})
  }

  private readonly onNodeFailed = (evt: CustomEvent<{ peerId: string }>): void => {
    const failed = evt.detail.peerId
    void this.recovery.reassignFrom(failed).catch(err => { this.log.error('re-placing the agents of %s failed: %s', failed, describeError(err).message) })
  }

  private readonly onLeaderChanged = (): void => {
    void this.recovery.reconcile()
  }

}

function info (p: Placement): AgentInfo {
  return { id: p.id, kind: p.kind, node: p.node, epoch: p.epoch, status: p.status }
}

function describe (p: Placement): DeployedAgent {
  return { id: p.id, kind: p.kind, node: p.node, epoch: p.epoch }
}
