/**
 * The agents layer's data model: kinds, the context a handler gets, and the narrow services the
 * context is backed by. The services are what the DistributedAgentManager implements over the
 * broker, the Raft KV store and the CRDT docs; `LocalAgentMesh` implements them in one process.
 */
import type { Span, Telemetry } from '../monitoring/types.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import type { LlmClient } from './llm-types.ts'

export type JsonPrimitive = string | number | boolean | null
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: JsonValue }

/** what one activation of a kind needs from its host node */
export interface AgentRequirements {
  /** cpu units (1 = one core), > 0 */
  cpu: number
  memoryMb: number
  /** every tag must be in the node's capabilities.tags (e.g. 'llm', 'gpu') */
  tags?: readonly string[]
}

/**
 * The agent's replicated working state: a string-keyed map of JSON values. Backed in production by
 * the CRDT layer's YKeyValue over the agent's Y.Doc (which has exactly this shape); values are
 * replaced, never mutated in place.
 */
export interface AgentState {
  /** the stored JSON value (typed loosely, like AgentMessage), undefined when absent */
  get: (key: string) => any // eslint-disable-line @typescript-eslint/no-explicit-any
  set: (key: string, value: unknown) => void
  delete: (key: string) => void
  has: (key: string) => boolean
  entries: () => IterableIterator<[string, unknown]>
  toJSON: () => Record<string, unknown>
}

export interface RequestOptions extends AbortOptions {
  /** deadline for the reply; the caller gets TimeoutError after it */
  timeoutMs?: number
}

export interface DeploySpec {
  kind: string
  config?: JsonObject
  /**
   * the peer to run on (the agent is pinned there): the deploy waits a bounded time for its node
   * lease, then refuses with UnreachableError; CapacityError when it cannot take the agent
   */
  node?: string
  /** spread: avoid peers already hosting these agents or kinds (see PlacementOptions) */
  antiAffinity?: { agentIds?: string[], kinds?: string[] }
}

/** the answer of a deploy: where the agent runs and its lease epoch */
export interface DeployedAgent {
  id: string
  kind: string
  node: string
  epoch: number
}

/** identifies the calling agent to the services (for tracing, auth and anti-affinity) */
export interface AgentAddress {
  agentId: string
  kind: string
  nodeId: string
}

export interface ServiceCallOptions extends RequestOptions {
  /** W3C traceparent of the calling turn's span */
  traceparent?: string
}

/**
 * What the integrator implements to back every AgentContext on a node. Each call carries the
 * calling agent (`from`). Errors are the shared typed errors (NotFoundError for an unknown agent,
 * TimeoutError, UnreachableError, CapacityError, ConflictError for a deploy of an existing id...).
 */
export interface AgentServices {
  /** one-way message to an agent wherever it lives; resolves when accepted for delivery */
  send: (from: AgentAddress, to: string, message: JsonValue, options?: ServiceCallOptions) => Promise<void>
  /** RPC to an agent wherever it lives; resolves with its handler's reply */
  request: (from: AgentAddress, to: string, message: JsonValue, options?: ServiceCallOptions) => Promise<JsonValue>
  /** publishes on a user topic */
  publish: (from: AgentAddress, topic: string, message: JsonValue, options?: ServiceCallOptions) => Promise<void>
  /** deploys another agent (placement, lease, activation); ConflictError if the id exists */
  deploy: (from: AgentAddress, agentId: string, spec: DeploySpec, options?: ServiceCallOptions) => Promise<DeployedAgent>
}

/** The handle an agent's code gets: identity, state, messaging, telemetry and the LLM client. */
export interface AgentContext {
  readonly agentId: string
  readonly nodeId: string
  readonly kind: string
  readonly config: Readonly<JsonObject>
  readonly state: AgentState
  /** aborted when the activation stops (migration, shutdown, failure) */
  readonly signal: AbortSignal
  /**
   * the current turn's signal: aborted when the activation stops or the handler times out; the
   * default signal of send/request/publish/deploy made through this context
   */
  readonly turnSignal: AbortSignal
  /** the id of the message being handled (undefined in init/onStart/onStop) */
  readonly messageId?: string
  /** per-activation memory, not replicated, dropped when the activation stops */
  readonly local: Map<string, unknown>
  readonly log: Logger
  /** the current turn's span; requests made through the context are its children */
  readonly span: Span
  readonly llm: LlmClient
  /** the activation's clock (timestamps, delays) */
  readonly clock: Clock
  send: (agentId: string, message: JsonValue, options?: RequestOptions) => Promise<void>
  request: (agentId: string, message: JsonValue, options?: RequestOptions) => Promise<JsonValue>
  publish: (topic: string, message: JsonValue, options?: AbortOptions) => Promise<void>
  deploy: (agentId: string, spec: DeploySpec, options?: AbortOptions) => Promise<DeployedAgent>
  /**
   * runs background work bound to the activation (not to the turn): `task` gets a context whose
   * signals are the activation's; stop() aborts it and waits for it. Errors are logged.
   */
  spawn: (name: string, task: (ctx: AgentContext) => Promise<void>) => void
}

/**
 * An incoming message: JSON from outside, which the kind must validate. Typed loosely so a handler
 * can read its fields directly (`msg.op`), as in docs/API.md.
 */
export type AgentMessage = any // eslint-disable-line @typescript-eslint/no-explicit-any

export type MessageHandler = (message: AgentMessage, ctx: AgentContext) => JsonValue | undefined | Promise<JsonValue | undefined>
export type LifecycleHook = (ctx: AgentContext) => void | Promise<void>

export interface AgentDefinition {
  /** the kind's name: [a-z0-9][a-z0-9._-]* */
  kind: string
  requirements: AgentRequirements
  /** once, when the agent is first deployed (fresh state): set initial state from config */
  init?: LifecycleHook
  /** every activation, after init (first deploy) or after a migration/recovery */
  onStart?: LifecycleHook
  /** one message per turn; the return value is the reply (undefined -> null) */
  onMessage: MessageHandler
  /** when the activation stops; ctx.signal is already aborted */
  onStop?: LifecycleHook
}

/** a validated, frozen definition */
export interface AgentKind extends Readonly<AgentDefinition> {
  readonly requirements: Readonly<AgentRequirements> & { readonly tags: readonly string[] }
}

/** everything an activation needs besides its kind and identity */
export interface ActivationComponents {
  services: AgentServices
  llm: LlmClient
  telemetry?: Telemetry
  /**
   * called before a message's handler runs: the integrator refuses the turn (NotOwnerError, nothing
   * run) when this peer may not serve the agent now, and answers what commitTurn gets back
   */
  beginTurn?: (agentId: string, options: AbortOptions) => Promise<TurnTicket>
  /**
   * called after a handler (or init/onStart) returned and before its reply is released: the
   * integrator waits here until the turn's state changes are held by enough replicas and, for a
   * message's turn (`ticket` from beginTurn), refuses the release (NotOwnerError) when this peer
   * did not hold the agent throughout (turn-fence.ts)
   */
  commitTurn?: (agentId: string, options: AbortOptions & { ticket?: TurnTicket }) => Promise<void>
}

/** what a turn began under: the activation's epoch and the node lease's term (lapses so far) */
export interface TurnTicket {
  readonly epoch: number
  readonly term: number
}
