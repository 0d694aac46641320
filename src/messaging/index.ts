/**
 * Messaging: versioned envelopes, stream framing, hybrid logical clocks, ordering, dedup, retry
 * and the durable outbox — the parts the MessageBroker is built from.
 */
export * from './constants.ts'
export type {
  Envelope, EnvelopeKind, EnvelopeTarget, EnvelopeVersion, DecodedEnvelope, CorrelatedEnvelope,
  MessageEnvelope, RequestEnvelope, ReplyEnvelope, AckEnvelope, ErrorReplyEnvelope
} from './envelope.ts'
export {
  encodeEnvelope, decodeEnvelope, envelopeSigningBytes, validateEnvelope,
  isMessage, isRequest, isReply, isAck, isErrorReply, isCorrelated
} from './envelope.ts'
export type { MessageId, RandomBytes } from './message-id.ts'
export { createMessageId, cryptoRandomBytes, rngRandomBytes, isValidMessageId, parseMessageId, messageIdToBytes, messageIdFromBytes } from './message-id.ts'
export type { EncodedPayload } from './payload.ts'
export {
  CONTENT_TYPE_JSON, CONTENT_TYPE_OCTET_STREAM, jsonPayload, octetStreamPayload, readJsonPayload, readPayload,
  errorPayload, readErrorPayload
} from './payload.ts'
export type { StreamChunk, FrameOptions } from './framing.ts'
export { encodeFrame, FrameDecoder, decodeFrames } from './framing.ts'
export type { HlcTimestamp, HybridLogicalClockInit } from './hlc.ts'
export { HybridLogicalClock, HLC_ZERO, compareHlc, encodeHlc, decodeHlc, formatHlc, parseHlc, isValidHlc } from './hlc.ts'
export type { Sequenced, SequenceGap, OrderingResult, MessageOrderingInit } from './ordering.ts'
export { MessageOrdering, causalOrder } from './ordering.ts'
export type { DedupWindowInit, DedupKey } from './dedup.ts'
export { DedupWindow } from './dedup.ts'
export type { RetryPolicy, RetryOptions } from './retry.ts'
export { DEFAULT_RETRY_POLICY, retryPolicy, backoffCapMs, backoffDelayMs, retry, sleep } from './retry.ts'
export type { OutboxState, OutboxStatus, OutboxEntry, OutboxInit, OutboxStats } from './outbox.ts'
export { Outbox } from './outbox.ts'
export { MessageBroker } from './broker.ts'
export type {
  MessageBrokerComponents, MessageBrokerInit, BrokerLibp2p, BrokerPubsub, BrokerPubsubMessage, BrokerTopicValidator, BrokerTopicValidators, BrokerSigner, AgentResolver,
  ReceivedMessage, MessageHandler, RequestHandler, SendOptions, RequestOptions, SendResult,
  BrokerClockSkewSource
} from './broker-types.ts'
export { errorFromRemote } from './remote-error.ts'
