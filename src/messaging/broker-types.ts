/**
 * The MessageBroker's contract: the narrow components it runs over (so a unit test can stub
 * them), its options, and what handlers receive.
 */
import type { TopicValidatorResult } from '@libp2p/gossipsub'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Rng } from '../util/prng.ts'
import type { Store } from '../storage/types.ts'
import type { Telemetry } from '../monitoring/types.ts'
import type { ComponentLogger } from '../util/logger.ts'
import type { Envelope, EnvelopeTarget } from './envelope.ts'
import type { HlcTimestamp } from './hlc.ts'
import type { MessageId, RandomBytes } from './message-id.ts'
import type { RpcStream } from './rpc-link.ts'
import type { RetryPolicy } from './retry.ts'

/** a message as gossipsub hands it over (signed with StrictSign: `from` is authenticated) */
export interface BrokerPubsubMessage {
  type: 'signed' | 'unsigned'
  topic: string
  data: Uint8Array
  from?: { toString: () => string, toMultihash?: () => { bytes: Uint8Array } }
}

/**
 * gossipsub's per-topic validator: runs before a received publication is delivered or forwarded;
 * 'reject' / 'ignore' keep it from going any further ('reject' also scores the forwarder down)
 */
export type BrokerTopicValidator = (propagationSource: { toString: () => string }, message: BrokerPubsubMessage) =>
  TopicValidatorResult | Promise<TopicValidatorResult>

/** the part of gossipsub's `topicValidators` map the broker uses */
export interface BrokerTopicValidators {
  set (topic: string, validator: BrokerTopicValidator): unknown
  delete (topic: string): boolean
}

/** what the broker uses of gossipsub */
export interface BrokerPubsub {
  /** topic -> validator (gossipsub's `topicValidators`); the broker sets one per subscribed topic */
  topicValidators: BrokerTopicValidators
  subscribe: (topic: string) => void
  unsubscribe: (topic: string) => void
  publish: (topic: string, data: Uint8Array) => Promise<{ recipients: unknown[] }>
  addEventListener: (type: 'message', listener: (evt: CustomEvent<BrokerPubsubMessage>) => void) => void
  removeEventListener: (type: 'message', listener: (evt: CustomEvent<BrokerPubsubMessage>) => void) => void
}

/** what the broker uses of the libp2p node */
export interface BrokerLibp2p {
  handle: (protocols: string | string[], handler: (stream: any, connection: { remotePeer: { toString: () => string } }) => void | Promise<void>, options?: { maxInboundStreams?: number, maxOutboundStreams?: number, runOnLimitedConnection?: boolean }) => Promise<void>
  unhandle: (protocols: string | string[]) => Promise<void>
  dialProtocol: (peer: any, protocols: string | string[], options?: AbortOptions & { runOnLimitedConnection?: boolean, force?: boolean }) => Promise<RpcStream>
  services: { pubsub: BrokerPubsub }
}

/** signs the envelope's signing bytes with this peer's key (libp2p PrivateKey.sign fits) */
export interface BrokerSigner {
  sign: (data: Uint8Array) => Uint8Array | Promise<Uint8Array>
}

export interface MessageBrokerComponents {
  libp2p: BrokerLibp2p
  /** this peer's id, text form */
  peerId: string
  telemetry: Telemetry
  /** where the outbox lives (the broker uses `store.sub('outbox/')`) */
  store: Store
  clock: Clock
  rng: Rng
  /** signs envelopes when `signEnvelopes` is on (libp2p's PrivateKey fits) */
  privateKey?: BrokerSigner
  /** message id source (default: Web Crypto) */
  randomBytes?: RandomBytes
  /** where the broker's log lines go (default: the `agentmesh:messaging` debug logger) */
  logger?: ComponentLogger
  /**
   * this peer's clock verdict (NetworkManager fits). While it is the mesh's clock outlier its
   * stamps are refused by the others: `send` refuses new durable messages (ClockSkewError, 503)
   * and queued deliveries wait, without using up attempts
   */
  clockSkew?: BrokerClockSkewSource
}

/** what the broker reads of the network's clock-skew detector */
export interface BrokerClockSkewSource {
  clockSkewStatus: () => { outlier: boolean, offsetMs: number }
}

/** agent id -> the peer currently hosting it (undefined: nowhere known) */
export type AgentResolver = (agentId: string, options?: AbortOptions) => Promise<string | undefined> | string | undefined

export interface MessageBrokerInit {
  /** mesh name, for topic names `agentmesh/<mesh>/v1/t/<topic>` */
  mesh?: string
  resolver?: AgentResolver
  requestTimeoutMs?: number
  ackTimeoutMs?: number
  /** backoff for durable deliveries (maxAttempts included) */
  deliveryRetry?: Partial<RetryPolicy>
  /**
   * sign every envelope with `privateKey` (default false). Streams are already authenticated by
   * Noise and gossipsub messages by StrictSign, so this is for envelopes that will be relayed or
   * stored and checked later; it costs about 5x in RPC throughput (Ed25519 sign + verify per hop).
   * Signatures that arrive are always verified.
   */
  signEnvelopes?: boolean
  /** gaps in a sender's direct messages are skipped after this long */
  skipGapAfterMs?: number
  /**
   * RPC protocol versions to speak, preferred first (default RPC_VERSIONS: 2.0.0, 1.0.0). Two peers
   * talk the first version of the dialler's list that the other also speaks; none in common is
   * UnsupportedVersionError. Only versions this build implements are accepted.
   */
  rpcVersions?: string[]
}

/** what subscribers and the message handler receive */
export interface ReceivedMessage {
  id: MessageId
  /** sender's peer id */
  from: string
  /** the user topic (publications only) */
  topic?: string
  target?: EnvelopeTarget
  seq: number
  hlc: HlcTimestamp
  /**
   * W3C traceparent of the span this message is handled in (its parent is the sender's span, so
   * it is in the sender's trace): pass it as `options.traceparent` to requests, sends and
   * publications made while handling it and they join the same trace. The sender's own value is
   * `envelope.traceparent`.
   */
  traceparent: string
  contentType: string
  /** the payload: parsed JSON, or bytes for application/octet-stream */
  data: unknown
  envelope: Envelope
}

export type MessageHandler = (message: ReceivedMessage) => void | Promise<void>
/** answers a request; what it returns is the reply, what it throws becomes an error-reply */
export type RequestHandler = (request: ReceivedMessage, options: AbortOptions) => unknown

export interface SendOptions extends AbortOptions {
  /** 'application/octet-stream' to send a Uint8Array as is; JSON otherwise */
  contentType?: string
  /** W3C traceparent of the caller's span */
  traceparent?: string
}

export interface RequestOptions extends SendOptions {
  timeoutMs?: number
}

export interface SendResult {
  id: MessageId
  seq: number
}
