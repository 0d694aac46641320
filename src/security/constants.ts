/** Wire format of membership credentials. */
export const CREDENTIAL_VERSION_MAJOR = 1
export const CREDENTIAL_VERSION_MINOR = 0
/** Largest encoded credential accepted (bytes, before base64). */
export const MAX_CREDENTIAL_BYTES = 2048
/** Largest credential text (base64url) accepted from a record, a flag or an HTTP body. */
export const MAX_CREDENTIAL_CHARS = 4096
export const MAX_CREDENTIAL_ROLES = 8
export const MAX_PEER_ID_CHARS = 128
/** Largest admin key text (base64 of a protobuf key) accepted from a flag or file. */
export const MAX_KEY_TEXT_CHARS = 1024
/** A credential may be honoured this long past its expiry, for clocks that disagree a little. */
export const CREDENTIAL_CLOCK_SKEW_MS = 5_000
/** Longest credential lifetime the relay endpoint issues (a tab's token is short-lived). */
export const MAX_ISSUED_CREDENTIAL_TTL_MS = 24 * 60 * 60_000
export const DEFAULT_ISSUED_CREDENTIAL_TTL_MS = 60 * 60_000
/** Verified credentials remembered by an authority (one per peer). */
export const MAX_VERIFIED_CREDENTIALS = 10_000
/** At most one "refused" log line per peer and role in this interval. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000

/** Field of a node record's `ext` that carries the peer's credential. */
export const CREDENTIAL_EXT_KEY = 'credential'
/** Signature domain: a credential signature can never be mistaken for another signed message. */
export const CREDENTIAL_SIGNATURE_DOMAIN = 'agentmesh/credential/v1'

// ---- flood protection ----------------------------------------------------------------------

/** Messages per second one author may publish on our topics (sustained), and the burst allowed. */
export const PUBLISH_RATE_PER_S = 2000
export const PUBLISH_BURST = 4000
/** New inbound streams per second one peer may open on our protocols, and the burst. */
export const STREAM_RATE_PER_S = 200
export const STREAM_BURST = 400
/** Inbound bytes per second one peer may send on our stream protocols, and the burst. */
export const STREAM_BYTES_PER_S = 8 * 1024 * 1024
export const STREAM_BYTES_BURST = 32 * 1024 * 1024
/** Peers whose buckets are remembered (the least recently seen are forgotten first). */
export const MAX_RATE_LIMITED_PEERS = 4096
/** Score penalty (gossipsub application-specific score) per invalid or excess message. */
export const PENALTY_PER_OFFENCE = 10
/** The penalty halves every this many ms, and never exceeds the cap. */
export const PENALTY_HALF_LIFE_MS = 10_000
export const MAX_PENALTY = 1000
/** Gossipsub thresholds: below graylist a peer's RPCs are ignored altogether. */
export const GOSSIP_THRESHOLD = -10
export const PUBLISH_THRESHOLD = -50
export const GRAYLIST_THRESHOLD = -80
/** At most one "throttled" log line per peer and kind in this interval. */
export const FLOOD_LOG_INTERVAL_MS = 10_000
