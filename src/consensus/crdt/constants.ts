/** Limits and protocol constants of the replicated documents (units in the names). */

/** major version of every message this folder puts on the wire */
export const CRDT_WIRE_VERSION = 1

/** libp2p protocol of the catch-up exchange */
export const SYNC_PROTOCOL = '/agentmesh/sync/1.0.0'

/**
 * a stream frame never exceeds this, so a frame plus a transport's length prefix (at most
 * 3 bytes) fits one WebRTC data channel message (16 KiB)
 */
export const MAX_FRAME_BYTES = 16 * 1024 - 4

/**
 * frames on libp2p streams may be this big (a whole sync message of the largest doc, so the
 * receiver joins its chunks once): libp2p itself splits a write into messages its transport
 * accepts (16 KiB on WebRTC data channels). The receiver's memory grows with the data received,
 * never with the announced length.
 */
export const LIBP2P_MAX_FRAME_BYTES = 32 * 1024 * 1024 + 64 * 1024

/** a gossip message never exceeds this; bigger updates are announced and pulled over a stream */
export const MAX_GOSSIP_MESSAGE_BYTES = 64 * 1024

/**
 * a burst of local updates leaves as UPDATE messages of at most MAX_GOSSIP_MESSAGE_BYTES each;
 * groups of at most this many are merged into one update (Y.mergeUpdates costs ~25 µs per update
 * and grows faster than linearly), bigger groups travel as an UPDATES list applied in one transaction
 */
export const MERGE_UPDATES_MAX = 32

/** a burst needing more gossip messages than this is announced and pulled over a sync stream instead */
export const MAX_GOSSIP_MESSAGES_PER_BURST = 64

/**
 * a received update at least this big is persisted as received, instead of as Yjs' re-encoding
 * of what it changed (which costs a second pass over it)
 */
export const DIRECT_PERSIST_MIN_BYTES = 64 * 1024

/** largest single update accepted from a peer (gossip or one sync step 2) */
export const MAX_UPDATE_BYTES = 16 * 1024 * 1024

/** largest encoded document a peer will hold */
export const MAX_DOC_BYTES = 32 * 1024 * 1024

/** largest encoded state vector accepted from a peer */
export const MAX_STATE_VECTOR_BYTES = 64 * 1024

export const MAX_DOC_ID_LENGTH = 200

/** peer ids on the wire (owner, holders) are at most this long */
export const MAX_PEER_ID_LENGTH = 256

/** a HOLDERS message lists at most this many peers */
export const MAX_HOLDERS_LISTED = 64

/** documents one replicator holds at most (own and replica) */
export const MAX_DOCS = 10_000

/** holders besides the owner */
export const DEFAULT_REPLICAS = 2

/** every holder publishes its state-vector digest this often */
export const ANTI_ENTROPY_INTERVAL_MS = 5_000

/** no new sync with the same peer for the same doc within this window */
export const SYNC_COOLDOWN_MS = 1_000

/**
 * a doc's whole encoding, once sent to a late joiner or written by compaction, is kept (until the
 * doc changes) for this long after it was last used: the next late joiner is answered without
 * encoding the doc again
 */
export const FULL_STATE_KEEP_MS = 30_000

/** one catch-up exchange must finish within this */
export const SYNC_TIMEOUT_MS = 30_000

export const MAX_CONCURRENT_SYNCS = 64

/**
 * outbound syncs with one peer at a time (the others queue): libp2p's muxer aborts a connection
 * that is sent more than 10 streams before its far end has set it up, which a burst of one sync
 * per doc at a peer's join did (peer-slots.ts)
 */
export const MAX_SYNCS_PER_PEER = 4

/** compaction merges the update log once it holds this many entries ... */
export const COMPACT_AFTER_UPDATES = 200

/** ... or this many bytes */
export const COMPACT_AFTER_BYTES = 4 * 1024 * 1024

/** updates written to the store in one batch at most */
export const MAX_PERSIST_BATCH_UPDATES = 1024

/** ... and this many bytes (a single bigger update is written alone) */
export const MAX_PERSIST_BATCH_BYTES = 4 * 1024 * 1024

/**
 * a holder acknowledges (STATE ack on gossip) once its write queue is empty, and at least every
 * this many batches while it keeps filling: one ack per burst instead of one per batch
 */
export const ANNOUNCE_EVERY_BATCHES = 8

/** flush gives up after this when the caller gave no signal */
export const FLUSH_TIMEOUT_MS = 30_000

/** while a flush waits, a holder whose ack lags is synced at most this often */
export const FLUSH_RESYNC_INTERVAL_MS = 1_000

/** recorded, unhandled conflicts kept per document (oldest dropped first) */
export const MAX_CONFLICTS_PER_DOC = 1_000

/**
 * retire(): how long the member waits for the doc's other holders to take the retirement mark
 * (they drop the doc when it arrives) before it drops the doc itself; a holder cut off meanwhile
 * keeps its copy, which names no successor
 */
export const RETIRE_WAIT_MS = 1_000
/** retire(): how often the member looks whether every holder took the mark */
export const RETIRE_POLL_MS = 25

/** a writer fence's encoded state vector (fences.ts); a bigger one is ignored */
export const FENCE_MAX_BYTES = 64 * 1024
/** fences read per doc (the highest epochs); one is written per new writer epoch of the doc */
export const FENCE_MAX_PER_DOC = 256
