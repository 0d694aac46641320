/**
 * One error class per failure mode, told apart by `.name` (stable, part of the API).
 * Every class carries an HTTP status so the admin API can map errors without a table of its own.
 */

export interface AgentMeshErrorOptions extends ErrorOptions {
  /** extra structured detail, safe to serialise into logs and HTTP errors */
  details?: Record<string, unknown>
}

export class AgentMeshError extends Error {
  static readonly status: number = 500
  readonly details?: Record<string, unknown>

  constructor (message: string, options: AgentMeshErrorOptions = {}) {
    super(message, options)
    this.name = 'AgentMeshError'
    if (options.details != null) this.details = options.details
  }

  get status (): number {
    return (this.constructor as typeof AgentMeshError).status
  }
}

function defineError (name: string, status: number): typeof AgentMeshError {
  const cls = class extends AgentMeshError {
    static override readonly status = status
    constructor (message: string, options?: AgentMeshErrorOptions) {
      super(message, options)
      this.name = name
    }
  }
  Object.defineProperty(cls, 'name', { value: name })
  return cls
}

/** the thing asked for (agent, key, peer, message) does not exist */
export const NotFoundError = defineError('NotFoundError', 404)
export type NotFoundError = InstanceType<typeof NotFoundError>

/** an operation did not finish within its deadline */
export const TimeoutError = defineError('TimeoutError', 504)
export type TimeoutError = InstanceType<typeof TimeoutError>

/** the caller aborted the operation through its AbortSignal */
export const AbortError = defineError('AbortError', 499)
export type AbortError = InstanceType<typeof AbortError>

/** a strong operation reached a peer that is not the Raft leader */
export const NotLeaderError = defineError('NotLeaderError', 421)
export type NotLeaderError = InstanceType<typeof NotLeaderError>

/** a write presented a fencing token (epoch) that is no longer current */
export const StaleEpochError = defineError('StaleEpochError', 409)
export type StaleEpochError = InstanceType<typeof StaleEpochError>

/** a message reached a peer that does not own the addressed agent */
export const NotOwnerError = defineError('NotOwnerError', 421)
export type NotOwnerError = InstanceType<typeof NotOwnerError>

/** bytes or JSON from outside failed to decode or validate */
export const InvalidMessageError = defineError('InvalidMessageError', 400)
export type InvalidMessageError = InstanceType<typeof InvalidMessageError>

/** input is larger than the limit for its kind */
export const MessageTooLargeError = defineError('MessageTooLargeError', 413)
export type MessageTooLargeError = InstanceType<typeof MessageTooLargeError>

/** a wire format or protocol with a major version this peer does not speak */
export const UnsupportedVersionError = defineError('UnsupportedVersionError', 400)
export type UnsupportedVersionError = InstanceType<typeof UnsupportedVersionError>

/** the sender lacks the credential or signature the operation needs */
export const UnauthorizedError = defineError('UnauthorizedError', 403)
export type UnauthorizedError = InstanceType<typeof UnauthorizedError>

/** no peer has room for what was asked */
export const CapacityError = defineError('CapacityError', 507)
export type CapacityError = InstanceType<typeof CapacityError>

/** a create found the id taken, or a compare (expected revision) failed */
export const ConflictError = defineError('ConflictError', 409)
export type ConflictError = InstanceType<typeof ConflictError>

/** an argument, flag or request body is malformed */
export const InvalidArgumentError = defineError('InvalidArgumentError', 400)
export type InvalidArgumentError = InstanceType<typeof InvalidArgumentError>

/** this side cannot reach a Raft majority; strong operations fail fast */
export const NoQuorumError = defineError('NoQuorumError', 503)
export type NoQuorumError = InstanceType<typeof NoQuorumError>

/** the component was used before start() or after stop() */
export const NotStartedError = defineError('NotStartedError', 503)
export type NotStartedError = InstanceType<typeof NotStartedError>

/** a peer could not be dialled or a stream could not be opened */
export const UnreachableError = defineError('UnreachableError', 502)
export type UnreachableError = InstanceType<typeof UnreachableError>

/** `details.reason` of a ClockSkewError, and the error-reply `reason` of a clock refusal on the wire */
export const CLOCK_SKEW_REASON = 'clock-skew'

/**
 * a wall clock is too far off the mesh's: a remote stamp ahead of this peer's clock by more than
 * the allowed skew (`details.retryAfterMs`: when real time will have caught up with it), or this
 * peer is the mesh's clock outlier and accepts no work whose stamps the others would refuse.
 * `details.reason` stays 'clock-skew' (the error-reply field older peers read)
 */
export class ClockSkewError extends AgentMeshError {
  static override readonly status: number = 503
  constructor (message: string, options: AgentMeshErrorOptions = {}) {
    super(message, { ...options, details: { ...options.details, reason: CLOCK_SKEW_REASON } })
    this.name = 'ClockSkewError'
  }
}

/** a storage backend failed to read or write */
export const StorageError = defineError('StorageError', 500)
export type StorageError = InstanceType<typeof StorageError>

/** the HTTP status for any error: ours carry one, anything else is a 500 */
export function statusOf (err: unknown): number {
  return err instanceof AgentMeshError ? err.status : 500
}

/** `{ name, message }` for logs and HTTP bodies, whatever was thrown */
export function describeError (err: unknown, depth = 0): { name: string, message: string } {
  if (err instanceof Error) return { name: err.name, message: err.message }
  if (typeof err === 'object' && err !== null) {
    // browsers reject some transport operations with an event, not an Error (an RTCErrorEvent, an
    // 'error' Event of a data channel or socket): say what it was, and the error it carries if any
    const inner = (err as { error?: unknown }).error
    if (inner != null && inner !== err && depth < 3) return describeError(inner, depth + 1)
    const type = (err as { type?: unknown }).type
    const kind = (err as { constructor?: { name?: unknown } }).constructor?.name
    const name = typeof kind === 'string' && kind !== 'Object' ? kind : 'Error'
    const message = (err as { message?: unknown }).message
    if (typeof message === 'string' && message !== '') return { name, message }
    if (typeof type === 'string') return { name, message: `${name} of type '${type}'` }
  }
  return { name: 'Error', message: String(err) }
}
