/**
 * What this peer sends over RPC streams and waits an answer for: requests (resolved to a peer,
 * retried when the agent just moved, timed out) and single delivery attempts of durable sends
 * (until the ack). A request to a peer with an open stream takes a short path: no AbortSignal,
 * no retry loop, a plain timer for its timeout.
 */
import { InvalidArgumentError, NotFoundError, NotOwnerError, UnreachableError } from '../errors.ts'
import { combineSignals } from '../util/abort.ts'
import { ACK_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from './constants.ts'
import { encodeEnvelope } from './envelope.ts'
import { encodePayload, toTarget } from './envelope-factory.ts'
import { KIND_LABELS, spanOptions } from './inbound-support.ts'
import { retry, retryPolicy } from './retry.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Rng } from '../util/prng.ts'
import type { Counter, Histogram, Telemetry } from '../monitoring/types.ts'
import type { AgentResolver, RequestOptions } from './broker-types.ts'
import type { EnvelopeTarget } from './envelope.ts'
import type { EnvelopeFactory } from './envelope-factory.ts'
import type { InboundDispatcher } from './inbound.ts'
import type { LinkPool } from './link-pool.ts'
import type { OutboxEntry } from './outbox.ts'
import type { MessageId } from './message-id.ts'
import type { EncodedPayload } from './payload.ts'
import type { PendingReplies } from './pending.ts'
import type { RpcLink } from './rpc-link.ts'

/** a request answered NotOwnerError is re-resolved and re-sent this way */
const REQUEST_OWNER_RETRY = retryPolicy({ initialDelayMs: 50, maxDelayMs: 500, maxAttempts: 4 })

/** an UnreachableError from a stream that never opened (link-pool.ts): the request never left */
const notSent = (err: unknown): boolean => err instanceof UnreachableError && err.details?.sent === false

export interface RpcClientInit {
  peerId: string
  telemetry: Telemetry
  clock: Clock
  rng: Rng
  links: LinkPool
  pending: PendingReplies
  envelopes: EnvelopeFactory
  inbound: InboundDispatcher
  /** the current agent resolver */
  resolver: () => AgentResolver | undefined
  sent: Counter
  rpcLatency: Histogram
  requestTimeoutMs?: number
  ackTimeoutMs?: number
}

export class RpcClient {
  private readonly init: RpcClientInit

  constructor (init: RpcClientInit) {
    this.init = init
  }

  private get links (): LinkPool { return this.init.links }
  private get pending (): PendingReplies { return this.init.pending }
  private get envelopes (): EnvelopeFactory { return this.init.envelopes }
  private get inbound (): InboundDispatcher { return this.init.inbound }
  private get sent (): Counter { return this.init.sent }
  private get rpcLatency (): Histogram { return this.init.rpcLatency }

  /** a request and its reply's payload (see MessageBroker.request) */
  async request (target: string | EnvelopeTarget, message: unknown, options: RequestOptions = {}): Promise<unknown> {
    const to = toTarget(target)
    const payload = encodePayload(message, options)
    const timeoutMs = options.timeoutMs ?? this.init.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
    const span = this.init.telemetry.startSpan('rpc.request', spanOptions('client', options.traceparent ?? '', { 'agentmesh.target': to.id }))
    const stopTimer = this.rpcLatency.startTimer()
    try {
      // the common case, a peer with an open stream and no caller signal: no AbortSignal, no retry
      // loop (only agent targets are retried), the timeout is a plain timer on the pending reply
      const link = to.kind === 'peer' && options.signal == null ? this.links.openLink(to.id) : undefined
      if (link != null) return await this.requestOverLink(link, to, payload, span.traceparent(), undefined, timeoutMs)
      const signal = combineSignals([options.signal], timeoutMs)
      // every attempt carries the first one's id: a request refused with NotOwnerError by a deposed
      // owner whose turn did run (the turn fence's 'superseded') is the same message to the new
      // owner, which answers it from the reply record that turn left, if it caught up from it,
      // instead of applying it a second time
      const id = this.envelopes.newId()
      return await retry(async () => await this.requestOnce(to, payload, span.traceparent(), signal, id), {
        clock: this.init.clock,
        rng: this.init.rng,
        policy: REQUEST_OWNER_RETRY,
        signal,
        // a deposed owner's refusal (agents only), or a stream that did not open: nothing was
        // sent, so trying again (the agent re-resolved, a fresh dial) cannot apply it twice
        isRetryable: (err) => (err instanceof NotOwnerError && to.kind === 'agent') || notSent(err)
      })
    } catch (err) {
      span.recordError(err)
      throw err
    } finally {
      stopTimer()
      span.end()
    }
  }

  /** one attempt: resolve, then over the stream (or to this peer's own handler) */
  /** `id`: the envelope id to send under (a fresh one when absent) */
  async requestOnce (to: EnvelopeTarget, payload: EncodedPayload, traceparent: string, signal: AbortSignal, id?: MessageId): Promise<unknown> {
    const peer = await this.resolvePeer(to, { signal })
    if (peer === this.init.peerId) {
      return await this.inbound.handleLocalRequest(await this.envelopes.sign(this.envelopes.build('request', 0, payload, traceparent, to, id)), { signal })
    }
    const link = await this.links.linkTo(peer, { signal })
    return await this.requestOverLink(link, to, payload, traceparent, signal, undefined, id)
  }

  private async requestOverLink (link: RpcLink, to: EnvelopeTarget, payload: EncodedPayload, traceparent: string, signal?: AbortSignal, timeoutMs?: number, id?: MessageId): Promise<unknown> {
    const built = this.envelopes.build('request', 0, payload, traceparent, to, id)
    const envelope = this.envelopes.signing ? await this.envelopes.sign(built) : built
    const reply = this.pending.expect(envelope.id, link.remotePeer, signal, timeoutMs, link)
    try {
      link.write(encodeEnvelope(envelope))
      this.sent.inc(1, KIND_LABELS.request)
    } catch (err) {
      this.pending.cancel(envelope.id)
      throw err
    }
    return await reply
  }

  /** one delivery attempt of an outbox entry: resolves when the receiver acked */
  async deliverOnce (entry: OutboxEntry, options: AbortOptions): Promise<void> {
    const target = entry.envelope.target
    if (target == null) throw new InvalidArgumentError(`outbox entry ${entry.id} has no target`)
    // one attempt, until the ack: a client span under the send's
    const span = this.init.telemetry.startSpan('broker.deliver-attempt', spanOptions('client', entry.envelope.traceparent, { 'agentmesh.target': target.id }))
    try {
      const signal = combineSignals([options.signal], this.init.ackTimeoutMs ?? ACK_TIMEOUT_MS)
      const peer = await this.resolvePeer(target, { signal })
      if (peer === this.init.peerId) { await this.inbound.handleLocalMessage(entry.envelope, span.traceparent()); return }
      const link = await this.links.linkTo(peer, { signal })
      const ack = this.pending.expect(entry.id, peer, signal, undefined, link)
      ack.catch(() => {}) // awaited below; this only keeps an early failure from going unhandled
      try {
        link.write(encodeEnvelope(entry.envelope))
        this.sent.inc(1, KIND_LABELS.message)
      } catch (err) {
        this.pending.cancel(entry.id)
        throw err
      }
      await ack
    } catch (err) {
      span.recordError(err)
      throw err
    } finally {
      span.end()
    }
  }

  private async resolvePeer (target: EnvelopeTarget, options: AbortOptions): Promise<string> {
    if (target.kind === 'peer') return target.id
    const resolver = this.init.resolver()
    if (resolver == null) throw new NotFoundError(`no resolver for agent ${target.id}`)
    const peer = await resolver(target.id, options)
    if (peer == null) throw new NotFoundError(`agent ${target.id} is not hosted anywhere known`)
    return peer
  }
}
