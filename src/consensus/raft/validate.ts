/**
 * Structural checks on a Raft message received from the network, before the core sees it: a
 * malformed message must produce a typed error, never corrupt the log or crash the state machine.
 * (The transport decodes and size-checks bytes; this checks what the decoded message claims.)
 */
import { InvalidMessageError } from '../../errors.ts'
import { MAX_NODE_ID_BYTES } from './constants.ts'
import { EntryType, MessageType } from './types.ts'
import type { Message, NodeId, Snapshot } from './types.ts'

function isIndex (n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

function isNodeId (s: unknown): s is NodeId {
  return typeof s === 'string' && s.length > 0 && s.length <= MAX_NODE_ID_BYTES
}

function checkSnapshot (s: Snapshot): void {
  const md = s?.metadata
  if (md === undefined || !isIndex(md.index) || !isIndex(md.term) || md.index === 0 || !(s.data instanceof Uint8Array)) {
    throw new InvalidMessageError('raft snapshot has malformed metadata or data')
  }
  const cs = md.confState
  if (cs === undefined || !Array.isArray(cs.voters) || !Array.isArray(cs.learners) ||
    !cs.voters.every(isNodeId) || !cs.learners.every(isNodeId)) {
    throw new InvalidMessageError('raft snapshot has a malformed membership')
  }
}

/** throws InvalidMessageError unless m is a well-formed message addressed to `self` */
export function validateMessage (m: Message, self: NodeId): void {
  if (m === null || typeof m !== 'object') throw new InvalidMessageError('raft message is not an object')
  if (!isIndex(m.type) || m.type > MessageType.CheckQuorum) throw new InvalidMessageError(`raft message has unknown type ${String(m.type)}`)
  if (m.to !== self) throw new InvalidMessageError(`raft message for ${String(m.to)} delivered to ${self}`)
  if (!isNodeId(m.from)) throw new InvalidMessageError('raft message has no valid sender')
  if (!isIndex(m.term) || !isIndex(m.logTerm) || !isIndex(m.index) || !isIndex(m.commit) || !isIndex(m.rejectHint)) {
    throw new InvalidMessageError('raft message has a malformed term or index')
  }
  if (typeof m.reject !== 'boolean') throw new InvalidMessageError('raft message has a malformed reject flag')
  if (m.context !== undefined && !(m.context instanceof Uint8Array)) throw new InvalidMessageError('raft message has a malformed context')
  if (!Array.isArray(m.entries)) throw new InvalidMessageError('raft message entries must be an array')
  const appending = m.type === MessageType.App
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]
    if (e === null || typeof e !== 'object' || !isIndex(e.term) || !isIndex(e.index) || !(e.data instanceof Uint8Array) ||
      (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange)) {
      throw new InvalidMessageError(`raft message entry ${i} is malformed`)
    }
    // appended entries must follow (index, logTerm) one by one, with terms that never go back
    if (appending && (e.index !== m.index + 1 + i || e.term < (i === 0 ? m.logTerm : m.entries[i - 1].term) || e.term > m.term)) {
      throw new InvalidMessageError(`raft append entry ${i} is out of sequence`)
    }
  }
  if ((m.type === MessageType.ReadIndex || m.type === MessageType.ReadIndexResp) && m.entries.length !== 1) {
    throw new InvalidMessageError('raft read index message must carry exactly one context entry')
  }
  if (m.type === MessageType.Snap) {
    if (m.snapshot === undefined) throw new InvalidMessageError('raft snapshot message without a snapshot')
    checkSnapshot(m.snapshot)
  } else if (m.snapshot !== undefined) {
    throw new InvalidMessageError('raft snapshot attached to a non-snapshot message')
  }
}
