/** Limits of the replicated key-value state machine. Every one is enforced by the codec and by apply(). */

/** longest key, in UTF-8 bytes */
export const MAX_KEY_BYTES = 4096
/** largest value */
export const MAX_VALUE_BYTES = 1024 * 1024
/** largest encoded command (a whole txn must fit) */
export const MAX_COMMAND_BYTES = 2 * 1024 * 1024
/** largest encoded result */
export const MAX_RESULT_BYTES = 64 * 1024 * 1024
/** most ops in one branch of a txn, and most compares (etcd's default --max-txn-ops) */
export const MAX_TXN_OPS = 128
/** most key-values a range returns (a larger limit is clamped; `more` says there were more) */
export const MAX_RANGE_RESULTS = 10_000
/** shortest and longest lease TTL */
export const MIN_LEASE_TTL_MS = 100
export const MAX_LEASE_TTL_MS = 7 * 24 * 60 * 60 * 1000
/** most live leases; a grant beyond fails with CapacityError */
export const MAX_LEASES = 100_000
/** most leases one expire-leases command names (more due ones go in the next) */
export const MAX_EXPIRE_LEASES_PER_COMMAND = 1_000
/** most fence keys remembered; a new fence beyond fails with CapacityError */
export const MAX_FENCES = 100_000
/** idempotency records kept; the oldest (by Raft index) is forgotten first */
export const MAX_IDEMPOTENCY_RECORDS = 10_000
/** longest request id, in UTF-8 bytes */
export const MAX_REQUEST_ID_BYTES = 256
/** longest error message kept in a result */
export const MAX_ERROR_MESSAGE_BYTES = 1024
/** largest snapshot restore() accepts */
export const MAX_KV_SNAPSHOT_BYTES = 1024 * 1024 * 1024
