/**
 * One activation of an agent on this peer: its kind's code, its state, its mailbox and the
 * context its handlers get. start() runs init (first deployment only) and onStart; deliver()
 * queues a message for a turn; stop() finishes the running turn, aborts the activation's signal,
 * waits for spawned tasks, runs onStop and hands the queued messages back (for migration) or
 * fails them.
 */
import { TypedEventEmitter, setMaxListeners } from 'main-event'
import { NotStartedError } from '../errors.ts'
import type { Span, Telemetry } from '../monitoring/types.ts'
import { raceSignal } from '../util/abort.ts'
import type { AbortOptions } from '../util/abort.ts'
import { systemClock } from '../util/clock.ts'
import type { Clock } from '../util/clock.ts'
import { componentLogger } from '../util/logger.ts'
import type { Logger } from '../util/logger.ts'
import { HANDLER_TIMEOUT_MS } from './constants.ts'
import { createAgentContext, noopSpan } from './context.ts'
import type { ContextBase, TurnScope } from './context.ts'
import { validateAgentId } from './define.ts'
import { LOCAL_ID_PREFIX, Mailbox } from './mailbox.ts'
import type { ReplyRecords } from './reply-records.ts'
import { markForSettle } from './state-docs.ts'
import type { DrainedMessage, MailboxInit, MessageOrigin, PostOptions, Turn } from './mailbox.ts'
import { createActivationMetrics } from './metrics.ts'
import { linkSignals } from '../util/abort.ts'
import type { ActivationMetrics } from './metrics.ts'
import type { ActivationComponents, AgentContext, AgentKind, AgentState, JsonObject, JsonValue, LifecycleHook, TurnTicket } from './types.ts'

export type ActivationStatus = 'idle' | 'starting' | 'active' | 'stopping' | 'stopped' | 'failed'

export type MailboxOptions = Omit<MailboxInit, 'agentId' | 'kind' | 'handler' | 'clock' | 'telemetry' | 'logger' | 'paused' | 'recorded'>

export interface AgentActivationInit {
  kind: AgentKind
  agentId: string
  nodeId: string
  config?: JsonObject
  state: AgentState
  /** the first activation after a deploy: run the kind's init */
  fresh?: boolean
  mailbox?: MailboxOptions
  /** the agent's replicated reply records: each turn's reply is recorded before its commit */
  replies?: ReplyRecords
  clock?: Clock
  logger?: Logger
}

export interface StopOptions extends AbortOptions {
  /** hand the queued messages back instead of failing them (migration) */
  drain?: boolean
}

export interface ActivationEvents {
  'activation:started': CustomEvent<{ agentId: string, kind: string }>
  'activation:stopped': CustomEvent<{ agentId: string, kind: string, drained: number }>
  'activation:failed': CustomEvent<{ agentId: string, kind: string, error: Error }>
}

export class AgentActivation extends TypedEventEmitter<ActivationEvents> {
  readonly agentId: string
  readonly kind: AgentKind
  readonly nodeId: string
  readonly mailbox: Mailbox
  private readonly components: ActivationComponents
  private readonly base: ContextBase
  private readonly abort = new AbortController()
  private readonly spawned = new Set<Promise<void>>()
  private readonly fresh: boolean
  private readonly log: Logger
  private readonly metrics: ActivationMetrics
  private readonly telemetry?: Telemetry
  private readonly hookTimeoutMs: number
  private current: ActivationStatus = 'idle'
  private readonly replies?: ReplyRecords
  /**
   * the turn whose handler ran (with effects) but whose commit has not succeeded yet: the
   * mailbox retries a failed turn at once, before any other, and that retry must not run it again
   */
  private uncommitted: { id: string, attempt: number, reply: JsonValue, ticket?: TurnTicket } | undefined
  /**
   * the collapse a released turn allows (markForSettle), run as the next turn's handler starts:
   * local updates made in one tick leave as one gossip message, where a collapse of its own after
   * the commit was one more update (and its acknowledgements from every holder) per turn
   */
  private pendingSettle: (() => void) | undefined

  constructor (init: AgentActivationInit, components: ActivationComponents) {
    super()
    this.agentId = validateAgentId(init.agentId)
    this.kind = init.kind
    this.nodeId = init.nodeId
    this.fresh = init.fresh === true
    this.components = components
    this.telemetry = components.telemetry
    this.log = init.logger ?? componentLogger(`agents:${init.kind.kind}`)
    this.metrics = createActivationMetrics(components.telemetry)
    const clock = init.clock ?? systemClock
    // every call in flight links to this signal: many at once is normal, not a leak
    setMaxListeners(Infinity, this.abort.signal)
    this.hookTimeoutMs = init.mailbox?.handlerTimeoutMs ?? HANDLER_TIMEOUT_MS
    this.base = {
      address: { agentId: this.agentId, kind: init.kind.kind, nodeId: init.nodeId },
      config: Object.freeze({ ...(init.config ?? {}) }),
      state: init.state,
      services: components.services,
      llm: components.llm,
      clock,
      log: this.log,
      local: new Map(),
      signal: this.abort.signal,
      tracing: components.telemetry != null,
      spawn: (name, task) => { this.spawn(name, task) }
    }
    if (init.replies != null) this.replies = init.replies
    const replies = init.replies
    this.mailbox = new Mailbox({
      ...(init.mailbox ?? {}),
      ...(replies != null ? { recorded: (id: string, origin?: MessageOrigin) => replies.get(id, origin) } : {}),
      agentId: this.agentId,
      kind: init.kind.kind,
      paused: true,
      clock,
      logger: this.log,
      ...(components.telemetry != null ? { telemetry: components.telemetry } : {}),
      handler: async (message, turn) => await this.handleTurn(message, turn)
    })
  }

  get status (): ActivationStatus { return this.current }
  get state (): AgentState { return this.base.state }
  /** aborted when the activation stops */
  get signal (): AbortSignal { return this.abort.signal }

  async start (options: AbortOptions = {}): Promise<void> {
    if (this.current !== 'idle') throw new NotStartedError(`agent ${this.agentId} was already started`)
    this.current = 'starting'
    try {
      if (this.fresh && this.kind.init != null) await this.runHook('init', this.kind.init, options)
      if (this.kind.onStart != null) await this.runHook('start', this.kind.onStart, options)
    } catch (err) {
      if (this.current !== 'starting') throw new NotStartedError(`agent ${this.agentId} was stopped while starting`, { cause: err })
      this.current = 'failed'
      this.abort.abort(new NotStartedError(`agent ${this.agentId} failed to start`))
      this.mailbox.close()
      this.metrics.activations.inc(1, { kind: this.kind.kind, event: 'failed' })
      const error = err instanceof Error ? err : new Error(String(err))
      this.log.error('agent %s failed to start: %s', this.agentId, error.message)
      this.safeDispatchEvent('activation:failed', { detail: { agentId: this.agentId, kind: this.kind.kind, error } })
      throw err
    }
    if (this.current !== 'starting') {
      // stopped while starting: stay stopped
      throw new NotStartedError(`agent ${this.agentId} was stopped while starting`)
    }
    this.current = 'active'
    this.mailbox.resume()
    this.metrics.activations.inc(1, { kind: this.kind.kind, event: 'started' })
    this.metrics.active.inc(1, { kind: this.kind.kind })
    this.safeDispatchEvent('activation:started', { detail: { agentId: this.agentId, kind: this.kind.kind } })
  }

  /** queues a message for a turn (held until start() completes); resolves with the reply (see Mailbox.post) */
  async deliver (message: JsonValue, options: PostOptions = {}): Promise<JsonValue> {
    if (this.current !== 'active' && this.current !== 'starting' && this.current !== 'idle') throw new NotStartedError(`agent ${this.agentId} is ${this.current}`)
    return await this.mailbox.post(message, options)
  }

  /**
   * Stops the activation: no new turn starts, the running one finishes, the signal aborts,
   * spawned tasks are awaited, onStop runs. With `drain`, queued messages are returned for the
   * next owner; otherwise they fail with NotStartedError.
   */
  async stop (options: StopOptions = {}): Promise<DrainedMessage[]> {
    if (this.current === 'stopped' || this.current === 'stopping') return []
    const wasActive = this.current === 'active'
    this.current = 'stopping'
    await this.mailbox.pause(options)
    const drained = options.drain === true ? this.mailbox.drain() : []
    this.mailbox.close()
    this.abort.abort(new NotStartedError(`agent ${this.agentId} stopped`))
    await raceSignal(Promise.allSettled([...this.spawned]), options.signal)
    if (wasActive && this.kind.onStop != null) {
      try {
        await this.runHook('stop', this.kind.onStop, options, false)
      } catch (err) {
        this.log.error('agent %s: onStop failed: %s', this.agentId, (err as Error).message)
      }
    }
    this.current = 'stopped'
    if (wasActive) {
      this.metrics.active.dec(1, { kind: this.kind.kind })
      this.metrics.activations.inc(1, { kind: this.kind.kind, event: 'stopped' })
    }
    this.safeDispatchEvent('activation:stopped', { detail: { agentId: this.agentId, kind: this.kind.kind, drained: drained.length } })
    return drained
  }

  private startSpan (name: string, traceparent?: string): Span {
    if (this.telemetry == null) return noopSpan()
    return this.telemetry.startSpan(name, {
      kind: 'server',
      ...(traceparent != null && traceparent !== '' ? { parent: traceparent } : {}),
      attributes: { 'agent.id': this.agentId, 'agent.kind': this.kind.kind, 'node.id': this.nodeId }
    })
  }

  private async handleTurn (message: JsonValue, turn: Turn): Promise<JsonValue> {
    const span = this.startSpan('agent.turn', turn.traceparent)
    span.setAttribute('message.id', turn.id)
    span.setAttribute('attempt', turn.attempt)
    // aborted (and unlinked) at the latest when the mailbox ends the turn
    const { signal } = linkSignals([this.abort.signal, turn.signal])
    try {
      const retried = this.uncommitted
      this.uncommitted = undefined
      if (retried !== undefined && retried.id === turn.id && turn.attempt > retried.attempt) {
        // the mailbox's retry of a turn whose handler finished but whose commit failed (its write
        // concern timed out, say): its state changes and sends are in place already, so running
        // the handler again would apply them twice. The retry waits for the commit again, under
        // the first try's ticket (so the turn fence sees every lapse since that turn began), and
        // answers the first reply
        this.uncommitted = { ...retried, attempt: turn.attempt }
        span.setAttribute('turn.commit-retry', true)
        await this.components.commitTurn?.(this.agentId, { signal, ...(retried.ticket != null ? { ticket: retried.ticket } : {}) })
        this.uncommitted = undefined
        return retried.reply
      }
      // refused here (NotOwnerError) when this peer may not serve the agent now: nothing has run
      const ticket = await this.components.beginTurn?.(this.agentId, { signal })
      const effects = { any: false }
      const ctx = createAgentContext(this.base, { signal, span, messageId: turn.id, inTurn: true, effects })
      // the previous released turn's collapse, in the same tick as this handler's first writes
      const settlePrevious = this.pendingSettle
      this.pendingSettle = undefined
      settlePrevious?.()
      const reply = await this.kind.onMessage(message, ctx) ?? null
      // recorded in the replicated doc so the same flush carries the state changes and the reply.
      // A read-only turn (no state written, nothing sent) records nothing: running it again changes
      // nothing, and its commit then waits only for what it read to be held by the write concern,
      // so a peer cut off from the others still answers reads while its lease is valid
      if (effects.any && this.replies != null && !turn.id.startsWith(LOCAL_ID_PREFIX)) this.replies.record(turn.id, reply, turn.origin)
      if (effects.any) this.uncommitted = { id: turn.id, attempt: turn.attempt, reply, ...(ticket != null ? { ticket } : {}) }
      // with a ticket, a commit that returns is the turn fence's release: every later owner takes
      // over from what the state held before it, so what that made unreadable for good can go
      // (as the next turn starts, above: a released mark stays true however late it is used)
      const settle = ticket != null && effects.any ? markForSettle([this.base.state, this.replies?.state]) : undefined
      await this.components.commitTurn?.(this.agentId, { signal, ...(ticket != null ? { ticket } : {}) })
      this.uncommitted = undefined
      if (settle != null) this.pendingSettle = settle
      return reply
    } catch (err) {
      span.recordError(err)
      throw err
    } finally {
      span.end()
    }
  }

  /** runs a lifecycle hook in its own span, with the handler timeout; commits its state changes */
  private async runHook (name: string, hook: LifecycleHook, options: AbortOptions, live = true): Promise<void> {
    const span = this.startSpan(`agent.${name}`)
    const linked = linkSignals(live ? [this.abort.signal, options.signal] : [options.signal], this.hookTimeoutMs, this.base.clock)
    const signal = linked.signal
    try {
      const scope: TurnScope = { signal: live ? signal : this.abort.signal, span }
      await raceSignal(Promise.resolve().then(async () => { await hook(createAgentContext(this.base, scope)) }), signal)
      if (live) await this.components.commitTurn?.(this.agentId, { signal })
    } catch (err) {
      span.recordError(err)
      throw err
    } finally {
      linked.dispose()
      span.end()
    }
  }

  private spawn (name: string, task: (ctx: AgentContext) => Promise<void>): void {
    if (this.abort.signal.aborted) {
      this.log('agent %s: not spawning %s, the activation is stopping', this.agentId, name)
      return
    }
    const span = this.startSpan(`agent.task.${name}`)
    const ctx = createAgentContext(this.base, { signal: this.abort.signal, span })
    const p: Promise<void> = Promise.resolve()
      .then(async () => { await task(ctx) })
      .catch((err: unknown) => {
        if (this.abort.signal.aborted) return
        span.recordError(err)
        this.log.error('agent %s: task %s failed: %s', this.agentId, name, (err as Error)?.message ?? String(err))
      })
      .finally(() => {
        span.end()
        this.spawned.delete(p)
      })
    this.spawned.add(p)
  }
}
