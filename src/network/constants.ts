/** Wire format version of node records and membership messages on the nodes topic (2: heartbeats apart from records). */
export const RECORD_VERSION_MAJOR = 2
export const RECORD_VERSION_MINOR = 0

/** Largest membership message accepted from the network. */
export const MAX_RECORD_BYTES = 32 * 1024
export const MAX_ADDRS_PER_RECORD = 32
export const MAX_TAGS = 32
export const MAX_LINKS_PER_RECORD = 1024
export const MAX_STRING_CHARS = 512
/** peers named in one record request */
export const MAX_WANTED_SUBJECTS = 64

/** How often a peer publishes a heartbeat (a small signed message: alive, load, record seq), unless it announces otherwise. */
export const HEARTBEAT_INTERVAL_MS = 500
/**
 * A peer publishes its full record when it changes, when asked (a record request), and at least
 * this often, so late joiners and peers that lost a message converge without asking.
 */
export const RECORD_REFRESH_INTERVAL_MS = 10_000
/** A peer asks again for a record it still lacks no sooner than this. */
export const RECORD_WANT_RETRY_MS = 1000
/** Hidden tabs are throttled to ~1 timer/s by the browser: they announce a slower heartbeat. */
export const HIDDEN_HEARTBEAT_INTERVAL_MS = 1000
/** Silence, in heartbeats announced by the peer, before it is suspect / failed. */
export const SUSPECT_AFTER_BEATS = 3
export const FAIL_AFTER_BEATS = 5
/** Floors so a very fast announced heartbeat cannot make us trigger-happy. */
export const MIN_SUSPECT_AFTER_MS = 1000
export const MIN_FAIL_AFTER_MS = 2200
/** How often silence is checked. */
export const FAILURE_CHECK_INTERVAL_MS = 100
/** A direct probe of a peer whose connection closed. */
export const PROBE_TIMEOUT_MS = 500
/** Failed members are forgotten after this long. */
export const FAILED_RETENTION_MS = 10 * 60_000

/** Partition awareness: how often reachability is re-judged, and how long a new verdict must hold. */
export const PARTITION_CHECK_INTERVAL_MS = 250
export const PARTITION_SETTLE_MS = 1000

/** Discovery */
export const DISCOVERY_INTERVAL_MS = 2000

/** how long gossipsub remembers a message id to drop later copies (rust-libp2p's default; Go's is 2 min) */
export const GOSSIP_SEEN_TTL_MS = 60_000

export const DIAL_TIMEOUT_MS = 5000
/**
 * A tab's dials. To another tab: a relayed connection (Noise and yamux through the relay), then
 * WebRTC signalling over it, then ICE; each step is a round trip through the relay, so a relay
 * seconds behind (three tabs on a loaded 2-core machine) needed 10-40 s where a quiet one needs
 * ~0.2 s. Cut off at 5 s, every attempt was wasted and the retries loaded the relay further.
 */
export const TAB_DIAL_TIMEOUT_MS = 30_000
/**
 * Between two tabs only the one with the lower peer id dials at once; the other dials after this
 * long if no direct link has come up (the first one's dial failed or is slow, or it went away).
 * Longer than a tab-to-tab dial on a quiet machine (~0.2 s), so a quiet pair holds one connection;
 * short, because on a loaded machine a dial through the relay takes 10-40 s and fails often, and
 * there a second attempt from the other side got links up where waiting did not (with 15 s, 6 of
 * 9 dashboard e2e runs at load 17-39 had no WebRTC link between tabs after 45 s, against 2 of the
 * 7 runs that got that far with both tabs dialling at once).
 */
export const TAB_DIAL_YIELD_MS = 3000
/**
 * A tab's relay reservation (and each refresh of it) must complete within this (circuit-relay-v2's
 * default is 5 s). Without a reservation no other tab can reach this one (the relay answers
 * NO_RESERVATION); at load ~25 reservations timed out at 5 s 0-8 times per dashboard e2e run.
 */
export const TAB_RESERVATION_TIMEOUT_MS = 30_000
/** the same for the libp2p node of a tab: its dials and the upgrade of a relayed connection to it */
export const TAB_UPGRADE_TIMEOUT_MS = 30_000
/** after a failed dial, a peer is not dialled again for this long, doubling per failure up to the max */
export const DIAL_BACKOFF_MIN_MS = 2000
export const DIAL_BACKOFF_MAX_MS = 30_000
/** peers remembered with a dial backoff at most (beyond that, new failures are not held back) */
export const MAX_DIAL_BACKOFF_PEERS = 1024
/**
 * A peer with bootstrap addresses and no bootstrap peer connected (its first connection closed
 * before any node record arrived, or it lost the relay while it kept other connections) dials the
 * list again (bootstrap-keeper.ts): the first time after a jittered wait of half to all of
 * BOOTSTRAP_REDIAL_MIN_MS, the wait doubling per attempt up to BOOTSTRAP_REDIAL_MAX_MS; the
 * attempts count from zero again once a bootstrap connection has held for BOOTSTRAP_REDIAL_STABLE_MS
 */
export const BOOTSTRAP_REDIAL_MIN_MS = 1000
export const BOOTSTRAP_REDIAL_MAX_MS = 10_000
export const BOOTSTRAP_REDIAL_STABLE_MS = 10_000
export const MAX_DIALS_IN_FLIGHT = 8

export const nodesTopic = (mesh: string): string => `agentmesh/${mesh}/v1/nodes`
export const discoveryTopic = (mesh: string): string => `agentmesh/${mesh}/v1/discovery`
export const dhtProtocol = (mesh: string): string => `/agentmesh/${mesh}/kad/1.0.0`

/**
 * Clock-skew outlier detection (clock-skew.ts). The hybrid logical clock refuses a remote stamp
 * more than HLC_MAX_SKEW_MS (60 s) ahead, so a peer whose wall clock is that far off the others is
 * cut off from messaging. A peer judges itself the outlier when most peers it hears from have
 * clocks more than CLOCK_SKEW_OUTLIER_MS off its own in the same direction (a few seconds under the
 * HLC bound: the stamps compared are a gossip hop old), and no longer once that majority is within
 * CLOCK_SKEW_OUTLIER_MS - CLOCK_SKEW_HYSTERESIS_MS.
 */
export const CLOCK_SKEW_OUTLIER_MS = 55_000
export const CLOCK_SKEW_HYSTERESIS_MS = 5_000
/** fewer peers than this heard from recently: no verdict (with one other peer, either could be the wrong one) */
export const MIN_CLOCK_SKEW_PEERS = 2
/** a peer's last timestamp counts for this long after it arrived */
export const CLOCK_SAMPLE_MAX_AGE_MS = 10_000
/** peers whose timestamps are remembered at most */
export const MAX_CLOCK_SAMPLES = 1024
/** how often the verdict is re-judged, and how long a new verdict must hold before it is reported */
export const CLOCK_SKEW_CHECK_INTERVAL_MS = 500
export const CLOCK_SKEW_SETTLE_MS = 2000

/**
 * gossip-repair.ts: how long after a connection closes it looks for peers gossipsub dropped while
 * another connection to them stays open (gossipsub drops them when the closed connection's stream
 * errors, just after the close), and its slow sweep for any it missed
 */
export const GOSSIP_REPAIR_AFTER_CLOSE_MS = 250
export const GOSSIP_REPAIR_SWEEP_MS = 2_000

/** outbound ping streams per connection: the connection monitor's and a failure probe's (libp2p/ping accepts two inbound) */
export const PING_MAX_OUTBOUND_STREAMS = 2
