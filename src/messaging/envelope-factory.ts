/**
 * How this peer makes its outgoing envelopes: a fresh id, its peer id as sender and the next
 * hybrid-logical-clock timestamp on every one, signed when `signEnvelopes` is on. Also the checks
 * on what callers hand the broker (targets, payloads).
 */
import { InvalidArgumentError } from '../errors.ts'
import { encodeEnvelope, envelopeSigningBytes } from './envelope.ts'
import { createMessageId } from './message-id.ts'
import { CONTENT_TYPE_OCTET_STREAM, jsonPayload, octetStreamPayload } from './payload.ts'
import type { BrokerSigner, SendOptions } from './broker-types.ts'
import type { Envelope, EnvelopeTarget } from './envelope.ts'
import type { HybridLogicalClock } from './hlc.ts'
import type { MessageId, RandomBytes } from './message-id.ts'
import type { EncodedPayload } from './payload.ts'

export interface EnvelopeFactoryInit {
  peerId: string
  hlc: HybridLogicalClock
  randomBytes?: RandomBytes
  /** signs when present and `signEnvelopes` is true */
  privateKey?: BrokerSigner
  signEnvelopes?: boolean
}

export class EnvelopeFactory {
  /** whether envelopes are signed (otherwise `sign` returns them as they are) */
  readonly signing: boolean
  private readonly init: EnvelopeFactoryInit

  constructor (init: EnvelopeFactoryInit) {
    this.init = init
    this.signing = init.privateKey != null && init.signEnvelopes === true
  }

  /** a fresh message id */
  newId (): MessageId {
    return createMessageId(this.init.randomBytes)
  }

  /** a new id, this sender, the next HLC timestamp */
  baseFields (): Pick<Envelope, 'id' | 'sender' | 'hlc'> {
    return { id: this.newId(), sender: this.init.peerId, hlc: this.init.hlc.send() }
  }

  /** `id`: an id chosen before (a request re-sent to an agent's new owner keeps its first id) */
  build (kind: 'message' | 'request', seq: number, payload: EncodedPayload, traceparent: string, target?: EnvelopeTarget, id?: MessageId): Envelope {
    const base = this.baseFields()
    const envelope: Envelope = { kind, id: id ?? base.id, sender: base.sender, hlc: base.hlc, seq, traceparent, contentType: payload.contentType, payload: payload.payload }
    if (target != null) envelope.target = target
    return envelope
  }

  async sign (envelope: Envelope): Promise<Envelope> {
    const key = this.init.privateKey
    if (key == null || !this.signing) return envelope
    return { ...envelope, signature: await key.sign(envelopeSigningBytes(envelope)) }
  }

  async encodeSigned (envelope: Envelope): Promise<Uint8Array> {
    return encodeEnvelope(await this.sign(envelope))
  }
}

/** a string is an agent id; otherwise `{ kind: agent|peer, id }` */
export function toTarget (target: string | EnvelopeTarget): EnvelopeTarget {
  if (typeof target === 'string') {
    if (target.length === 0) throw new InvalidArgumentError('target agent id must not be empty')
    return { kind: 'agent', id: target }
  }
  if (target == null || (target.kind !== 'agent' && target.kind !== 'peer') || typeof target.id !== 'string' || target.id === '') {
    throw new InvalidArgumentError('target must be an agent id or { kind: agent|peer, id }')
  }
  return target
}

/** JSON, or the bytes as they are for a Uint8Array / application/octet-stream */
export function encodePayload (message: unknown, options: SendOptions): EncodedPayload {
  if (options.contentType === CONTENT_TYPE_OCTET_STREAM || (options.contentType == null && message instanceof Uint8Array)) {
    return octetStreamPayload(message as Uint8Array)
  }
  return jsonPayload(message)
}
