/**
 * Wire and protocol constants of the messaging layer, with their units in the name.
 * Every decoder and buffer in src/messaging is bounded by one of these.
 */

/** envelope format version this peer writes; a different major is refused, a newer minor is read */
export const ENVELOPE_VERSION_MAJOR = 1
export const ENVELOPE_VERSION_MINOR = 0

/** the whole encoded envelope, signature included */
export const MAX_ENVELOPE_BYTES = 1024 * 1024
/** the payload inside one envelope (leaves room for the header fields) */
export const MAX_PAYLOAD_BYTES = MAX_ENVELOPE_BYTES - 8 * 1024
/** sender peer id, UTF-8 bytes (base58 Ed25519 ids are 52 chars, RSA ones longer) */
export const MAX_PEER_ID_BYTES = 128
/** agent id or peer id that an envelope is addressed to */
export const MAX_TARGET_ID_BYTES = 256
/** content type such as `application/json` */
export const MAX_CONTENT_TYPE_BYTES = 128
/** a W3C traceparent (version 00) is exactly 55 bytes */
export const MAX_TRACEPARENT_BYTES = 55
/** Ed25519 signatures are 64 bytes; RSA-4096 512 */
export const MAX_SIGNATURE_BYTES = 512
/** message ids are 16 random bytes */
export const MESSAGE_ID_BYTES = 16

/** one length-prefixed frame on an `/agentmesh/rpc/1.0.0` stream */
export const MAX_FRAME_BYTES = MAX_ENVELOPE_BYTES + 64

/** HLC limits: defined with the clock (src/util/hlc.ts), named here beside the other wire limits */
export { HLC_MAX_SKEW_MS, HLC_MAX_LOGICAL } from '../util/hlc.ts'

/** out-of-order messages held per sender while waiting for a gap to fill */
export const REORDER_BUFFER_MAX_MESSAGES = 1024
/** senders tracked by the ordering layer at once (least recently active is forgotten) */
export const ORDERING_MAX_SENDERS = 4096
/** a gap not repaired within this long is skipped (its messages are given up) */
export const ORDERING_SKIP_GAP_AFTER_MS = 10_000

/** recent message ids remembered for dedup */
export const DEDUP_MAX_IDS = 100_000
/** how long a message id is remembered for dedup */
export const DEDUP_WINDOW_MS = 10 * 60_000
/** sequence numbers above a sender's high-water mark remembered per sender */
export const DEDUP_MAX_SEQS_PER_SENDER = 4096
/** senders whose high-water mark is remembered (least recently seen is forgotten) */
export const DEDUP_MAX_SENDERS = 4096

/** retry: first delay cap, multiplier, largest delay cap and total attempts */
export const RETRY_INITIAL_DELAY_MS = 100
export const RETRY_MAX_DELAY_MS = 30_000
export const RETRY_MULTIPLIER = 2
export const RETRY_MAX_ATTEMPTS = 8

/** durable outbox bounds */
export const OUTBOX_MAX_ENTRIES = 10_000
export const OUTBOX_MAX_BYTES = 64 * 1024 * 1024
/** delivered entries stay queryable by status() at least this long before compaction removes them */
export const OUTBOX_DELIVERED_RETENTION_MS = 5 * 60_000
/** length of a failure reason kept in the outbox */
export const OUTBOX_MAX_REASON_CHARS = 512
/** outbox channels (destinations with their own sequence counter) */
export const OUTBOX_MAX_CHANNEL_CHARS = 300

/** direct messages and RPC between peers: `/agentmesh/rpc/<major>.<minor>.<patch>` */
export const RPC_PROTOCOL_PREFIX = '/agentmesh/rpc/'
/** version 1.0: one envelope per frame */
export const RPC_PROTOCOL = '/agentmesh/rpc/1.0.0'
/** version 2.0: a frame carries a batch of envelopes (`varuint count | (varbytes envelope)*`) */
export const RPC_PROTOCOL_V2 = '/agentmesh/rpc/2.0.0'
/** the RPC protocol versions this build implements, in preference order (multistream-select picks the first both speak) */
export const RPC_VERSIONS: readonly string[] = ['2.0.0', '1.0.0']
/** envelopes in one 2.0 batch frame */
export const RPC_BATCH_MAX_ENVELOPES = 256
/** bytes queued on one RPC stream waiting for the stream to drain; more is CapacityError */
export const RPC_LINK_MAX_QUEUED_BYTES = 16 * 1024 * 1024
/** a request without its own timeout fails with TimeoutError after this */
export const REQUEST_TIMEOUT_MS = 10_000
/** how long a sender waits for the ack of one delivery attempt */
export const ACK_TIMEOUT_MS = 5_000
/** requests and deliveries waiting for their reply or ack */
export const MAX_PENDING_REPLIES = 10_000
/** inbound requests being handled at once; more get an error-reply (CapacityError) */
export const MAX_INBOUND_REQUESTS_IN_FLIGHT = 256
/** attempts to deliver an outbox entry before it is marked failed (refusals for this peer's clock do not count) */
export const DELIVERY_MAX_ATTEMPTS = 20
/** `details.reason` of a ClockSkewError (a refusal for the sender's clock) and its error-reply `reason` */
export { CLOCK_SKEW_REASON } from '../errors.ts'
/** added to the time a clock-skew refusal says the stamp needs to come within the bound */
export const CLOCK_SKEW_RETRY_MARGIN_MS = 250
/** longest wait before a delivery refused for this peer's clock is tried again (not counted as an attempt) */
export const DELIVERY_CLOCK_HOLD_MAX_MS = 30_000
/**
 * most time one delivery spends in such uncounted waits: a stamp that is still refused after it is
 * not this sender's clock running ahead (that passes with time) but the receiver's running behind,
 * and the entry fails rather than waiting for ever
 */
export const DELIVERY_CLOCK_HOLD_TOTAL_MAX_MS = 10 * 60_000
/** while this peer is the clock outlier, deliveries wait; how often they look again (a synced event wakes them sooner) */
export const DELIVERY_OUTLIER_RECHECK_MS = 1_000
/** opening an RPC stream to a peer */
export const RPC_DIAL_TIMEOUT_MS = 5_000
/** user topic names */
export const MAX_TOPIC_CHARS = 200
/** how often the broker applies the ordering skip policy and compacts the outbox */
export const BROKER_MAINTENANCE_INTERVAL_MS = 1_000

/** publications a publisher keeps per topic to resend on request (topic gap repair) */
export const TOPIC_REPLAY_MAX_MESSAGES = 1024
/** bytes of kept publications, all topics together */
export const TOPIC_REPLAY_MAX_BYTES = 8 * 1024 * 1024
/** publications asked for in one resend request */
export const GAP_REPAIR_MAX_MESSAGES = 256
/** a receiver asks again for the same stream's gap at most this often */
export const GAP_REPAIR_INTERVAL_MS = 500
/** content type of a resend request (JSON `{ topic, fromSeq, toSeq }`) */
export const RESEND_CONTENT_TYPE = 'application/vnd.agentmesh.resend+json'

/** an inbound request or direct message whose handler runs longer is answered TimeoutError / not acked */
export const HANDLER_TIMEOUT_MS = 30_000

/** publication seqs reserved per synced write of the counter (a crash skips at most this many) */
export const PUBLICATION_SEQ_BLOCK = 256
