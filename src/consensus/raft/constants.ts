/** Defaults and limits of the Raft core; time is counted in ticks (the driver decides a tick's length). */

/** ticks without hearing from a leader before a follower campaigns (randomized in [n, 2n)) */
export const ELECTION_TICKS = 10
/** ticks between leader heartbeats */
export const HEARTBEAT_TICKS = 1
/** byte budget of entries in one append message (at least one entry is always sent) */
export const MAX_SIZE_PER_MSG_BYTES = 1024 * 1024
/** append messages in flight to one follower in replicate state */
export const MAX_INFLIGHT_MSGS = 256
/** byte budget of committed entries handed to the application in one Ready */
export const MAX_COMMITTED_SIZE_PER_READY_BYTES = 8 * 1024 * 1024
/** byte budget of proposed but uncommitted entries on a leader; beyond it proposals are dropped */
export const MAX_UNCOMMITTED_ENTRIES_BYTES = 64 * 1024 * 1024
/** ReadIndex requests waiting for a heartbeat quorum on a leader */
export const MAX_PENDING_READ_INDEX = 4096
/** ReadIndex requests a new leader holds until it has committed an entry of its term */
export const MAX_PENDING_READ_INDEX_MESSAGES = 4096
/** default chunk size when streaming a snapshot over the transport */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024
/** largest snapshot a reassembler accepts */
export const MAX_SNAPSHOT_BYTES = 1024 * 1024 * 1024
/** longest node id accepted in an encoded ConfChange */
export const MAX_NODE_ID_BYTES = 256
