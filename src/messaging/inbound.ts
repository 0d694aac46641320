/**
 * Everything that arrives: envelopes from RPC streams and from gossipsub. Each passes the checks
 * (inbound-checks.ts: decoded, size-checked, tied to the authenticated sender, its signature
 * checked when present, its clock merged), then is deduplicated and ordered before a handler sees
 * it. Answers (reply / ack / error-reply) settle the pending request or delivery. Bad input is
 * logged, counted and dropped; it never throws out of here.
 */
import { CapacityError, InvalidMessageError, NotFoundError, NotOwnerError } from '../errors.ts'
import { CLOCK_SKEW_REASON, HANDLER_TIMEOUT_MS, MAX_INBOUND_REQUESTS_IN_FLIGHT, RESEND_CONTENT_TYPE } from './constants.ts'
import { packEnvelopes, readResendRequest } from './topic-replay.ts'
import { DUPLICATE_LABELS, directStream, runWithDeadline, spanOptions } from './inbound-support.ts'
import { InboundChecks, type CheckResult, type PublicationVerdict } from './inbound-checks.ts'
import { isCorrelated } from './envelope.ts'
import { CONTENT_TYPE_OCTET_STREAM, errorPayload, jsonPayload, octetStreamPayload, readPayload } from './payload.ts'
import { deferred, type AbortOptions } from '../util/abort.ts'
import type { Logger } from '../util/logger.ts'
import type { Clock } from '../util/clock.ts'
import type { Counter, Telemetry } from '../monitoring/types.ts'
import type { BrokerPubsubMessage, MessageHandler, ReceivedMessage, RequestHandler } from './broker-types.ts'
import type { DedupWindow } from './dedup.ts'
import type { Envelope } from './envelope.ts'
import type { HybridLogicalClock } from './hlc.ts'
import type { MessageOrdering, OrderingResult, SequenceGap, Sequenced } from './ordering.ts'
import type { TopicReplay } from './topic-replay.ts'
import type { PendingReplies } from './pending.ts'
import type { RpcLink } from './rpc-link.ts'

/** an inbound sequenced message waiting for its turn */
export interface InboundItem extends Sequenced {
  stream: string
  envelope: Envelope
  /** set for direct messages: where the ack goes */
  link?: RpcLink
  /** set for publications */
  topic?: string
}

type AnswerBuilder = (base: Pick<Envelope, 'id' | 'sender' | 'hlc'>) => Envelope

export interface InboundDispatcherInit {
  peerId: string
  log: Logger
  hlc: HybridLogicalClock
  pending: PendingReplies
  telemetry: Telemetry
  dedup: DedupWindow
  ordering: MessageOrdering<InboundItem>
  topicHandlers: Map<string, Set<MessageHandler>>
  /** signs, encodes and writes an answer on the link */
  reply: (link: RpcLink, build: AnswerBuilder) => void
  clock: Clock
  received: Counter
  dropped: Counter
  /** gossipsub validation verdicts on publications, by result */
  validated: Counter
  /** this peer's recent publications, served to subscribers that missed some */
  replay: TopicReplay
  /** asks a publisher to resend a topic gap (throttled by the caller) */
  requestRepair: (gap: SequenceGap) => void
}

type DirectOutcome = { ok: true } | { ok: false, err: unknown }

/**
 * errors that say a direct message was not applied, whatever its content: the agent is elsewhere or
 * not started, this side has no quorum, its state is out of reach, a deadline passed, or the error
 * says so (`details.retryable`, e.g. a full mailbox). The sender retries these; any other error is
 * the application's verdict on the message (acknowledged)
 */
const NOT_APPLIED = new Set(['NotOwnerError', 'NotFoundError', 'InvalidMessageError', 'NoQuorumError', 'NotLeaderError', 'UnreachableError',
  'NotStartedError', 'TimeoutError', 'AbortError', 'StorageError', 'StaleEpochError', 'ClockSkewError'])

function isApplicationVerdict (err: unknown): boolean {
  if (!(err instanceof Error)) return true
  return !NOT_APPLIED.has(err.name) && (err as { details?: { retryable?: unknown } }).details?.retryable !== true
}

export class InboundDispatcher {
  requestHandler: RequestHandler | undefined
  messageHandler: MessageHandler | undefined
  private readonly init: InboundDispatcherInit
  private inFlight = 0
  private readonly checks: InboundChecks
  /** direct messages reach the handler one at a time, in order */
  private directChain: Promise<void> = Promise.resolve()
  /** direct messages being handled, by envelope id: a retry that arrives meanwhile waits for the outcome */
  private readonly directRunning = new Map<string, Promise<DirectOutcome>>()

  constructor (init: InboundDispatcherInit) {
    this.init = init
    this.checks = new InboundChecks({
      log: init.log,
      hlc: init.hlc,
      received: init.received,
      validated: init.validated,
      drop: (reason, peer, err) => { this.drop(reason, peer, err) }
    })
  }

  onStreamFrame (frame: Uint8Array, link: RpcLink): void {
    const onError = (err: unknown): void => { this.drop('internal', link.remotePeer, err) }
    try {
      // synchronous unless a signature has to be verified
      const checked = this.checks.check(frame, link.remotePeer)
      if (checked instanceof Promise) checked.then(async c => { await this.acceptFromStream(c, link) }).catch(onError)
      else this.acceptFromStream(checked, link).catch(onError)
    } catch (err) {
      onError(err)
    }
  }

  onPubsubMessage (msg: BrokerPubsubMessage): void {
    if (!this.init.topicHandlers.has(msg.topic)) return
    if (this.checks.isValidated(msg.data)) {
      // validated by gossipsub's topic validator just before: no second look, no async hop
      try { this.acceptValidated(msg) } catch (err) { this.drop('internal', msg.from?.toString() ?? '?', err) }
      return
    }
    void this.acceptFromPubsub(msg).catch(err => { this.drop('internal', msg.from?.toString() ?? '?', err) })
  }

  /**
   * gossipsub's topic validator: decides before a publication is delivered or forwarded (see
   * InboundChecks.validatePublication)
   */
  validatePublication (msg: BrokerPubsubMessage): PublicationVerdict | Promise<PublicationVerdict> {
    return this.checks.validatePublication(msg)
  }

  /** hands a publication to this peer's subscribers of the topic */
  deliverToTopic (topic: string, envelope: Envelope): void {
    const handlers = this.init.topicHandlers.get(topic)
    if (handlers == null) return
    // the subscribers' turn, in the publisher's trace (their synchronous part; async work they start is theirs)
    const span = this.init.telemetry.startSpan('broker.deliver', spanOptions('consumer', envelope.traceparent))
    try {
      let received: ReceivedMessage
      try {
        received = this.toReceived(envelope, span.traceparent(), topic)
      } catch (err) {
        span.recordError(err)
        this.drop('bad-payload', envelope.sender, err)
        return
      }
      for (const h of handlers.size === 1 ? handlers : [...handlers]) {
        try {
          const r = h(received)
          if (r instanceof Promise) r.catch(err => { this.init.log('subscriber of %s failed: %s', topic, (err as Error).message) })
        } catch (err) {
          span.recordError(err)
          this.init.log('subscriber of %s failed: %s', topic, (err as Error).message)
        }
      }
    } finally {
      span.end()
    }
  }

  /**
   * a request to an agent on this very peer (no network, same handler); `traceparent` is the span
   * the handler runs in (default: the envelope's, the caller's span)
   */
  async handleLocalRequest (envelope: Envelope, options: AbortOptions, traceparent = envelope.traceparent): Promise<unknown> {
    if (this.requestHandler == null) throw new NotFoundError('this peer handles no requests')
    return await this.requestHandler(this.toReceived(envelope, traceparent), options)
  }

  /** a direct message to an agent on this very peer */
  async handleLocalMessage (envelope: Envelope, traceparent = envelope.traceparent): Promise<void> {
    if (this.messageHandler == null) throw new NotFoundError('this peer handles no direct messages')
    await this.messageHandler(this.toReceived(envelope, traceparent))
  }

  /** a publication resent by its publisher (gap repair): checked like one from gossipsub */
  acceptResent (wire: Uint8Array, publisher: string, topic: string): void {
    if (!this.init.topicHandlers.has(topic)) return
    void this.acceptFromPubsub({ type: 'signed', topic, data: wire, from: { toString: () => publisher } })
      .catch(err => { this.drop('internal', publisher, err) })
  }

  /** applies the ordering skip policy and delivers what it released */
  expireGaps (): void {
    this.release(this.init.ordering.expireGaps())
  }

  private async acceptFromStream (checked: CheckResult, link: RpcLink): Promise<void> {
    if (!checked.ok) {
      // a durable message refused for its sender's clock: say so at once (the answer carries our
      // stamp, behind theirs, so it is taken), rather than leave it to time out; the sender then
      // waits `retryAfterMs` without counting the attempt. A request is left to time out as
      // before: callers that retry requests a bounded number of times (a coordinator's tasks)
      // would use their tries up in seconds, before the outlier has handed its agents off
      const env = checked.decoded?.envelope
      if (checked.reason === CLOCK_SKEW_REASON && env?.kind === 'message') this.answerError(link, env, checked.err)
      return
    }
    const env = checked.decoded.envelope
    if (isCorrelated(env)) {
      if (!this.init.pending.settle(env, link.remotePeer)) this.init.dropped.inc(1, { reason: 'unexpected-answer' })
      return
    }
    if (env.target?.kind === 'peer' && env.target.id !== this.init.peerId) {
      this.answerError(link, env, new NotOwnerError(`this is ${this.init.peerId}, not ${env.target.id}`))
      return
    }
    if (env.kind === 'request') { await this.handleRequest(env, link); return }
    // a direct message
    const stream = directStream(env)
    const key = { id: env.id, stream, seq: env.seq }
    if (this.init.dedup.isDuplicate(key)) {
      this.init.dropped.inc(1, { reason: 'duplicate' })
      // still being handled (the sender's ack wait ran out first): answered as that attempt ends
      const running = this.directRunning.get(env.id)
      if (running != null) { void running.then(outcome => { this.answerDirect(link, env, outcome) }); return }
      // delivered before and the ack was lost: ack again (unless it still waits for its turn)
      if (!this.init.ordering.isBuffered(stream, env.seq)) this.ack(link, env)
      return
    }
    this.init.dedup.observe(key)
    this.order({ sender: env.sender, seq: env.seq, hlc: env.hlc, stream, envelope: env, link })
  }

  private async acceptFromPubsub (msg: BrokerPubsubMessage): Promise<void> {
    // not checked by the topic validator (a resent publication): check it now
    if (!this.checks.isValidated(msg.data) && await this.checks.judgePublication(msg) !== 'accept') return
    this.acceptValidated(msg)
  }

  /** a publication the checks passed: dedup, then in order to the subscribers */
  private acceptValidated (msg: BrokerPubsubMessage): void {
    const decoded = this.checks.takeValidated(msg.data)
    if (decoded == null) return
    const env = decoded.envelope
    const stream = `${env.sender}|t|${msg.topic}`
    // gossipsub drops repeats of a message id; what is left to catch is a seq seen before (resends)
    if (env.seq < 1 || !this.init.dedup.observeSeq(stream, env.seq)) { this.init.dropped.inc(1, DUPLICATE_LABELS); return }
    this.order({ sender: env.sender, seq: env.seq, hlc: env.hlc, stream, envelope: env, topic: msg.topic })
  }

  private order (item: InboundItem): void {
    const result = this.init.ordering.push(item)
    // never lose a message: one behind the stream's position that dedup has not seen is delivered late
    if (result.duplicates > 0 && !result.delivered.includes(item) && !this.init.ordering.isBuffered(item.stream, item.seq)) {
      result.delivered.push(item)
    }
    this.release(result)
  }

  private release (result: OrderingResult<InboundItem>): void {
    for (const gap of result.skipped) this.init.log('gave up waiting for %s seq %d..%d', gap.stream, gap.fromSeq, gap.toSeq)
    for (const gap of result.gaps) if (gap.stream.includes('|t|')) this.init.requestRepair(gap)
    for (const item of result.delivered) {
      if (item.topic != null) this.deliverToTopic(item.topic, item.envelope)
      else if (item.link != null) {
        const link = item.link
        const env = item.envelope
        // in flight from here on, queued behind the messages before it included: a retry that
        // arrives meanwhile is answered with this attempt's outcome, never acked ahead of it
        const outcome = deferred<DirectOutcome>()
        this.directRunning.set(env.id, outcome.promise)
        void outcome.promise.then(o => {
          if (this.directRunning.get(env.id) === outcome.promise) this.directRunning.delete(env.id)
          // not applied: a retry (here, once the agent arrives or the side heals) must not be taken for a duplicate
          if (!o.ok && !isApplicationVerdict(o.err)) this.init.dedup.forget({ id: env.id, stream: directStream(env), seq: env.seq })
        })
        this.directChain = this.directChain.then(async () => { await this.deliverDirect(env, link, outcome.resolve) })
      }
    }
  }

  private async deliverDirect (env: Envelope, link: RpcLink, settle: (o: DirectOutcome) => void): Promise<void> {
    // the delivery on this side, in the sender's trace
    const span = this.init.telemetry.startSpan('broker.receive', spanOptions('consumer', env.traceparent))
    const outcome: Promise<DirectOutcome> = this.handleLocalMessage(env, span.traceparent()).then(() => ({ ok: true }), (err: unknown) => ({ ok: false, err }))
    void outcome.then(settle)
    try {
      // a handler that hangs must not hold up every later message: past the limit the message is
      // left unacked (the sender retries; a retry is answered as this attempt ends)
      const o = await runWithDeadline(this.init.clock, HANDLER_TIMEOUT_MS, async () => await outcome)
      if (!o.ok) span.recordError(o.err)
      this.answerDirect(link, env, o)
    } catch (err) {
      span.recordError(err)
      this.init.log('message handler timed out on %s from %s', env.id, env.sender)
    } finally {
      span.end()
    }
  }

  /**
   * acks a direct message that was applied, or that the application itself failed on (logged: a
   * retry would fail the same way); anything else (not the owner, no quorum, unreachable state,
   * a timeout) was not applied and goes back to the sender as an error-reply, which retries
   */
  private answerDirect (link: RpcLink, env: Envelope, o: DirectOutcome): void {
    if (o.ok) { this.ack(link, env); return }
    if (isApplicationVerdict(o.err)) {
      this.init.log('message handler failed on %s from %s: %s', env.id, env.sender, (o.err as Error)?.message ?? String(o.err))
      this.ack(link, env)
      return
    }
    this.answerError(link, env, o.err)
  }

  private async handleRequest (env: Envelope, link: RpcLink): Promise<void> {
    if (!this.init.dedup.observe({ id: env.id, stream: `${env.sender}|r` })) { this.init.dropped.inc(1, { reason: 'duplicate' }); return }
    if (this.inFlight >= MAX_INBOUND_REQUESTS_IN_FLIGHT) {
      this.answerError(link, env, new CapacityError(`${MAX_INBOUND_REQUESTS_IN_FLIGHT} requests already in flight`))
      return
    }
    this.inFlight++
    // server side of the RPC, in the caller's trace; the handler runs inside it
    const span = this.init.telemetry.startSpan('rpc.handle', spanOptions('server', env.traceparent))
    try {
      if (env.contentType === RESEND_CONTENT_TYPE) {
        const wires = this.init.replay.range(readResendRequest(env))
        this.init.reply(link, base => ({
          kind: 'reply', ...base, seq: 0, traceparent: '', correlationId: env.id, ...octetStreamPayload(packEnvelopes(wires))
        }))
        return
      }
      const traceparent = span.traceparent()
      const result = await runWithDeadline(this.init.clock, HANDLER_TIMEOUT_MS, async (options) => await this.handleLocalRequest(env, options, traceparent))
      const payload = result instanceof Uint8Array ? octetStreamPayload(result) : jsonPayload(result === undefined ? null : result)
      this.init.reply(link, base => ({
        kind: 'reply', ...base, seq: 0, traceparent: span.traceparent(), correlationId: env.id, ...payload
      }))
    } catch (err) {
      span.recordError(err)
      // not served here (agent moved or not started yet): the sender re-sends under the same id,
      // maybe to this peer again once the agent is here, and that must not be taken for a repeat
      if (err instanceof NotOwnerError || err instanceof NotFoundError) this.init.dedup.forget({ id: env.id, stream: `${env.sender}|r` })
      this.answerError(link, env, err)
    } finally {
      this.inFlight--
      span.end()
    }
  }

  private ack (link: RpcLink, env: Envelope): void {
    try {
      this.init.reply(link, base => ({
        kind: 'ack', ...base, seq: 0, traceparent: '', correlationId: env.id, contentType: CONTENT_TYPE_OCTET_STREAM, payload: new Uint8Array(0)
      }))
    } catch (err) {
      this.init.log('ack to %s failed: %s', link.remotePeer, (err as Error).message)
    }
  }

  private answerError (link: RpcLink, env: Envelope, err: unknown): void {
    try {
      this.init.reply(link, base => ({
        kind: 'error-reply', ...base, seq: 0, traceparent: env.traceparent, correlationId: env.id, ...errorPayload(err)
      }))
    } catch (e) {
      this.init.log('error-reply to %s failed: %s', link.remotePeer, (e as Error).message)
    }
  }

  /** the handler's view of an envelope; InvalidMessageError when the payload does not decode */
  private toReceived (envelope: Envelope, traceparent: string, topic?: string): ReceivedMessage {
    const data = readPayload(envelope)
    return {
      id: envelope.id,
      from: envelope.sender,
      ...(topic != null ? { topic: topic.slice(topic.indexOf('/v1/t/') + 6) } : {}),
      ...(envelope.target != null ? { target: envelope.target } : {}),
      seq: envelope.seq,
      hlc: envelope.hlc,
      traceparent,
      contentType: envelope.contentType,
      data,
      envelope
    }
  }

  private drop (reason: string, peer: string, err: unknown): void {
    this.init.dropped.inc(1, { reason })
    this.init.log('dropped envelope from %s (%s): %s', peer, reason, err instanceof Error ? err.message : String(err))
  }
}
