/**
 * The checks every arriving envelope passes before the inbound path takes it: decoded and
 * size-checked, tied to the authenticated sender (stream peer / gossipsub `from`), its signature
 * verified when present, its clock merged into ours. Publications get gossipsub's verdict here
 * (accept / reject / ignore), and what was accepted is kept by its data until it is dispatched.
 * A refusal is counted and logged through `drop`; nothing throws out of here.
 */
import { InvalidMessageError, UnauthorizedError } from '../errors.ts'
import { CLOCK_SKEW_REASON } from './constants.ts'
import { PeerIdTexts } from './peer-text.ts'
import { KIND_LABELS, VERDICT_LABELS, clockSkewRefusal, verifySignature } from './inbound-support.ts'
import { decodeEnvelope, isCorrelated } from './envelope.ts'
import type { Logger } from '../util/logger.ts'
import type { Counter } from '../monitoring/types.ts'
import type { BrokerPubsubMessage } from './broker-types.ts'
import type { DecodedEnvelope } from './envelope.ts'
import type { HybridLogicalClock } from './hlc.ts'

/** gossipsub's verdict on a publication (its TopicValidatorResult values) */
export type PublicationVerdict = 'accept' | 'reject' | 'ignore'

/**
 * an envelope that passed the checks, or why it did not (with the envelope and the error when it
 * decoded and was refused for its clock: a stream sender is told so)
 */
export type CheckResult = { ok: true, decoded: DecodedEnvelope } | { ok: false, reason: string, decoded?: DecodedEnvelope, err?: unknown }

/** reasons that are no fault of the publisher's: not delivered, not forwarded, not penalised */
const IGNORE_REASONS = new Set([CLOCK_SKEW_REASON, 'UnsupportedVersionError'])

export interface InboundChecksInit {
  log: Logger
  hlc: HybridLogicalClock
  /** envelopes decoded, by kind */
  received: Counter
  /** gossipsub validation verdicts on publications, by result */
  validated: Counter
  /** counts and logs an envelope refused for `reason` */
  drop: (reason: string, peer: string, err: unknown) => void
}

export class InboundChecks {
  private readonly init: InboundChecksInit
  /** publications gossipsub had us validate, by their data, until they are dispatched */
  private readonly validatedPublications = new WeakMap<Uint8Array, DecodedEnvelope>()
  private readonly peerTexts = new PeerIdTexts()

  constructor (init: InboundChecksInit) {
    this.init = init
  }

  /**
   * gossipsub's topic validator: decides before a publication is delivered or forwarded. Forged
   * (sender is not the signed origin), oversized, malformed, wrongly signed or non-message
   * envelopes are rejected (never forwarded, and the forwarding peer is scored down); one from
   * a far-ahead clock or another major version is ignored (not forwarded, not penalised).
   */
  validatePublication (msg: BrokerPubsubMessage): PublicationVerdict | Promise<PublicationVerdict> {
    const verdict = this.judgePublication(msg)
    if (verdict instanceof Promise) return verdict.then(v => { this.init.validated.inc(1, VERDICT_LABELS[v]); return v })
    this.init.validated.inc(1, VERDICT_LABELS[verdict])
    return verdict
  }

  /** the verdict on a publication, not counted; synchronous unless a signature has to be verified */
  judgePublication (msg: BrokerPubsubMessage): PublicationVerdict | Promise<PublicationVerdict> {
    const from = msg.type === 'signed' && msg.from != null ? this.peerTexts.textOf(msg.from) : undefined
    if (from == null) { this.init.drop('unsigned', '?', new UnauthorizedError('unsigned publication')); return 'reject' }
    const result = this.check(msg.data, from)
    if (result instanceof Promise) return result.then(r => this.verdictOn(msg, from, r))
    return this.verdictOn(msg, from, result)
  }

  /** whether a publication with this data was accepted and not yet taken */
  isValidated (data: Uint8Array): boolean {
    return this.validatedPublications.has(data)
  }

  /** the envelope of an accepted publication, once: undefined if it was not accepted or already taken */
  takeValidated (data: Uint8Array): DecodedEnvelope | undefined {
    const decoded = this.validatedPublications.get(data)
    this.validatedPublications.delete(data)
    return decoded
  }

  /** decodes and authenticates; the reason (after logging and counting) when it must be dropped */
  check (bytes: Uint8Array, authenticatedPeer: string): CheckResult | Promise<CheckResult> {
    let decoded: DecodedEnvelope
    try {
      decoded = decodeEnvelope(bytes)
    } catch (err) {
      return this.refuse((err as Error).name, authenticatedPeer, err)
    }
    const env = decoded.envelope
    this.init.received.inc(1, KIND_LABELS[env.kind])
    if (env.sender !== authenticatedPeer) {
      return this.refuse('sender-mismatch', authenticatedPeer, new UnauthorizedError(`envelope claims sender ${env.sender}`))
    }
    if (env.signature != null) {
      return verifySignature(env.sender, decoded.signedBytes, env.signature).then(valid => valid
        ? this.mergeClock(decoded, authenticatedPeer)
        : this.refuse('bad-signature', authenticatedPeer, new UnauthorizedError('signature does not verify')))
    }
    return this.mergeClock(decoded, authenticatedPeer)
  }

  private verdictOn (msg: BrokerPubsubMessage, from: string, result: CheckResult): PublicationVerdict {
    if (!result.ok) return IGNORE_REASONS.has(result.reason) ? 'ignore' : 'reject'
    if (result.decoded.envelope.kind !== 'message') {
      this.init.drop('bad-kind', from, new InvalidMessageError(`a ${result.decoded.envelope.kind} published on ${msg.topic}`))
      return 'reject'
    }
    this.validatedPublications.set(msg.data, result.decoded)
    return 'accept'
  }

  /**
   * the last check: the sender's clock must not be far ahead of ours; merged into our HLC. An
   * answer (ack, reply, error-reply) to a call of ours is taken without merging its clock: it
   * orders nothing, and refusing it would only make our call time out (a peer whose clock is
   * behind everyone's would see every delivery it made fail and retry)
   */
  private mergeClock (decoded: DecodedEnvelope, authenticatedPeer: string): CheckResult {
    const env = decoded.envelope
    try {
      this.init.hlc.receive(env.hlc)
    } catch (err) {
      if (isCorrelated(env)) {
        this.init.log('answer from %s taken without its clock: %s', authenticatedPeer, (err as Error).message)
        return { ok: true, decoded }
      }
      this.init.drop(CLOCK_SKEW_REASON, authenticatedPeer, err)
      return { ok: false, reason: CLOCK_SKEW_REASON, decoded, err: clockSkewRefusal(err) }
    }
    return { ok: true, decoded }
  }

  private refuse (reason: string, peer: string, err: unknown): CheckResult {
    this.init.drop(reason, peer, err)
    return { ok: false, reason }
  }
}
