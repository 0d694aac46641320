/**
 * Requests between the DistributedAgentManagers of two peers (broker RPC to a peer target):
 *
 * - `activate {id, epoch, syncFrom, fresh?}`: you hold the lease for `id` under `epoch` now; start it
 *   from its replicated state (the receiver checks the placement in Raft before acting);
 * - `migrate {id, node}`: you own `id`; move it to `node` (pause, flush, cas, hand over);
 * - `state {id}`: the agent's state as JSON (answered by its owner);
 * - `info {id}`: the owner's live view of the agent (activation, queue, restarts, quarantined messages);
 * - `placement {placement}`: a routing hint for the receiver's cache (sent with a NotOwner refusal).
 *
 * Every field is validated; anything else is InvalidMessageError.
 */
import { InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import { MAX_CONTROL_BYTES, MAX_MESSAGE_ID_CHARS } from './constants.ts'
import { LOCAL_ID_PREFIX } from './mailbox.ts'
import { validateAgentId } from './define.ts'
import { decodePlacement } from './directory.ts'
import type { Placement } from './directory.ts'

export const CONTROL_TAG = 'agentmesh.agents/1'

export type ControlMessage =
  | { op: 'activate', id: string, epoch: number, syncFrom: string[], fresh?: boolean }
  | { op: 'migrate', id: string, node: string, pin?: boolean }
  | { op: 'state', id: string }
  | { op: 'info', id: string }
  | { op: 'placement', placement: Placement }

export function isControl (data: unknown): boolean {
  return data !== null && typeof data === 'object' && (data as { t?: unknown }).t === CONTROL_TAG
}

export function encodeControl (m: ControlMessage): Record<string, unknown> {
  return { t: CONTROL_TAG, ...m }
}

function peerIdOf (x: unknown, what: string): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > 256) throw new InvalidMessageError(`${what} must be a peer id`)
  return x
}

function agentIdOf (x: unknown): string {
  if (typeof x !== 'string') throw new InvalidMessageError('id must be a string')
  try {
    return validateAgentId(x)
  } catch (err) {
    throw new InvalidMessageError((err as Error).message)
  }
}

export function decodeControl (data: unknown): ControlMessage {
  if (!isControl(data)) throw new InvalidMessageError('not an agents control message')
  const size = JSON.stringify(data).length
  if (size > MAX_CONTROL_BYTES) throw new MessageTooLargeError(`control message of ${size} bytes exceeds ${MAX_CONTROL_BYTES}`)
  const m = data as Record<string, unknown>
  switch (m.op) {
    case 'activate': {
      if (typeof m.epoch !== 'number' || !Number.isSafeInteger(m.epoch) || m.epoch < 0) throw new InvalidMessageError('epoch must be a non-negative integer')
      if (!Array.isArray(m.syncFrom) || m.syncFrom.length > 16) throw new InvalidMessageError('syncFrom must be a list of at most 16 peers')
      if (m.fresh != null && typeof m.fresh !== 'boolean') throw new InvalidMessageError('fresh must be a boolean')
      return { op: 'activate', id: agentIdOf(m.id), epoch: m.epoch, syncFrom: m.syncFrom.map(p => peerIdOf(p, 'syncFrom entry')), ...(m.fresh === true ? { fresh: true } : {}) }
    }
    case 'migrate': {
      if (m.pin != null && typeof m.pin !== 'boolean') throw new InvalidMessageError('pin must be a boolean')
      return { op: 'migrate', id: agentIdOf(m.id), node: peerIdOf(m.node, 'node'), ...(m.pin === false ? { pin: false } : {}) }
    }
    case 'state': return { op: 'state', id: agentIdOf(m.id) }
    case 'info': return { op: 'info', id: agentIdOf(m.id) }
    case 'placement': return { op: 'placement', placement: decodePlacement(m.placement) }
    default: throw new InvalidMessageError(`unknown control op ${JSON.stringify(m.op)}`)
  }
}

/**
 * A message to an agent carrying its own message id (`call(id, msg, { messageId })`, and queued
 * messages forwarded on migration): the agent dedups on that id instead of the envelope's, so a
 * client repeating a request with the same id gets the first reply, from whichever owner.
 */
export const CALL_TAG = 'agentmesh.agents.call/1'

export function encodeCall (messageId: string, message: unknown): Record<string, unknown> {
  return { t: CALL_TAG, id: messageId, message }
}

/** the message and the id it carries (none for a plain message); InvalidMessageError if malformed */
export function decodeCall (data: unknown): { id?: string, message: unknown } {
  if (data === null || typeof data !== 'object' || (data as { t?: unknown }).t !== CALL_TAG) return { message: data }
  const { id, message } = data as { id?: unknown, message?: unknown }
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_MESSAGE_ID_CHARS || id.startsWith(LOCAL_ID_PREFIX)) {
    throw new InvalidMessageError(`a message id must be 1-${MAX_MESSAGE_ID_CHARS} chars, not starting with ${LOCAL_ID_PREFIX}`)
  }
  return { id, message: message ?? null }
}
