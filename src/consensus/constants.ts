/** Limits of the durable Raft log store (src/consensus/log-store.ts). */

/** largest entry record read back from disk (an entry's payload plus its header) */
export const MAX_LOG_ENTRY_RECORD_BYTES = 64 * 1024 * 1024
/** largest snapshot record read back from disk (the state machine's bytes plus metadata) */
export const MAX_SNAPSHOT_RECORD_BYTES = 1024 * 1024 * 1024 + 1024 * 1024
/** longest node id kept in a hard state vote or a ConfState */
export const MAX_STORED_NODE_ID_BYTES = 256
/** most voters plus learners kept in a ConfState */
export const MAX_STORED_CONF_MEMBERS = 1024
/** width of the decimal index in entry keys (`e/0000000000000042`): enough for 2^53 */
export const LOG_INDEX_KEY_DIGITS = 16

// ---- the Raft driver, its transport and the ConsensusManager ----

/** libp2p protocol of the Raft transport */
export const RAFT_PROTOCOL = '/agentmesh/raft/1.0.0'
/** version of the transport's frames (the first byte of every frame body) */
export const RAFT_WIRE_VERSION = 1
/** length of one tick: elections time out after ELECTION_TICKS..2*ELECTION_TICKS of them */
export const RAFT_TICK_MS = 100
/**
 * how long the leader holds an empty append that only moves a caught-up follower's commit index
 * (commit-notices.ts), waiting for a message that carries it anyway; a follower waiting for an
 * entry it forwarded is told at once
 */
export const COMMIT_NOTICE_DELAY_MS = 3
/** ticks without a leader before a follower campaigns (1-2 s at RAFT_TICK_MS) */
export const RAFT_ELECTION_TICKS = 10
/** ticks between heartbeats */
export const RAFT_HEARTBEAT_TICKS = 1
/** largest frame on a Raft stream (one batch of messages, or one snapshot chunk) */
export const MAX_RAFT_FRAME_BYTES = 8 * 1024 * 1024
/** largest entry payload accepted from the wire */
export const MAX_RAFT_ENTRY_BYTES = 4 * 1024 * 1024
/** most entries in one decoded message */
export const MAX_RAFT_ENTRIES_PER_MESSAGE = 100_000
/** most messages in one frame */
export const MAX_RAFT_MESSAGES_PER_FRAME = 10_000
/** longest message context (ReadIndex request ids) */
export const MAX_RAFT_CONTEXT_BYTES = 1024
/** longest group id */
export const MAX_GROUP_ID_BYTES = 128
/** bytes of snapshot data per chunk frame */
export const RAFT_SNAPSHOT_CHUNK_BYTES = 256 * 1024
/** bytes queued for one peer before further messages are dropped (Raft retransmits) */
export const MAX_RAFT_PEER_QUEUE_BYTES = 64 * 1024 * 1024
/** frames queued for one peer before further messages are dropped */
export const MAX_RAFT_PEER_QUEUE_FRAMES = 4096
/** opening a Raft stream gives up after this long */
export const RAFT_DIAL_TIMEOUT_MS = 2000
/** after a failed dial, messages to that peer are dropped (reported unreachable) for this long, doubling */
export const RAFT_DIAL_BACKOFF_MIN_MS = 100
export const RAFT_DIAL_BACKOFF_MAX_MS = 2000
/** inbound Raft streams accepted at once (one per peer, plus replacements) */
export const MAX_RAFT_INBOUND_STREAMS = 64
/** longest reason in a refusal frame (UTF-8 bytes; a longer one is cut when encoded) */
export const MAX_RAFT_REFUSAL_REASON_BYTES = 512
/** largest frame read back on this peer's own outbound Raft stream (only refusals travel that way) */
export const MAX_RAFT_REFUSAL_FRAME_BYTES = 1024
/** refusals sent to one peer per second, and the burst (what is refused beyond them is dropped silently) */
export const RAFT_REFUSALS_PER_PEER_PER_S = 2
export const RAFT_REFUSAL_BURST = 4
/**
 * after its leader refused this peer's proposals or reads, new strong operations here fail at once
 * with that refusal for this long (while the same peer leads); then the next one asks again
 */
export const RAFT_REFUSAL_MEMORY_MS = 5_000
/** at most one log line per peer for refusals this peer ignores (not from its leader, malformed) in this interval */
export const RAFT_REFUSAL_LOG_INTERVAL_MS = 10_000

/** applied entries past the last snapshot before a new snapshot is taken and the log compacted */
export const SNAPSHOT_EVERY_ENTRIES = 10_000
/** in-memory log bytes that also trigger a snapshot */
export const SNAPSHOT_EVERY_BYTES = 64 * 1024 * 1024
/** entries kept behind a snapshot so slow followers catch up from the log rather than a snapshot */
export const COMPACT_KEEP_ENTRIES = 2_000

/** a strong operation's deadline unless the caller's signal says otherwise */
export const DEFAULT_OPERATION_TIMEOUT_MS = 10_000
/** a proposal not applied this long after it was (re)submitted is submitted again (same request id) */
export const PROPOSAL_RETRY_MS = 2_000
/** a ReadIndex request without an answer this long is issued again */
export const READ_INDEX_RETRY_MS = 1_000
/** proposals waiting for their result at once; beyond it proposals fail with CapacityError */
export const MAX_PENDING_PROPOSALS = 100_000
/** readers waiting at once */
export const MAX_PENDING_READS = 100_000
/** outcomes of finished proposals kept for reachConsensus() */
export const MAX_REMEMBERED_OUTCOMES = 10_000
/**
 * no leader known for longer than this: strong operations fail fast with NoQuorumError (two
 * election timeouts: one randomized timeout plus a pre-vote and a vote round)
 */
export const NO_LEADER_GRACE_MS = 2 * RAFT_ELECTION_TICKS * RAFT_TICK_MS + 500
/** how often the leader checks for expired leases */
export const LEASE_EXPIRY_CHECK_MS = 250
/** a lease renewal or time-to-live asked of the leader (lease-wire.ts) and not answered this long is asked again */
export const LEASE_ASK_RETRY_MS = 1_000
/** the leader's wait for the linearizable barrier before it answers one lease question */
export const LEASE_SERVE_TIMEOUT_MS = 2_000
/** lease questions waiting for the leader's answer at once on one peer; beyond, CapacityError */
export const MAX_PENDING_LEASE_ASKS = 10_000
/** lease questions a leader answers at once; beyond, it drops them (the asker asks again) */
export const MAX_LEASE_ASKS_SERVING = 10_000

/** how often a peer without a log considers bootstrapping a group */
export const BOOTSTRAP_CHECK_MS = 250
/** the set of voter candidates seen must be unchanged this long before the lowest one bootstraps */
export const BOOTSTRAP_SETTLE_MS = 1_500
/** voter candidates that, once seen, let the lowest bootstrap without waiting longer */
export const BOOTSTRAP_EXPECT = 3
/** with fewer candidates, the lowest bootstraps once this long has passed since start */
export const BOOTSTRAP_WAIT_MS = 4_000
/**
 * voters a new group is founded with when that many candidates are seen (the lowest ids of the
 * settled set; etcd's initial cluster): a group born with 3 voters never passes through 2, where
 * the loss of either voter leaves no quorum. With fewer candidates the lowest founds a group alone.
 */
export const BOOTSTRAP_FOUNDERS = 3

/** how often the leader's autopilot reviews the membership */
export const AUTOPILOT_INTERVAL_MS = 500
/** voters wanted, and with at least AUTOPILOT_LARGE_GROUP_PEERS stable Node peers */
export const AUTOPILOT_VOTERS = 3
export const AUTOPILOT_VOTERS_LARGE = 5
export const AUTOPILOT_LARGE_GROUP_PEERS = 5
/** a peer alive this long is stable (eligible to vote) */
export const AUTOPILOT_STABLE_MS = 2_000
/** a voter failed this long is replaced */
export const AUTOPILOT_VOTER_GRACE_MS = 5_000
/** a learner failed (or gone) this long is removed */
export const AUTOPILOT_LEARNER_GRACE_MS = 30_000
/** a learner within this many entries of the commit index is caught up (may be promoted) */
export const AUTOPILOT_CATCHUP_ENTRIES = 100
/** most learners in the group (tabs beyond it stay outside) */
export const AUTOPILOT_MAX_LEARNERS = 64
/**
 * a peer gone from the membership is forgotten by the autopilot's tracking once it has been down
 * this long (well past both graces, so the autopilot has acted on it; a Raft member still listed
 * then counts as down since tracking began). Without it every tab or peer that ever joined stayed
 * in the map for the life of the process
 */
export const AUTOPILOT_TRACKING_RETENTION_MS = 2 * 60_000
