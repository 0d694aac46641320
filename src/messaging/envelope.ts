/**
 * The envelope: every message the broker sends, on gossipsub or a stream, is one of these, encoded
 * with lib0 in a compact versioned binary format.
 *
 *   wire     = varuint major | varuint minor | varbytes body | varbytes signature (empty = none)
 *              [| fields of a newer minor, ignored]
 *   body     = varuint kind | 16 bytes id | varstring sender | varuint seq | hlc (2 varuints)
 *              | varstring traceparent ('' = none) | varstring contentType
 *              | varuint targetKind (0 none, 1 agent, 2 peer) [| varstring targetId]
 *              | [16 bytes correlationId, for reply / ack / error-reply] | varbytes payload
 *              [| fields of a newer minor, ignored]
 *   signed   = the wire bytes from the start up to the end of the body (version included)
 *
 * A different major is refused (UnsupportedVersionError); a newer minor is read and its trailing
 * fields ignored. Every field has a cap; the whole envelope is capped at MAX_ENVELOPE_BYTES.
 */
import * as decoding from 'lib0/decoding'
import { InvalidArgumentError, InvalidMessageError, MessageTooLargeError, UnsupportedVersionError } from '../errors.ts'
import {
  ENVELOPE_VERSION_MAJOR, ENVELOPE_VERSION_MINOR, MAX_CONTENT_TYPE_BYTES, MAX_ENVELOPE_BYTES,
  MAX_PAYLOAD_BYTES, MAX_PEER_ID_BYTES, MAX_SIGNATURE_BYTES, MAX_TARGET_ID_BYTES, MAX_TRACEPARENT_BYTES,
  MESSAGE_ID_BYTES
} from './constants.ts'
import { isValidHlc, readHlc } from './hlc.ts'
import { writeEnvelopeBytes } from './envelope-writer.ts'
import { isValidMessageId, messageIdFromBytes } from './message-id.ts'
import { decodeStrictly, isWellFormedString, readCappedString, readCappedView, readFixedView, readUint, utf8Length } from './wire.ts'
import type { HlcTimestamp } from './hlc.ts'
import type { MessageId } from './message-id.ts'
import type { Decoder } from './wire.ts'

export type EnvelopeKind = 'message' | 'request' | 'reply' | 'ack' | 'error-reply'

/** where an envelope is going: an agent (resolved to its current peer) or a peer itself */
export type EnvelopeTarget =
  | { kind: 'agent', id: string }
  | { kind: 'peer', id: string }

interface EnvelopeFields {
  /** unique, for dedup and correlation */
  id: MessageId
  /** sender's peer id (text form) */
  sender: string
  /** per-sender (per channel) sequence number, from 1; 0 = not sequenced (acks) */
  seq: number
  hlc: HlcTimestamp
  /** W3C traceparent of the span that sent it; '' when untraced */
  traceparent: string
  contentType: string
  target?: EnvelopeTarget
  payload: Uint8Array
  /** signature over `envelopeSigningBytes(envelope)` by the sender's private key */
  signature?: Uint8Array
}

/** a one-way message (topic publication or direct send) */
export interface MessageEnvelope extends EnvelopeFields { kind: 'message' }
/** an RPC request; answered by a reply or an error-reply carrying its id */
export interface RequestEnvelope extends EnvelopeFields { kind: 'request' }
export interface ReplyEnvelope extends EnvelopeFields { kind: 'reply', correlationId: MessageId }
/** receipt of a message (reliable delivery) */
export interface AckEnvelope extends EnvelopeFields { kind: 'ack', correlationId: MessageId }
/** the request failed; payload is JSON `{ name, message }` */
export interface ErrorReplyEnvelope extends EnvelopeFields { kind: 'error-reply', correlationId: MessageId }

export type Envelope = MessageEnvelope | RequestEnvelope | ReplyEnvelope | AckEnvelope | ErrorReplyEnvelope
export type CorrelatedEnvelope = ReplyEnvelope | AckEnvelope | ErrorReplyEnvelope

export interface EnvelopeVersion { major: number, minor: number }

export interface DecodedEnvelope {
  envelope: Envelope
  /** the version the sender wrote */
  version: EnvelopeVersion
  /** the bytes the signature covers, to verify with the sender's public key */
  signedBytes: Uint8Array
}

export const isMessage = (e: Envelope): e is MessageEnvelope => e.kind === 'message'
export const isRequest = (e: Envelope): e is RequestEnvelope => e.kind === 'request'
export const isReply = (e: Envelope): e is ReplyEnvelope => e.kind === 'reply'
export const isAck = (e: Envelope): e is AckEnvelope => e.kind === 'ack'
export const isErrorReply = (e: Envelope): e is ErrorReplyEnvelope => e.kind === 'error-reply'
export const isCorrelated = (e: Envelope): e is CorrelatedEnvelope =>
  e.kind === 'reply' || e.kind === 'ack' || e.kind === 'error-reply'

const KIND_CODES: readonly EnvelopeKind[] = ['message', 'request', 'reply', 'ack', 'error-reply']
const TARGET_CODES = { none: 0, agent: 1, peer: 2 } as const
const TRACEPARENT_RE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/
// printable ASCII without spaces around, e.g. `application/json; charset=utf-8`
const CONTENT_TYPE_RE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/
// peer ids in text form (base58btc or multibase) are printable ASCII without spaces
const PEER_ID_RE = /^[\x21-\x7e]+$/

/** checks every field of an envelope to be sent; throws InvalidArgumentError / MessageTooLargeError */
export function validateEnvelope (e: Envelope): void {
  const fail = (msg: string): never => { throw new InvalidArgumentError(`envelope: ${msg}`) }
  if (e == null || typeof e !== 'object') fail('not an object')
  if (!KIND_CODES.includes(e.kind)) fail(`unknown kind ${String(e.kind)}`)
  if (!isValidMessageId(e.id)) fail('id must be 32 lowercase hex chars')
  checkText(e.sender, MAX_PEER_ID_BYTES, 'sender', false)
  if (!PEER_ID_RE.test(e.sender)) fail('sender must be a peer id (printable ASCII)')
  if (!Number.isSafeInteger(e.seq) || e.seq < 0) fail('seq must be a non-negative safe integer')
  if (!isValidHlc(e.hlc)) fail('hlc is not a valid timestamp')
  if (typeof e.traceparent !== 'string' || (e.traceparent !== '' && !TRACEPARENT_RE.test(e.traceparent))) fail('traceparent is not a W3C traceparent')
  checkText(e.contentType, MAX_CONTENT_TYPE_BYTES, 'contentType', false)
  if (!CONTENT_TYPE_RE.test(e.contentType)) fail('contentType must be printable ASCII')
  if (e.target != null) {
    if (e.target.kind !== 'agent' && e.target.kind !== 'peer') fail('target.kind must be agent or peer')
    checkText(e.target.id, MAX_TARGET_ID_BYTES, 'target.id', false)
  }
  if (isCorrelated(e) && !isValidMessageId(e.correlationId)) fail('correlationId must be a message id')
  if (!(e.payload instanceof Uint8Array)) fail('payload must be a Uint8Array')
  if (e.payload.length > MAX_PAYLOAD_BYTES) throw new MessageTooLargeError(`payload: ${e.payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`)
  if (e.signature != null) {
    if (!(e.signature instanceof Uint8Array) || e.signature.length === 0) fail('signature must be non-empty bytes')
    if (e.signature.length > MAX_SIGNATURE_BYTES) throw new MessageTooLargeError(`signature: ${e.signature.length} bytes exceeds ${MAX_SIGNATURE_BYTES}`)
  }
}

function checkText (s: unknown, maxBytes: number, field: string, allowEmpty: boolean): void {
  if (!isWellFormedString(s)) throw new InvalidArgumentError(`envelope: ${field} must be a well-formed string`)
  if (!allowEmpty && s.length === 0) throw new InvalidArgumentError(`envelope: ${field} must not be empty`)
  const n = utf8Length(s)
  if (n > maxBytes) throw new MessageTooLargeError(`envelope: ${field} is ${n} bytes, max ${maxBytes}`)
}

/** the bytes a sender signs (and `decodeEnvelope(...).signedBytes` returns on the other side) */
export function envelopeSigningBytes (e: Envelope): Uint8Array {
  validateEnvelope(e)
  return writeEnvelopeBytes(e, false)
}

/** encodes a valid envelope; throws InvalidArgumentError / MessageTooLargeError otherwise */
export function encodeEnvelope (e: Envelope): Uint8Array {
  validateEnvelope(e)
  const out = writeEnvelopeBytes(e, true)
  if (out.length > MAX_ENVELOPE_BYTES) throw new MessageTooLargeError(`envelope: ${out.length} bytes exceeds ${MAX_ENVELOPE_BYTES}`)
  return out
}

/**
 * decodes and validates an envelope from outside. Throws only InvalidMessageError (malformed),
 * MessageTooLargeError (over a cap) or UnsupportedVersionError (another major).
 * The payload and `signedBytes` are views into `bytes`, not copies (one allocation less per
 * message on the hot path): `bytes` must not be changed afterwards.
 */
export function decodeEnvelope (bytes: Uint8Array): DecodedEnvelope {
  if (bytes instanceof Uint8Array && bytes.length > MAX_ENVELOPE_BYTES) {
    throw new MessageTooLargeError(`envelope: ${bytes.length} bytes exceeds ${MAX_ENVELOPE_BYTES}`)
  }
  return decodeStrictly('envelope', bytes, (dec) => {
    const major = readUint(dec, 'version.major')
    const minor = readUint(dec, 'version.minor')
    if (major !== ENVELOPE_VERSION_MAJOR) {
      throw new UnsupportedVersionError(`envelope version ${major}.${minor} (this peer speaks ${ENVELOPE_VERSION_MAJOR}.x)`)
    }
    const newerMinor = minor > ENVELOPE_VERSION_MINOR
    const body = readCappedView(dec, MAX_ENVELOPE_BYTES, 'body')
    // a view: it is only read to verify a signature, while the input is still around
    const signedBytes = bytes.subarray(0, dec.pos)
    const sig = readCappedView(dec, MAX_SIGNATURE_BYTES, 'signature')
    if (!newerMinor && decoding.hasContent(dec)) throw new InvalidMessageError('envelope: trailing bytes')
    const envelope = decodeStrictly('envelope body', body, (b) => readBody(b, newerMinor))
    if (sig.length > 0) envelope.signature = sig
    return { envelope, version: { major, minor }, signedBytes }
  })
}

function readBody (dec: Decoder, newerMinor: boolean): Envelope {
  const kindCode = readUint(dec, 'kind')
  const kind = KIND_CODES[kindCode]
  if (kind == null) throw new InvalidMessageError(`envelope: unknown kind ${kindCode}`)
  const id = messageIdFromBytes(readFixedView(dec, MESSAGE_ID_BYTES, 'id'))
  const sender = readCappedString(dec, MAX_PEER_ID_BYTES, 'sender')
  if (!PEER_ID_RE.test(sender)) throw new InvalidMessageError('envelope: sender is not a peer id')
  const seq = readUint(dec, 'seq')
  const hlc = readHlc(dec)
  const traceparent = readCappedString(dec, MAX_TRACEPARENT_BYTES, 'traceparent')
  if (traceparent !== '' && !TRACEPARENT_RE.test(traceparent)) throw new InvalidMessageError('envelope: malformed traceparent')
  const contentType = readCappedString(dec, MAX_CONTENT_TYPE_BYTES, 'contentType')
  if (!CONTENT_TYPE_RE.test(contentType)) throw new InvalidMessageError('envelope: malformed contentType')
  const targetCode = readUint(dec, 'target.kind')
  let target: EnvelopeTarget | undefined
  if (targetCode === TARGET_CODES.agent || targetCode === TARGET_CODES.peer) {
    const targetId = readCappedString(dec, MAX_TARGET_ID_BYTES, 'target.id')
    if (targetId.length === 0) throw new InvalidMessageError('envelope: empty target id')
    target = { kind: targetCode === TARGET_CODES.agent ? 'agent' : 'peer', id: targetId }
  } else if (targetCode !== TARGET_CODES.none) {
    throw new InvalidMessageError(`envelope: unknown target kind ${targetCode}`)
  }
  const correlationId = kind === 'reply' || kind === 'ack' || kind === 'error-reply'
    ? messageIdFromBytes(readFixedView(dec, MESSAGE_ID_BYTES, 'correlationId'))
    : undefined
  const payload = readCappedView(dec, MAX_PAYLOAD_BYTES, 'payload')
  if (!newerMinor && decoding.hasContent(dec)) throw new InvalidMessageError('envelope: trailing bytes in body')
  const envelope = { kind, id, sender, seq, hlc, traceparent, contentType, payload } as Envelope
  if (target != null) envelope.target = target
  if (correlationId != null) (envelope as CorrelatedEnvelope).correlationId = correlationId
  return envelope
}
