/**
 * The agents this peer runs under a lease: an AgentHost whose activations keep their state in
 * replicated Y.Docs (`agent/<id>`), with the write concern applied before every reply
 * (`commitTurn`) and a message's reply released only while this peer provably owns the agent
 * (the turn fence, turn-fence.ts, judged by the peer's `authority`), activation from replicated
 * state (caught up from the previous owner and the replicas first), and requests that arrive while
 * an agent is being activated held until it is.
 */
import { NotOwnerError, UnreachableError } from '../errors.ts'
import type { Telemetry } from '../monitoring/types.ts'
import type { AbortOptions } from '../util/abort.ts'
import { linkSignals, raceSignal } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import type { AgentActivation, MailboxOptions } from './activation.ts'
import { ACTIVATION_TIMEOUT_MS } from './constants.ts'
import type { Placement } from './directory.ts'
import { AgentHost } from './host.ts'
import type { NodeCapacity } from './ledger.ts'
import type { DrainedMessage, PostOptions } from './mailbox.ts'
import type { LlmClient } from './llm-types.ts'
import { AgentStateDocs, type AgentDocs } from './state-docs.ts'
import type { ReplicaSet } from './state-replicas.ts'
import { TurnFence, type OwnerAuthority } from './turn-fence.ts'
import type { AgentKind, AgentServices, JsonValue, TurnTicket } from './types.ts'

export type { AgentDocs } from './state-docs.ts'
export { stateDocId } from './state-docs.ts'

export interface LocalAgentsInit {
  nodeId: string
  kinds: Iterable<AgentKind>
  capacity: NodeCapacity
  services: AgentServices
  llm: LlmClient
  docs: AgentDocs
  /** replicas that must hold a turn's changes before its reply (may depend on who is around) */
  writeConcern: () => number
  /** a peer the membership does not consider failed or suspect: only those hold or feed agent state */
  healthy: (peer: string) => boolean
  /**
   * this peer's node lease and the agents' placements: with it every message's turn begins only
   * under a valid lease and its reply is released only as turn-fence.ts says
   */
  authority: OwnerAuthority
  /** why this peer takes no activation now (its clock is the mesh's outlier); undefined: it does */
  refusal?: () => string | undefined
  /**
   * records an agent's state replica set in its placement if it is still this peer's under
   * `epoch` (state-replicas.ts); without it replies wait for any holders
   */
  recordReplicas?: (agentId: string, epoch: number, set: ReplicaSet, options: AbortOptions) => Promise<void>
  /** a peer the membership declared failed or no longer knows (default: not healthy) */
  lost?: (peer: string) => boolean
  telemetry?: Telemetry
  mailbox?: MailboxOptions
  clock: Clock
  log: Logger
}

export class LocalAgents {
  readonly host: AgentHost
  /** the agents' state docs: generations, compaction, write concern */
  readonly stateDocs: AgentStateDocs
  private readonly init: LocalAgentsInit
  private readonly fence: TurnFence
  private readonly activating = new Map<string, { epoch: number, done: Promise<void> }>()
  /** callers of awaitActivation, woken when an activation of their agent begins */
  private readonly arrivals = new Map<string, Set<() => void>>()

  constructor (init: LocalAgentsInit) {
    this.init = init
    this.fence = new TurnFence({ nodeId: init.nodeId, authority: init.authority, epochOf: (id) => this.epochOf(id), clock: init.clock, log: init.log })
    this.stateDocs = new AgentStateDocs({
      docs: init.docs,
      healthy: init.healthy,
      writeConcern: init.writeConcern,
      clock: init.clock,
      log: init.log,
      ...(init.recordReplicas != null ? { replicaSets: { self: init.nodeId, record: init.recordReplicas, ...(init.lost != null ? { lost: init.lost } : {}) } } : {})
    })
    this.host = new AgentHost({
      nodeId: init.nodeId,
      kinds: init.kinds,
      capacity: init.capacity,
      clock: init.clock,
      ...(init.mailbox != null ? { mailbox: init.mailbox } : {}),
      components: {
        services: init.services,
        llm: init.llm,
        ...(init.telemetry != null ? { telemetry: init.telemetry } : {}),
        beginTurn: async (agentId, options) => await this.fence.begin(agentId, options),
        commitTurn: async (agentId, options) => { await this.commitTurn(agentId, options) }
      }
    })
  }

  /** the epoch an agent runs under here (undefined: not here) */
  epochOf (agentId: string): number | undefined {
    return this.host.list().find(a => a.id === agentId)?.epoch
  }

  activation (agentId: string): AgentActivation | undefined {
    return this.host.activation(agentId)
  }

  isActivating (agentId: string): boolean {
    return this.activating.has(agentId)
  }

  /**
   * Starts `p` here under its epoch from its replicated state. An activation of an older epoch is
   * stopped first; the same epoch already active (or starting) is left as it is. UnreachableError
   * while this peer refuses agents (its clock is the mesh's outlier).
   */
  async activate (p: Placement, options: AbortOptions & { fresh?: boolean, syncFrom?: string[] } = {}): Promise<void> {
    const refusal = this.init.refusal?.()
    if (refusal != null) {
      this.init.log('refused to activate %s under epoch %d: %s', p.id, p.epoch, refusal)
      throw new UnreachableError(refusal, { details: { agentId: p.id, node: this.init.nodeId } })
    }
    const running = this.activating.get(p.id)
    if (running != null && running.epoch === p.epoch) { await raceSignal(running.done, options.signal); return }
    if (running != null) await running.done.catch(() => {})
    const current = this.epochOf(p.id)
    if (current === p.epoch) return
    if (current != null) await this.deactivate(p.id)
    const done = this.start(p, options)
    const entry = { epoch: p.epoch, done }
    this.activating.set(p.id, entry)
    const waiting = this.arrivals.get(p.id)
    if (waiting != null) for (const wake of waiting) wake()
    try {
      await done
    } finally {
      if (this.activating.get(p.id) === entry) this.activating.delete(p.id)
    }
  }

  private async start (p: Placement, options: AbortOptions & { fresh?: boolean, syncFrom?: string[] }): Promise<void> {
    const linked = linkSignals([options.signal], ACTIVATION_TIMEOUT_MS, this.init.clock)
    try {
      const syncFrom = (options.syncFrom ?? []).filter(peer => peer !== this.init.nodeId && this.init.healthy(peer))
      // a failed (e.g. paused) peer may still look connected: never waited on to catch up (healthy)
      const replicaSet = p.replicas != null && p.acks != null ? { replicaSet: { replicas: p.replicas, acks: p.acks } } : {}
      const { state, replies } = await this.stateDocs.open(p.id, { signal: linked.signal, syncFrom, fresh: options.fresh === true, compact: true, epoch: p.epoch, ...replicaSet })
      await this.host.activate({ agentId: p.id, kind: p.kind, config: p.config, state, replies, epoch: p.epoch, fresh: options.fresh === true }, { signal: linked.signal })
      this.init.log('activated %s (%s) under epoch %d', p.id, p.kind, p.epoch)
    } finally {
      linked.dispose()
    }
  }

  /** stops an agent here; with `drain` its queued messages are returned for the next owner */
  async deactivate (agentId: string, options: AbortOptions & { drain?: boolean } = {}): Promise<DrainedMessage[]> {
    try {
      return await this.host.deactivate(agentId, options)
    } finally {
      this.stateDocs.close(agentId)
    }
  }

  /** stops an agent whose lease went elsewhere: queued callers get NotOwnerError (and retry there) */
  async surrender (agentId: string, reason: string): Promise<void> {
    const drained = await this.deactivate(agentId, { drain: true })
    for (const d of drained) d.reject(new NotOwnerError(`agent ${agentId} moved: ${reason}`))
    if (drained.length > 0 || this.host.has(agentId)) this.init.log('surrendered %s (%s), %d queued callers redirected', agentId, reason, drained.length)
  }

  /**
   * Waits up to `timeoutMs` for an activation of `agentId` to begin here (or for it to be active):
   * true once it has, false when the time ran out. Throws when the caller's signal fires.
   */
  async awaitActivation (agentId: string, timeoutMs: number, options: AbortOptions = {}): Promise<boolean> {
    const arrived = (): boolean => this.activating.has(agentId) || this.epochOf(agentId) != null
    if (arrived()) return true
    const linked = linkSignals([options.signal], timeoutMs, this.init.clock)
    let wake: (() => void) | undefined
    let waiting = this.arrivals.get(agentId)
    if (waiting == null) this.arrivals.set(agentId, waiting = new Set())
    try {
      await raceSignal(new Promise<void>(resolve => { wake = resolve; waiting.add(resolve) }), linked.signal)
      return true
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      return arrived()
    } finally {
      if (wake != null) waiting.delete(wake)
      if (waiting.size === 0 && this.arrivals.get(agentId) === waiting) this.arrivals.delete(agentId)
      linked.dispose()
    }
  }

  /**
   * Hands a message to an agent running here (waiting for an activation in progress).
   * NotOwnerError when it is not here or this peer's lease has lapsed.
   */
  async deliver (agentId: string, message: JsonValue, options: PostOptions = {}): Promise<JsonValue> {
    const running = this.activating.get(agentId)
    if (running != null) await raceSignal(running.done, options.signal)
    const epoch = this.epochOf(agentId)
    if (epoch == null) throw new NotOwnerError(`agent ${agentId} is not active on ${this.init.nodeId}`)
    if (!await this.init.authority.mayServe(options.signal)) {
      throw new NotOwnerError(`peer ${this.init.nodeId} cannot serve ${agentId}: ${this.init.authority.why()}`,
        { details: { agentId, node: this.init.nodeId, reason: 'lease-lapsed', outcome: 'refused' } })
    }
    return await this.host.deliver(agentId, message, { ...options, epoch })
  }

  /** the state of an agent held here as JSON */
  stateOf (agentId: string): Record<string, unknown> | undefined {
    return this.host.activation(agentId)?.state.toJSON()
  }

  /**
   * waits until the agent's state changes so far are held by the write concern; for a message's
   * turn (`ticket`), also until its reply may be released (NotOwnerError when it may not)
   */
  async commitTurn (agentId: string, options: AbortOptions & { ticket?: TurnTicket } = {}): Promise<void> {
    const { ticket, ...rest } = options
    const commit = this.stateDocs.commit(agentId, rest)
    if (ticket == null) { await commit; return }
    await this.fence.release(agentId, ticket, commit, rest)
  }

  async stop (): Promise<void> {
    await Promise.allSettled([...this.activating.values()].map(async a => { await a.done }))
    await this.host.stop()
  }
}
