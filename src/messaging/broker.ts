/**
 * MessageBroker: topics over gossipsub (publishMessage / subscribe), durable direct sends with ack,
 * retry and dedup (send / ensureDelivery), and RPC (request) over `/agentmesh/rpc/<version>` streams
 * that are kept open and reused per peer. Agent targets are resolved to peers by a resolver hook.
 * Every envelope carries a hybrid logical clock and the caller's traceparent; inbound messages are
 * decoded, checked against the authenticated sender, deduplicated and ordered (FIFO per sender
 * and channel) before handlers see them.
 */
import * as encoding from 'lib0/encoding'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { ClockSkewError, InvalidArgumentError, InvalidMessageError, NotStartedError, UnreachableError } from '../errors.ts'
import { combineSignals, throwIfAborted } from '../util/abort.ts'
import { componentLogger } from '../util/logger.ts'
import {
  BROKER_MAINTENANCE_INTERVAL_MS, DELIVERY_MAX_ATTEMPTS, GAP_REPAIR_INTERVAL_MS, MAX_TOPIC_CHARS,
  ORDERING_MAX_SENDERS, PUBLICATION_SEQ_BLOCK,
  REQUEST_TIMEOUT_MS
} from './constants.ts'
import { DedupWindow } from './dedup.ts'
import { DeliveryWorker } from './delivery.ts'
import { encodeEnvelope } from './envelope.ts'
import { HybridLogicalClock } from './hlc.ts'
import { InboundDispatcher } from './inbound.ts'
import { KIND_LABELS, spanOptions } from './inbound-support.ts'
import { EnvelopeFactory, encodePayload, toTarget } from './envelope-factory.ts'
import { RpcClient } from './rpc-client.ts'
import { MessageOrdering } from './ordering.ts'
import { Outbox } from './outbox.ts'
import { PendingReplies } from './pending.ts'
import { LinkPool, rpcProtocols } from './link-pool.ts'
import { TopicReplay, resendRequestPayload, unpackEnvelopes } from './topic-replay.ts'
import { retryPolicy } from './retry.ts'
import { registerBrokerHealth } from './broker-health.ts'
import { decodeStrictly, readUint } from './wire.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Logger } from '../util/logger.ts'
import type { TimerHandle } from '../util/clock.ts'
import type {
  AgentResolver, BrokerPubsubMessage, BrokerTopicValidator, MessageBrokerComponents, MessageBrokerInit, MessageHandler, ReceivedMessage,
  RequestHandler, RequestOptions, SendOptions, SendResult
} from './broker-types.ts'
import type { Envelope, EnvelopeTarget } from './envelope.ts'
import type { MessageId } from './message-id.ts'
import type { OrderingResult, SequenceGap } from './ordering.ts'
import type { OutboxStatus } from './outbox.ts'
import type { Counter } from '../monitoring/types.ts'
import type { Store } from '../storage/types.ts'

const VERDICTS = { accept: TopicValidatorResult.Accept, reject: TopicValidatorResult.Reject, ignore: TopicValidatorResult.Ignore } as const


export class MessageBroker {
  private readonly components: MessageBrokerComponents
  private readonly init: MessageBrokerInit
  private readonly log: Logger
  private readonly hlc: HybridLogicalClock
  private readonly pending: PendingReplies
  private readonly inbound: InboundDispatcher
  private readonly batchOrdering: MessageOrdering<Envelope>
  private readonly links: LinkPool
  private readonly envelopes: EnvelopeFactory
  private readonly rpc: RpcClient
  private readonly topicHandlers = new Map<string, Set<MessageHandler>>()
  private readonly topicSeqs = new Map<string, number>()
  /** per topic, the highest seq durably reserved: after a crash, publishing resumes above it */
  private readonly topicReserved = new Map<string, Promise<number>>()
  /** per topic, the highest seq whose reservation is stored (what `topicReserved` resolved to) */
  private readonly topicReservedUpTo = new Map<string, number>()
  private readonly replay = new TopicReplay()
  /** stream -> when its gap was last asked for */
  private readonly repairAskedAt = new Map<string, number>()
  private readonly sent: Counter
  private pubSeqStore: Store | undefined
  private resolver: AgentResolver | undefined
  private outbox: Outbox | undefined
  private delivery: DeliveryWorker | undefined
  private maintenance: TimerHandle | undefined
  private started = false

  constructor (components: MessageBrokerComponents, init: MessageBrokerInit = {}) {
    this.components = components
    this.init = init
    this.log = componentLogger('messaging', components.logger)
    this.resolver = init.resolver
    this.hlc = new HybridLogicalClock(components.clock)
    this.envelopes = new EnvelopeFactory({
      peerId: components.peerId, hlc: this.hlc, randomBytes: components.randomBytes, privateKey: components.privateKey, signEnvelopes: init.signEnvelopes
    })
    this.pending = new PendingReplies(components.clock)
    this.links = new LinkPool(components.libp2p, this.log, (frame, link) => { this.inbound.onStreamFrame(frame, link) }, rpcProtocols(init.rpcVersions),
      // what went out on a stream that closed gets no answer: fail it now rather than at its timeout
      (link) => { this.pending.linkClosed(link, new UnreachableError(`rpc stream to ${link.remotePeer} closed before the answer`)) })
    this.batchOrdering = new MessageOrdering<Envelope>(components.clock, { skipGapAfterMs: init.skipGapAfterMs })
    const metrics = components.telemetry.metrics
    this.inbound = new InboundDispatcher({
      peerId: components.peerId,
      clock: components.clock,
      log: this.log,
      hlc: this.hlc,
      pending: this.pending,
      telemetry: components.telemetry,
      dedup: new DedupWindow(components.clock),
      ordering: new MessageOrdering(components.clock, { startAtFirstSeen: true, skipGapAfterMs: init.skipGapAfterMs, streamOf: m => m.stream }),
      topicHandlers: this.topicHandlers,
      reply: (link, build) => {
        const answer = build(this.envelopes.baseFields())
        if (!this.envelopes.signing) { link.write(encodeEnvelope(answer)); return }
        this.envelopes.encodeSigned(answer).then(bytes => { link.write(bytes) }, (err: Error) => { this.log('answer to %s not sent: %s', link.remotePeer, err.message) })
      },
      replay: this.replay,
      requestRepair: (gap) => { this.requestRepair(gap) },
      received: metrics.counter('agentmesh_messaging_received_total', { help: 'envelopes received, by kind', labelNames: ['kind'] }),
      dropped: metrics.counter('agentmesh_messaging_dropped_total', { help: 'inbound envelopes dropped, by reason', labelNames: ['reason'] }),
      validated: metrics.counter('agentmesh_messaging_publications_validated_total', {
        help: 'publications checked before gossipsub delivers or forwards them, by result (accept, reject, ignore)', labelNames: ['result']
      })
    })
    this.sent = metrics.counter('agentmesh_messaging_sent_total', { help: 'envelopes sent by this peer, by kind', labelNames: ['kind'] })
    this.rpc = new RpcClient({
      peerId: components.peerId,
      telemetry: components.telemetry,
      clock: components.clock,
      rng: components.rng,
      links: this.links,
      pending: this.pending,
      envelopes: this.envelopes,
      inbound: this.inbound,
      resolver: () => this.resolver,
      sent: this.sent,
      rpcLatency: metrics.histogram('agentmesh_rpc_latency_seconds', { help: 'request to reply, as the caller sees it' }),
      requestTimeoutMs: init.requestTimeoutMs,
      ackTimeoutMs: init.ackTimeoutMs
    })
    registerBrokerHealth(components.telemetry, () => this.started, () => this.outbox?.stats())
  }

  get peerId (): string {
    return this.components.peerId
  }

  async start (options: AbortOptions = {}): Promise<void> {
    if (this.started) return
    const { libp2p, store, clock, rng } = this.components
    this.outbox = await Outbox.open(store.sub('outbox/'), { clock }, options)
    this.pubSeqStore = store.sub('pubseq/')
    for await (const [key, value] of this.pubSeqStore.entries()) {
      try {
        this.topicSeqs.set(decodeURIComponent(key), decodeStrictly('publication seq', value, d => readUint(d, 'seq')))
      } catch (err) {
        this.log.error('unreadable publication counter %s: %s', key, (err as Error).message)
      }
    }
    this.delivery = new DeliveryWorker({
      outbox: this.outbox,
      clock,
      rng,
      log: this.log,
      policy: retryPolicy({ maxAttempts: DELIVERY_MAX_ATTEMPTS, ...this.init.deliveryRetry }),
      deliverOnce: async (entry, opts) => { await this.rpc.deliverOnce(entry, opts) },
      holdReason: () => {
        const why = this.clockOutlier()
        return why === undefined ? undefined : `${why} (waiting for network:clock-synced)`
      }
    })
    await libp2p.handle(this.links.protocols, (stream, connection) => {
      this.links.adopt(stream, connection.remotePeer.toString())
    }, { runOnLimitedConnection: true, maxInboundStreams: 64 })
    libp2p.services.pubsub.addEventListener('message', this.onPubsubMessage)
    this.started = true
    await this.delivery.start()
    this.maintenance = clock.setInterval(() => { this.runMaintenance() }, BROKER_MAINTENANCE_INTERVAL_MS)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    const { libp2p, clock } = this.components
    clock.clearInterval(this.maintenance)
    this.maintenance = undefined
    libp2p.services.pubsub.removeEventListener('message', this.onPubsubMessage)
    for (const topic of this.topicHandlers.keys()) {
      libp2p.services.pubsub.unsubscribe(topic)
      libp2p.services.pubsub.topicValidators.delete(topic)
    }
    this.topicHandlers.clear()
    this.replay.clear()
    // a clean stop keeps the exact counters, so a restart continues without a gap
    for (const [topic, seq] of this.topicSeqs) {
      await this.pubSeqStore?.put(encodeURIComponent(topic), encoding.encode(e => { encoding.writeVarUint(e, seq) }), { sync: true })
        .catch((err: Error) => { this.log.error('publication counter of %s not stored: %s', topic, err.message) })
    }
    this.topicReserved.clear()
    this.topicReservedUpTo.clear()
    this.repairAskedAt.clear()
    await this.delivery?.stop()
    this.pending.rejectAll(new NotStartedError('broker stopped'))
    await libp2p.unhandle(this.links.protocols).catch(() => {})
    await this.links.closeAll()
  }

  /** the RPC protocol major version spoken with `peer` right now (undefined: no stream open) */
  rpcVersionWith (peer: string): number | undefined {
    return this.links.versionWith(peer)
  }

  /** how agent ids are turned into peer ids (set by the agents layer) */
  setResolver (resolver: AgentResolver | undefined): void {
    this.resolver = resolver
  }

  /** handles requests addressed to this peer or its agents */
  setRequestHandler (handler: RequestHandler | undefined): void {
    this.inbound.requestHandler = handler
  }

  /** handles direct messages (`send`) addressed to this peer or its agents */
  setMessageHandler (handler: MessageHandler | undefined): void {
    this.inbound.messageHandler = handler
  }

  /** broadcasts on a topic to every subscriber in the mesh (this peer's own subscribers included) */
  async publishMessage (topic: string, message: unknown, options: SendOptions = {}): Promise<{ id: MessageId, recipients: number }> {
    this.assertStarted()
    throwIfAborted(options.signal)
    const full = this.topicName(topic)
    const span = this.components.telemetry.startSpan('broker.publish', spanOptions('producer', options.traceparent ?? '', { 'agentmesh.topic': topic }))
    try {
      const seq = (this.topicSeqs.get(full) ?? 0) + 1
      this.topicSeqs.set(full, seq)
      const envelope = this.envelopes.build('message', seq, encodePayload(message, options), span.traceparent())
      const bytes = this.envelopes.signing ? await this.envelopes.encodeSigned(envelope) : encodeEnvelope(envelope)
      // subscribers drop a seq they have seen, so a restarted publisher must never reuse one
      // (stored once per PUBLICATION_SEQ_BLOCK: in between, no await here)
      if (seq > (this.topicReservedUpTo.get(full) ?? 0)) await this.reservePublicationSeq(full, seq)
      this.replay.remember(full, seq, bytes)
      const { recipients } = await this.components.libp2p.services.pubsub.publish(full, bytes)
      this.sent.inc(1, KIND_LABELS.publication)
      this.inbound.deliverToTopic(full, envelope)
      return { id: envelope.id, recipients: recipients.length }
    } catch (err) {
      span.recordError(err)
      throw err
    } finally {
      span.end()
    }
  }

  /** calls `handler` for every message on the topic, in order per sender; returns the unsubscribe */
  subscribe (topic: string, handler: MessageHandler): () => void {
    this.assertStarted()
    const full = this.topicName(topic)
    let set = this.topicHandlers.get(full)
    if (set == null) {
      set = new Set()
      this.topicHandlers.set(full, set)
      // checked before gossipsub delivers or forwards anything on it
      this.components.libp2p.services.pubsub.topicValidators.set(full, this.validatePublication)
      this.components.libp2p.services.pubsub.subscribe(full)
    }
    set.add(handler)
    return () => {
      const s = this.topicHandlers.get(full)
      if (s == null || !s.delete(handler) || s.size > 0) return
      this.topicHandlers.delete(full)
      if (!this.started) return
      this.components.libp2p.services.pubsub.unsubscribe(full)
      this.components.libp2p.services.pubsub.topicValidators.delete(full)
    }
  }

  /**
   * durable direct message: resolves once it is written to the outbox (it survives a restart);
   * delivery (ack, retry, dedup) continues in the background — await `ensureDelivery(id)` for it.
   * A string target is an agent id. ClockSkewError (HTTP 503) while this peer is the mesh's clock
   * outlier: nothing is accepted, the caller sends through another peer.
   */
  async send (target: string | EnvelopeTarget, message: unknown, options: SendOptions = {}): Promise<SendResult> {
    this.assertStarted()
    const outlier = this.clockOutlier()
    if (outlier !== undefined) {
      // its stamps would be refused until its clock is set right and real time has caught up
      // with the furthest it read: accepting now would promise what this peer cannot keep soon
      throw new ClockSkewError(`${outlier}: durable sends are refused here; send through another peer`)
    }
    const to = toTarget(target)
    const payload = encodePayload(message, options)
    const channel = `${to.kind}:${to.id}`
    // accepting into the outbox; every delivery attempt and the receiver's handling are its children
    const span = this.components.telemetry.startSpan('broker.send', spanOptions('producer', options.traceparent ?? '', { 'agentmesh.target': to.id }))
    try {
      const entry = await (this.outbox as Outbox).accept(channel, async (seq) => {
        const env = this.envelopes.build('message', seq, payload, span.traceparent(), to)
        return await this.envelopes.sign(env)
      }, options)
      this.delivery?.kick(channel)
      return { id: entry.id, seq: entry.seq }
    } catch (err) {
      span.recordError(err)
      throw err
    } finally {
      span.end()
    }
  }

  /** waits until a sent message is acked (UnreachableError with the reason if it was given up) */
  async ensureDelivery (id: MessageId, options: AbortOptions = {}): Promise<OutboxStatus> {
    this.assertStarted()
    return await (this.delivery as DeliveryWorker).ensureDelivery(id, options)
  }

  /**
   * retries now every durable message waiting out a backoff (call when the network heals or a
   * peer comes back: a backoff grown while it was out of reach can be up to 30 s)
   */
  retryPendingNow (): void {
    this.delivery?.wake()
  }

  /** why this peer's stamps are refused by the mesh now (it is the clock outlier), or undefined */
  private clockOutlier (): string | undefined {
    const status = this.components.clockSkew?.clockSkewStatus()
    if (status?.outlier !== true) return undefined
    return `this peer's wall clock is the mesh's outlier (~${Math.round(-status.offsetMs / 1000)} s off the others)`
  }

  /** a sent message's state: pending / delivered / failed, or undefined if unknown */
  status (id: MessageId): OutboxStatus | undefined {
    return this.outbox?.status(id)
  }

  /**
   * RPC: sends a request to an agent (string) or peer and resolves with the reply's payload. When
   * the peer answers NotOwnerError (the agent just moved) the target is resolved again and the
   * request re-sent, a few times.
   */
  async request (target: string | EnvelopeTarget, message: unknown, options: RequestOptions = {}): Promise<unknown> {
    this.assertStarted()
    return await this.rpc.request(target, message, options)
  }

  /** orders a batch of envelopes: FIFO per sender, causal (HLC) across senders, with the gaps left */
  handleMessageOrdering (messages: Iterable<Envelope>): OrderingResult<Envelope> {
    return this.batchOrdering.handleMessageOrdering(messages)
  }

  private readonly validatePublication: BrokerTopicValidator = (_source, msg) => {
    const verdict = this.inbound.validatePublication(msg)
    return verdict instanceof Promise ? verdict.then(v => VERDICTS[v]) : VERDICTS[verdict]
  }

  private readonly onPubsubMessage = (evt: CustomEvent<BrokerPubsubMessage>): void => {
    this.inbound.onPubsubMessage(evt.detail)
  }

  /** asks the publisher of a topic stream to resend its gap (at most every GAP_REPAIR_INTERVAL_MS) */
  private requestRepair (gap: SequenceGap): void {
    const now = this.components.clock.monotonic()
    const last = this.repairAskedAt.get(gap.stream)
    if (!this.started || (last != null && now - last < GAP_REPAIR_INTERVAL_MS)) return
    if (this.repairAskedAt.size >= ORDERING_MAX_SENDERS) this.repairAskedAt.clear()
    this.repairAskedAt.set(gap.stream, now)
    const publisher = gap.stream.slice(0, gap.stream.indexOf('|'))
    const topic = gap.stream.slice(gap.stream.indexOf('|t|') + 3)
    const signal = combineSignals([], this.init.requestTimeoutMs ?? REQUEST_TIMEOUT_MS)
    this.rpc.requestOnce({ kind: 'peer', id: publisher }, resendRequestPayload({ topic, fromSeq: gap.fromSeq, toSeq: gap.toSeq }), '', signal)
      .then(reply => {
        if (!(reply instanceof Uint8Array)) throw new InvalidMessageError('resend reply must be bytes')
        for (const wire of unpackEnvelopes(reply)) this.inbound.acceptResent(wire, publisher, topic)
      })
      .catch(err => { this.log('gap repair from %s failed: %s', publisher, (err as Error).message) })
  }

  private runMaintenance (): void {
    this.inbound.expireGaps()
    this.outbox?.compact().catch(err => { this.log('outbox compaction failed: %s', (err as Error).message) })
  }

  /**
   * Makes sure `seq` is below a durably stored reservation: one synced write per
   * PUBLICATION_SEQ_BLOCK publications. A crashed publisher restarts above its last reservation
   * (subscribers see a gap, never a reused seq); a clean stop stores the exact counter.
   */
  private async reservePublicationSeq (topic: string, seq: number): Promise<void> {
    const current = this.topicReserved.get(topic)
    if (current != null && seq <= await current) return
    const store = this.pubSeqStore
    if (store == null) return
    const reserved = seq + PUBLICATION_SEQ_BLOCK - 1
    const write = store.put(encodeURIComponent(topic), encoding.encode(e => { encoding.writeVarUint(e, reserved) }), { sync: true })
      .then(() => {
        if (reserved > (this.topicReservedUpTo.get(topic) ?? 0)) this.topicReservedUpTo.set(topic, reserved)
        return reserved
      })
    this.topicReserved.set(topic, write.catch(() => 0))
    await write
  }

  private topicName (topic: string): string {
    if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_CHARS) {
      throw new InvalidArgumentError(`topic must be 1..${MAX_TOPIC_CHARS} chars`)
    }
    return `agentmesh/${this.init.mesh ?? 'default'}/v1/t/${topic}`
  }

  private assertStarted (): void {
    if (!this.started) throw new NotStartedError('message broker is not started')
  }
}

export type { ReceivedMessage }
