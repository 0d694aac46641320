/**
 * The node lease's timing in a browser tab: 10 s, renewed every second. A tab's renewals reach
 * their commit through the leader and back (it is a Raft learner), which on a loaded machine takes
 * seconds, and a hidden tab's timers fire at most once a second (agents/constants.ts says what the
 * longer lease costs when a tab vanishes).
 */
import { NODE_LEASE_TAB_RENEW_MS, NODE_LEASE_TAB_SAFETY_MS, NODE_LEASE_TAB_TTL_MS } from '../agents/constants.ts'
import type { NodeLeaseTiming } from '../agents/constants.ts'

export const NODE_LEASE_TIMING: NodeLeaseTiming = { ttlMs: NODE_LEASE_TAB_TTL_MS, renewMs: NODE_LEASE_TAB_RENEW_MS, safetyMs: NODE_LEASE_TAB_SAFETY_MS }
