/**
 * Builds the AgentContext a handler gets for one turn (or for init/onStart/onStop, or a spawned
 * background task) over the node's AgentServices. Calls made through it carry the calling agent,
 * default to the turn's signal, and carry the turn's span as their trace parent.
 *
 * Turns are not reentrant: a request to the agent itself from inside a turn is refused, and a
 * longer cycle (A asks B, B asks A) waits until a deadline or the handler timeout breaks it.
 */
import { InvalidArgumentError } from '../errors.ts'
import type { Span } from '../monitoring/types.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import { validateAgentId } from './define.ts'
import { linkSignals } from '../util/abort.ts'
import type { LlmClient } from './llm-types.ts'
import type {
  AgentAddress, AgentContext, AgentServices, AgentState, DeploySpec, JsonObject, RequestOptions, ServiceCallOptions
} from './types.ts'

/** what stays the same for every context of one activation */
export interface ContextBase {
  address: AgentAddress
  config: Readonly<JsonObject>
  state: AgentState
  services: AgentServices
  llm: LlmClient
  clock: Clock
  log: Logger
  local: Map<string, unknown>
  /** the activation's signal */
  signal: AbortSignal
  /** false when there is no real tracing: calls then carry no traceparent */
  tracing: boolean
  spawn: (name: string, task: (ctx: AgentContext) => Promise<void>) => void
}

export interface TurnScope {
  signal: AbortSignal
  span: Span
  messageId?: string
  /** a message turn (not a lifecycle hook or a spawned task): requests to itself would deadlock */
  inTurn?: boolean
  /**
   * set to true once the turn writes its state or calls out (send, request, publish, deploy,
   * spawn): a turn that did neither is read-only, and running it again changes nothing
   */
  effects?: { any: boolean }
}

/** `state` that notes its writes in `effects` */
function writeNoting (state: AgentState, effects: { any: boolean }): AgentState {
  return {
    get: (key) => state.get(key),
    has: (key) => state.has(key),
    entries: () => state.entries(),
    toJSON: () => state.toJSON(),
    set: (key, value) => { effects.any = true; state.set(key, value) },
    delete: (key) => { effects.any = true; state.delete(key) }
  }
}

const NOOP_SPAN: Span = {
  traceId: '00000000000000000000000000000000',
  spanId: '0000000000000000',
  traceparent: () => '',
  setAttribute: () => {},
  recordError: () => {},
  end: () => {}
}

/** a span that records nothing, for activations without telemetry */
export function noopSpan (): Span {
  return NOOP_SPAN
}

export function createAgentContext (base: ContextBase, turn: TurnScope): AgentContext {
  const effect = (): void => { if (turn.effects != null) turn.effects.any = true }
  /** runs a service call with the turn's signal linked to the caller's, unlinked afterwards */
  const call = async <T>(options: RequestOptions = {}, fn: (o: ServiceCallOptions) => Promise<T>): Promise<T> => {
    if (options.timeoutMs != null && !(Number.isFinite(options.timeoutMs) && options.timeoutMs > 0)) {
      throw new InvalidArgumentError('timeoutMs must be > 0')
    }
    const linked = linkSignals([turn.signal, options.signal])
    const out: ServiceCallOptions = { signal: linked.signal }
    if (options.timeoutMs != null) out.timeoutMs = options.timeoutMs
    if (base.tracing) out.traceparent = turn.span.traceparent()
    try {
      return await fn(out)
    } finally {
      linked.dispose()
    }
  }
  const ctx: AgentContext = {
    agentId: base.address.agentId,
    nodeId: base.address.nodeId,
    kind: base.address.kind,
    config: base.config,
    state: turn.effects != null ? writeNoting(base.state, turn.effects) : base.state,
    signal: base.signal,
    turnSignal: turn.signal,
    local: base.local,
    log: base.log,
    span: turn.span,
    // an LLM call counts as an effect: its answer differs (and costs) each time, so a turn that made
    // one records its reply, and a repeated message id gets that reply, not a second call
    llm: turn.effects != null
      ? {
          chat: async (messages, options) => { effect(); return await base.llm.chat(messages, options) },
          chatStream: (messages, options) => { effect(); return base.llm.chatStream(messages, options) }
        }
      : base.llm,
    clock: base.clock,
    send: async (agentId, message, options) => {
      validateAgentId(agentId)
      effect()
      await call(options, async (o) => { await base.services.send(base.address, agentId, message, o) })
    },
    request: async (agentId, message, options) => {
      validateAgentId(agentId)
      if (turn.inTurn === true && agentId === base.address.agentId) {
        // the request would queue behind the turn that waits for it
        throw new InvalidArgumentError(`agent ${agentId} cannot request itself during a turn (use ctx.spawn for background work)`)
      }
      effect()
      return await call(options, async (o) => await base.services.request(base.address, agentId, message, o))
    },
    publish: async (topic, message, options?: AbortOptions) => {
      if (typeof topic !== 'string' || topic.length === 0) throw new InvalidArgumentError('topic must be a non-empty string')
      effect()
      await call(options, async (o) => { await base.services.publish(base.address, topic, message, o) })
    },
    deploy: async (agentId, spec: DeploySpec, options?: AbortOptions) => {
      validateAgentId(agentId)
      effect()
      return await call(options, async (o) => await base.services.deploy(base.address, agentId, spec, o))
    },
    spawn: (...args: Parameters<typeof base.spawn>) => { effect(); base.spawn(...args) }
  }
  if (turn.messageId != null) (ctx as { messageId?: string }).messageId = turn.messageId
  return Object.freeze(ctx)
}
