/**
 * Errors that crossed the wire in an error-reply come back as the same typed class (by `.name`),
 * so `request()` throws NotFoundError, NotOwnerError, ... as if the handler ran locally.
 */
import {
  AgentMeshError, AbortError, CapacityError, CLOCK_SKEW_REASON, ClockSkewError, ConflictError, InvalidArgumentError, InvalidMessageError, MessageTooLargeError,
  NoQuorumError, NotFoundError, NotLeaderError, NotOwnerError, NotStartedError, StaleEpochError, StorageError, TimeoutError,
  UnauthorizedError, UnreachableError, UnsupportedVersionError
} from '../errors.ts'

const CLASSES = new Map<string, new (message: string, options?: { details?: Record<string, unknown> }) => Error>(
  [AbortError, CapacityError, ClockSkewError, ConflictError, InvalidArgumentError, InvalidMessageError, MessageTooLargeError, NoQuorumError,
    NotFoundError, NotLeaderError, NotOwnerError, NotStartedError, StaleEpochError, StorageError, TimeoutError,
    UnauthorizedError, UnreachableError, UnsupportedVersionError].map(c => [c.name, c])
)

/** the typed error for a remote `{ name, message, reason?, retryAfterMs? }` (the last two in `details`); unknown names become AgentMeshError keeping the name */
export function errorFromRemote (name: string, message: string, remotePeer: string, extra: { reason?: string, retryAfterMs?: number } = {}): Error {
  const details: Record<string, unknown> = { remotePeer }
  if (extra.reason !== undefined) details.reason = extra.reason
  if (extra.retryAfterMs !== undefined) details.retryAfterMs = extra.retryAfterMs
  // a peer from before ClockSkewError refused a stamp as InvalidMessageError, reason 'clock-skew'
  const Cls = extra.reason === CLOCK_SKEW_REASON ? ClockSkewError : CLASSES.get(name)
  if (Cls != null) return new Cls(message, { details })
  const err = new AgentMeshError(message, { details })
  err.name = name
  return err
}
