/** Limits and defaults of the agents layer; every unit is in the name. */

/** agent ids and kind names: printable, bounded */
export const MAX_AGENT_ID_CHARS = 128
export const MAX_KIND_NAME_CHARS = 64
export const MAX_TAGS = 32
export const MAX_TAG_CHARS = 64

/** a kind may not ask for more than this (sanity bound, not a node's capacity) */
export const MAX_REQUIREMENT_CPU = 1024
export const MAX_REQUIREMENT_MEMORY_MB = 1024 * 1024

/** messages queued per agent before CapacityError */
export const MAILBOX_CAPACITY = 1024
/** a handler that has not settled by then counts as a failure */
export const HANDLER_TIMEOUT_MS = 30_000
/** failed tries after which a message is quarantined */
export const MAX_MESSAGE_TRIES = 3
/** first restart delay after a failure; doubles per consecutive failure */
export const RESTART_BACKOFF_BASE_MS = 100
export const RESTART_BACKOFF_MAX_MS = 10_000
/** how long a handled message id is remembered so a retried delivery gets the first reply */
export const DEDUP_WINDOW_MS = 5 * 60_000
export const DEDUP_MAX_ENTRIES = 4096
/**
 * replicated reply records (the `replies` map of an agent's state doc) kept per agent, oldest
 * pruned first, for requests and messages that carry their own id. A retry that comes after more
 * turns than this finds no record and runs again (docs/agents.md); durable sends are kept by
 * sequence marks instead, which do not run out. 4,096 records cost ~2-3 KB of heap each on every
 * holder (soak: +20-30 MB on a peer holding three busy counters)
 */
export const REPLY_RECORDS_MAX = 256
/** senders whose sequence mark an agent keeps (the least recently raised is dropped first) */
export const SEQ_MARKS_MAX = 1024
/**
 * how long a sender's sequence mark is kept after it was last raised: a durable send retried
 * later than this (its sender stopped for that long with the message unacknowledged) runs again
 */
export const SEQ_MARK_RETENTION_MS = 24 * 60 * 60_000
/** a reply larger than this is not recorded (a retry of its message after a failover runs again) */
export const REPLY_RECORD_MAX_BYTES = 16 * 1024
/** the map of an agent's state doc that holds its reply records */
export const REPLIES_MAP_NAME = 'replies'
/** quarantined messages kept for inspection (oldest dropped first) */
export const QUARANTINE_MAX_ENTRIES = 64
/** message ids accepted by the mailbox */
export const MAX_MESSAGE_ID_CHARS = 256

/** agents a node hosts when its record does not say (`ext.maxAgents`) */
export const DEFAULT_MAX_AGENTS_PER_NODE = 64
/** event loop lag that weighs as much as a fully used node in placement */
export const PLACEMENT_LAG_FULL_MS = 500

/** LLM client defaults */
export const LLM_DEFAULT_BASE_URL = 'http://127.0.0.1:8080/v1'
export const LLM_DEFAULT_MODEL = 'default'
export const LLM_TIMEOUT_MS = 60_000
export const LLM_MAX_RETRIES = 3
export const LLM_RETRY_BASE_MS = 250
export const LLM_RETRY_MAX_MS = 8_000
/** a response body (or a whole stream) larger than this is refused */
export const LLM_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
/** one SSE line */
export const LLM_MAX_SSE_LINE_BYTES = 1024 * 1024
/** server error text kept in an error message */
export const LLM_MAX_ERROR_TEXT_CHARS = 1000
export const LLM_MAX_MESSAGES = 1000

/** llm-chat: history turns kept in state (user + assistant messages) */
export const CHAT_HISTORY_MAX_MESSAGES = 40
export const CHAT_MAX_TEXT_CHARS = 32_000

/** coordinator */
export const COORDINATOR_MAX_WORKERS = 64
/**
 * one state entry per task; a YKeyValue write costs the same at any size, so a 20,000-task start
 * is one turn of ~0.9 s on a loaded 2-core machine (43 us/task; 2,000 tasks took 0.53 s before)
 * and its state doc ~1.9 MB
 */
export const COORDINATOR_MAX_TASKS = 20_000
export const COORDINATOR_TASK_TIMEOUT_MS = 30_000
export const COORDINATOR_MAX_TASK_ATTEMPTS = 10
/** a worker whose task failed is not given another one for this long */
export const COORDINATOR_WORKER_COOLDOWN_MS = 1_000
/** primes jobs: the widest range accepted */
export const PRIMES_MAX_RANGE = 100_000_000
/** primes: the widest range one task (one worker turn) sieves: bounds its memory (1 byte/number) and time */
export const PRIMES_MAX_TASK_RANGE = 10_000_000
/** primes: the largest number considered (its square root bounds the base sieve: 1e6 bytes) */
export const PRIMES_MAX_VALUE = 1_000_000_000_000

// ---- DistributedAgentManager (manager.ts and siblings) ----

/** KV prefix of placement records: `agents/<id>` -> {kind, node, epoch, config, status} */
export const PLACEMENT_PREFIX = 'agents/'
/** Y.Doc id prefix of an agent's replicated state: `agent/<id>` */
export const STATE_DOC_PREFIX = 'agent/'
/** the YKeyValue (array name) an agent's state lives in */
export const STATE_MAP_NAME = 'state'
/** the YKeyValue of a state doc that holds its generation bookkeeping (root: pointer; generation: its root) */
export const STATE_META_MAP_NAME = 'meta'
/** the owner looks at whether its state generation is worth compacting every this many turns */
export const STATE_COMPACT_CHECK_TURNS = 1000
/** a generation is compacted once its encoding exceeds this and twice its live values (~20 B of tombstones per counter turn) */
export const STATE_COMPACT_MIN_GARBAGE_BYTES = 32 * 1024
/** a compaction (copy, two write-concern flushes, retirement) gives up after this long; the old generation stays */
export const STATE_COMPACT_TIMEOUT_MS = 3_000
/** retirement marks followed at most when opening an agent's state */
export const STATE_GENERATION_MAX_HOPS = 8
/**
 * a node's lease in Raft: shorter than the failure detector's failure time (2.0-2.6 s after a pause),
 * so a peer declared failed by silence has already stopped serving
 */
export const NODE_LEASE_TTL_MS = 2_000
/** the holder renews this often */
export const NODE_LEASE_RENEW_MS = 400
/** the holder treats its lease as lapsed this long before the renewal it sent says */
export const NODE_LEASE_SAFETY_MS = 200
/**
 * A browser tab's node lease (src/platform/node-lease.browser.ts). A tab is a Raft learner, so each
 * renewal crosses the leader's loop, the voters' and the leader's again before the tab hears of its
 * commit: on a loaded machine (load 25-35 on 2 cores) that took 3-18 s, and a 2 s lease never held.
 * It renews every second (what a background tab's throttled timers still allow) and is valid while
 * a renewal commits within ttl - safety - renew (8 s). The cost: a tab that vanishes without giving
 * its lease back (crash, cut off) keeps its agents unplaced until the lease expires, up to 10 s
 * after its last renewal, rather than the failure detector's 2-2.6 s (agents/recovery.ts waits for it)
 */
export const NODE_LEASE_TAB_TTL_MS = 10_000
export const NODE_LEASE_TAB_RENEW_MS = 1_000
export const NODE_LEASE_TAB_SAFETY_MS = 1_000
/** a platform's node lease timing (#platform/node-lease: a Node process's or a tab's) */
export interface NodeLeaseTiming {
  ttlMs: number
  renewMs: number
  safetyMs: number
}
/** the leader, waiting for a failed peer's longer lease to expire before it re-places its agents, looks this often */
export const LEASE_EXPIRY_RECHECK_MS = 500
/** each of those looks (a linearizable lease read) gives up after this */
export const LEASE_TTL_READ_TIMEOUT_MS = 5_000
/** a request that finds this peer's lease lapsed waits this long for a late renewal before NotOwnerError */
export const LEASE_GRACE_MS = 1_000
/**
 * a turn during which this peer's node lease lapsed reads the agent's placement back before its
 * reply is released (turn-fence.ts): each read gives up after this long, and a failed one is tried
 * again this much later (for as long as the turn may last)
 */
export const TURN_CONFIRM_TIMEOUT_MS = 2_000
export const TURN_CONFIRM_RETRY_MS = 250
/**
 * a request that reaches the peer an agent was just placed on, before its activation began (the
 * migration's or recovery's activate is on its way), waits this long for it before NotOwnerError
 */
export const ACTIVATION_ARRIVAL_WAIT_MS = 2_000
/** peers besides the owner that must hold a turn's state changes before its reply is released */
export const WRITE_CONCERN_REPLICAS = 1
/** a placement record naming more state replicas than this is refused */
export const MAX_STATE_REPLICAS = 16
/** a placement record's JSON is refused above this */
export const MAX_PLACEMENT_BYTES = 64 * 1024
/** a control message between managers is refused above this */
export const MAX_CONTROL_BYTES = 64 * 1024
/** activation on a new owner (state catch-up included) gives up after this long */
export const ACTIVATION_TIMEOUT_MS = 10_000
/** a resolver waiting for a failed owner's agent to be placed again gives up after this long */
export const REPLACEMENT_WAIT_MS = 10_000
/** while waiting for a replacement, the directory re-reads the placement this often (in case a notice was lost) */
export const REPLACEMENT_RECHECK_MS = 250
/** the leader re-checks every placement against the membership this often */
export const RECONCILE_INTERVAL_MS = 1_000
/** attempts to re-place one agent (next-best candidate each time) */
export const MAX_PLACEMENT_ATTEMPTS = 4
/** handleAgentFailure: restarts of a failing activation before it is quarantined */
export const MAX_AGENT_RESTARTS = 5
/** handleAgentFailure: first restart delay, doubling */
export const AGENT_RESTART_BACKOFF_MS = 200
/** topic on which placement changes are announced (hints for routing caches) */
export const PLACEMENT_TOPIC = 'agentmesh.placements'
/** deployAgent(id, { node }): how long to wait for that peer to hold a node lease (advertise its kinds) */
export const DEPLOY_NODE_WAIT_MS = 10_000
/** while waiting for a named peer's lease, its record is re-checked this often (in case an event was missed) */
export const DEPLOY_NODE_RECHECK_MS = 100
/** rebalancing (the Raft leader): a pass runs this long after a peer gained a node lease (so a few joins make one pass) */
export const REBALANCE_SETTLE_MS = 1_000
/** the leader's rebalancer looks at joined peers and hidden tabs this often */
export const REBALANCE_INTERVAL_MS = 2_000
/** live migrations one pass makes at most (a few at a time, one after another) */
export const REBALANCE_MAX_MOVES_PER_PASS = 4
/** hysteresis: an agent moves from S to T only while S hosts at least this many more agents than T */
export const REBALANCE_MIN_GAP_AGENTS = 2
/** hysteresis: an agent the rebalancer moved is not moved by it again for this long */
export const REBALANCE_AGENT_COOLDOWN_MS = 60_000
/**
 * hysteresis: a peer declared failed takes no agents from the rebalancer until this long after
 * (a restarted or flapping peer, or one a loaded machine made look dead, would otherwise pull the
 * agents just recovered off it straight back, to be failed over again when it drops out again)
 */
export const REBALANCE_REJOIN_PROBATION_MS = 30_000
/** a hidden tab hands its own agents off; the leader moves what is still there after this long */
export const REBALANCE_HIDDEN_GRACE_MS = 3_000
/** placement records read per range call */
export const PLACEMENT_RANGE_LIMIT = 10_000

/**
 * A peer whose wall clock is the mesh's outlier (network:clock-skew) hands its agents off: it
 * re-checks the placements still naming it this often until none does (each new owner claims its
 * agent on its own reconcile: no request from the outlier is needed, its messages may be refused).
 */
export const CLOCK_HANDOFF_RETRY_MS = 1_000
