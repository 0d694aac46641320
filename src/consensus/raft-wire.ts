/**
 * Frames of the Raft transport (`/agentmesh/raft/1.0.0`), lib0-encoded, each the body of one
 * length-prefixed frame (src/messaging/framing.ts):
 *
 *   hello:    [version, 1, groupId]                      first frame of every stream
 *   messages: [version, 2, n, message*]                  a batch of messages for the receiver
 *   chunk:    [version, 3, message, chunk]               one chunk of a MsgSnap's snapshot
 *   refusal:  [version, 4, subject, reason]              the only frame that travels the other way:
 *             written back on the stream of a peer whose messages were refused (subject 1: its KV
 *             proposals, 2: its linearizable reads, 3: its voter messages; reason: UTF-8 text of at
 *             most MAX_RAFT_REFUSAL_REASON_BYTES, no control characters)
 *
 * A message carries neither `from` nor `to`: the receiver takes `from` from the authenticated
 * connection and `to` is itself. Snapshots never travel inside `messages`; they go as chunks.
 * Decoding is bounded and throws only InvalidMessageError, MessageTooLargeError or
 * UnsupportedVersionError; the Raft core validates the decoded message's claims (validateMessage).
 */
import { InvalidArgumentError, InvalidMessageError } from '../errors.ts'
import { truncateUtf8 } from '../util/utf8.ts'
import {
  decodeWith, encodeWith, encoding, readBool, readByte, readBytes, readCount, readString, readUint, readVersion,
  writeBool, writeBytes, writeString, writeUint
} from './wire.ts'
import type { Decoder, Encoder } from './wire.ts'
import {
  MAX_GROUP_ID_BYTES, MAX_RAFT_CONTEXT_BYTES, MAX_RAFT_ENTRIES_PER_MESSAGE, MAX_RAFT_ENTRY_BYTES,
  MAX_RAFT_FRAME_BYTES, MAX_RAFT_MESSAGES_PER_FRAME, MAX_RAFT_REFUSAL_FRAME_BYTES, MAX_RAFT_REFUSAL_REASON_BYTES,
  MAX_STORED_CONF_MEMBERS, MAX_STORED_NODE_ID_BYTES, RAFT_WIRE_VERSION
} from './constants.ts'
import { EntryType, MessageType } from './raft/types.ts'
import type { ConfState, Entry, Message, SnapshotMetadata } from './raft/types.ts'
import type { SnapshotChunk } from './raft/snapshot-chunks.ts'

export const FRAME_HELLO = 1
export const FRAME_MESSAGES = 2
export const FRAME_SNAPSHOT_CHUNK = 3
export const FRAME_REFUSAL = 4

/** what a strong operation asks of the Raft leader: a KV proposal or a linearizable read (ReadIndex) */
export type StrongOperation = 'proposal' | 'read'
/** what a refusal is about: the refused peer's strong operations of one kind, or its voter messages */
export type RefusalSubject = StrongOperation | 'raft'
const REFUSAL_SUBJECTS: readonly RefusalSubject[] = ['proposal', 'read', 'raft']

/** a peer's answer to messages it dropped: which kind, and why (e.g. the credential check's verdict) */
export interface RaftRefusal {
  subject: RefusalSubject
  reason: string
}

export type RaftFrame =
  | { kind: 'hello', groupId: string }
  | { kind: 'messages', messages: Message[] }
  | { kind: 'chunk', message: Message, chunk: SnapshotChunk }

const FLAG_REJECT = 1
const FLAG_CONTEXT = 2

function writeMessage (e: Encoder, m: Message): void {
  encoding.writeUint8(e, m.type)
  writeUint(e, m.term)
  writeUint(e, m.logTerm)
  writeUint(e, m.index)
  writeUint(e, m.commit)
  writeUint(e, m.rejectHint)
  encoding.writeUint8(e, (m.reject ? FLAG_REJECT : 0) | (m.context !== undefined ? FLAG_CONTEXT : 0))
  if (m.context !== undefined) writeBytes(e, m.context)
  writeUint(e, m.entries.length)
  // entries of one message are consecutive: only the first index is written
  if (m.entries.length > 0) writeUint(e, m.entries[0].index)
  for (let i = 0; i < m.entries.length; i++) {
    const en = m.entries[i]
    if (i > 0 && en.index !== m.entries[i - 1].index + 1) throw new InvalidArgumentError('raft wire: entries of a message must be consecutive')
    writeUint(e, en.term)
    encoding.writeUint8(e, en.type)
    writeBytes(e, en.data)
  }
}

function readMessage (d: Decoder, from: string, to: string): Message {
  const type = readByte(d, 'raft message type')
  if (type > MessageType.CheckQuorum) throw new InvalidMessageError(`raft message type ${type} is unknown`)
  const term = readUint(d, 'term')
  const logTerm = readUint(d, 'logTerm')
  const index = readUint(d, 'index')
  const commit = readUint(d, 'commit')
  const rejectHint = readUint(d, 'rejectHint')
  const flags = readByte(d, 'raft message flags')
  if ((flags & ~(FLAG_REJECT | FLAG_CONTEXT)) !== 0) throw new InvalidMessageError(`raft message flags ${flags} are unknown`)
  const context = (flags & FLAG_CONTEXT) !== 0 ? readBytes(d, 'context', MAX_RAFT_CONTEXT_BYTES) : undefined
  const n = readCount(d, 'entries', MAX_RAFT_ENTRIES_PER_MESSAGE)
  const entries: Entry[] = []
  if (n > 0) {
    const first = readUint(d, 'first entry index')
    for (let i = 0; i < n; i++) {
      const eTerm = readUint(d, 'entry term')
      const eType = readByte(d, 'entry type')
      if (eType !== EntryType.Normal && eType !== EntryType.ConfChange) throw new InvalidMessageError(`entry type ${eType} is unknown`)
      const data = readBytes(d, 'entry data', MAX_RAFT_ENTRY_BYTES)
      entries.push({ term: eTerm, index: first + i, type: eType, data })
    }
  }
  return { type, to, from, term, logTerm, index, entries, commit, snapshot: undefined, reject: (flags & FLAG_REJECT) !== 0, rejectHint, context }
}

function writeConfState (e: Encoder, cs: ConfState): void {
  writeUint(e, cs.voters.length)
  for (const v of cs.voters) writeString(e, v)
  writeUint(e, cs.learners.length)
  for (const l of cs.learners) writeString(e, l)
}

function readConfState (d: Decoder): ConfState {
  const nv = readCount(d, 'voters', MAX_STORED_CONF_MEMBERS)
  const voters: string[] = []
  for (let i = 0; i < nv; i++) voters.push(readString(d, 'voter', MAX_STORED_NODE_ID_BYTES))
  const nl = readCount(d, 'learners', MAX_STORED_CONF_MEMBERS)
  const learners: string[] = []
  for (let i = 0; i < nl; i++) learners.push(readString(d, 'learner', MAX_STORED_NODE_ID_BYTES))
  return { voters, learners }
}

function writeChunk (e: Encoder, c: SnapshotChunk): void {
  writeUint(e, c.index)
  writeUint(e, c.term)
  writeUint(e, c.seq)
  writeUint(e, c.count)
  writeUint(e, c.totalBytes)
  writeBool(e, c.metadata !== undefined)
  if (c.metadata !== undefined) {
    writeUint(e, c.metadata.index)
    writeUint(e, c.metadata.term)
    writeConfState(e, c.metadata.confState)
  }
  writeBytes(e, c.data)
}

function readChunk (d: Decoder): SnapshotChunk {
  const index = readUint(d, 'snapshot index')
  const term = readUint(d, 'snapshot term')
  const seq = readUint(d, 'chunk seq')
  const count = readUint(d, 'chunk count')
  const totalBytes = readUint(d, 'snapshot bytes')
  let metadata: SnapshotMetadata | undefined
  if (readBool(d, 'has metadata')) {
    metadata = { index: readUint(d, 'metadata index'), term: readUint(d, 'metadata term'), confState: readConfState(d) }
  }
  const data = readBytes(d, 'chunk data', MAX_RAFT_FRAME_BYTES)
  return { index, term, seq, count, totalBytes, data, ...(metadata !== undefined ? { metadata } : {}) }
}

export function encodeHello (groupId: string): Uint8Array {
  return encodeWith(e => {
    encoding.writeUint8(e, RAFT_WIRE_VERSION)
    encoding.writeUint8(e, FRAME_HELLO)
    writeString(e, groupId)
  })
}

/** one message's encoding, to be packed into frames with packMessages */
export function encodeMessage (m: Message): Uint8Array {
  if (m.snapshot !== undefined) throw new InvalidArgumentError('raft wire: snapshots travel as chunks')
  return encodeWith(e => { writeMessage(e, m) })
}

/** a messages frame from already-encoded messages */
export function packMessages (encoded: Uint8Array[]): Uint8Array {
  return encodeWith(e => {
    encoding.writeUint8(e, RAFT_WIRE_VERSION)
    encoding.writeUint8(e, FRAME_MESSAGES)
    writeUint(e, encoded.length)
    for (const m of encoded) encoding.writeUint8Array(e, m)
  })
}

/** the frame header bytes packMessages adds around n messages (upper bound) */
export const PACK_OVERHEAD_BYTES = 16

export function encodeSnapshotChunk (m: Message, chunk: SnapshotChunk): Uint8Array {
  return encodeWith(e => {
    encoding.writeUint8(e, RAFT_WIRE_VERSION)
    encoding.writeUint8(e, FRAME_SNAPSHOT_CHUNK)
    writeMessage(e, { ...m, entries: [], snapshot: undefined })
    writeChunk(e, chunk)
  })
}

/** decodes one frame body received from `from` by `to` */
export function decodeRaftFrame (bytes: Uint8Array, from: string, to: string): RaftFrame {
  return decodeWith('raft frame', bytes, MAX_RAFT_FRAME_BYTES, d => {
    readVersion(d, 'raft frame', RAFT_WIRE_VERSION)
    const kind = readByte(d, 'raft frame kind')
    switch (kind) {
      case FRAME_HELLO: return { kind: 'hello', groupId: readString(d, 'group id', MAX_GROUP_ID_BYTES) }
      case FRAME_MESSAGES: {
        const n = readCount(d, 'messages', MAX_RAFT_MESSAGES_PER_FRAME)
        const messages: Message[] = []
        for (let i = 0; i < n; i++) messages.push(readMessage(d, from, to))
        return { kind: 'messages', messages }
      }
      case FRAME_SNAPSHOT_CHUNK: {
        const message = readMessage(d, from, to)
        if (message.type !== MessageType.Snap) throw new InvalidMessageError('snapshot chunk on a non-snapshot message')
        return { kind: 'chunk', message, chunk: readChunk(d) }
      }
      case FRAME_REFUSAL: throw new InvalidMessageError('a refusal frame travels back on the refused peer\'s own stream, not on a stream to us')
      default: throw new InvalidMessageError(`raft frame kind ${kind} is unknown`)
    }
  })
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/g
// eslint-disable-next-line no-control-regex
const HAS_CONTROL_CHAR = /[\u0000-\u001f\u007f]/

/** `reason` with control characters turned into spaces, cut (by code point) to MAX_RAFT_REFUSAL_REASON_BYTES of UTF-8 */
function boundedReason (reason: string): string {
  return truncateUtf8(reason.replace(CONTROL_CHARS, ' '), MAX_RAFT_REFUSAL_REASON_BYTES)
}

/** a refusal frame body; the reason is cleaned and cut to fit, so this never throws on a long one */
export function encodeRefusal (r: RaftRefusal): Uint8Array {
  const subject = REFUSAL_SUBJECTS.indexOf(r.subject)
  if (subject < 0) throw new InvalidArgumentError(`raft wire: unknown refusal subject ${JSON.stringify(r.subject)}`)
  return encodeWith(e => {
    encoding.writeUint8(e, RAFT_WIRE_VERSION)
    encoding.writeUint8(e, FRAME_REFUSAL)
    encoding.writeUint8(e, subject + 1)
    writeString(e, boundedReason(r.reason))
  })
}

/** decodes a frame read on this peer's own outbound stream, where only refusals may come */
export function decodeRefusalFrame (bytes: Uint8Array): RaftRefusal {
  return decodeWith('raft refusal', bytes, MAX_RAFT_REFUSAL_FRAME_BYTES, d => {
    readVersion(d, 'raft refusal', RAFT_WIRE_VERSION)
    const kind = readByte(d, 'raft frame kind')
    if (kind !== FRAME_REFUSAL) throw new InvalidMessageError(`raft frame kind ${kind} on the refused direction (only refusals travel back)`)
    const code = readByte(d, 'refusal subject')
    const subject = REFUSAL_SUBJECTS[code - 1]
    if (subject === undefined) throw new InvalidMessageError(`refusal subject ${code} is unknown`)
    const reason = readString(d, 'refusal reason', MAX_RAFT_REFUSAL_REASON_BYTES)
    if (reason.length === 0) throw new InvalidMessageError('refusal reason: empty')
    if (HAS_CONTROL_CHAR.test(reason)) throw new InvalidMessageError('refusal reason: control characters')
    return { subject, reason }
  })
}
