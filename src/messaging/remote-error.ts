/**
 * Errors that crossed the wire in an error-reply come back as the same typed class (by `.name`),
 * so `request()` throws NotFoundError, NotOwnerError, ... as if the handler ran locally.
 */
import {
  AgentMeshError, AbortError, CapacityError, ConflictError, InvalidArgumentError, InvalidMessageError, MessageTooLargeError,
  NoQuorumError, NotFoundError, NotLeaderError, NotOwnerError, NotStartedError, StaleEpochError, StorageError, TimeoutError,
  UnauthorizedError, UnreachableError, UnsupportedVersionError
} from '../errors.ts'

const CLASSES = new Map<string, new (message: string, options?: { details?: Record<string, unknown> }) => Error>(
  [AbortError, CapacityError, ConflictError, InvalidArgumentError, InvalidMessageError, MessageTooLargeError, NoQuorumError,
    NotFoundError, NotLeaderError, NotOwnerError, NotStartedError, StaleEpochError, StorageError, TimeoutError,
    UnauthorizedError, UnreachableError, UnsupportedVersionError].map(c => [c.name, c])
)

/** the typed error for a remote `{ name, message }`; unknown names become AgentMeshError keeping the name */
export function errorFromRemote (name: string, message: string, remotePeer: string): Error {
  const details = { remotePeer }
  const Cls = CLASSES.get(name)
  if (Cls != null) return new Cls(message, { details })
  const err = new AgentMeshError(message, { details })
  err.name = name
  return err
}
