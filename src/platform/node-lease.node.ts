/**
 * The node lease's timing in a Node process: short (2 s), shorter than the failure detector's
 * verdict, so a peer declared failed by silence has already stopped serving (agents/constants.ts).
 */
import { NODE_LEASE_RENEW_MS, NODE_LEASE_SAFETY_MS, NODE_LEASE_TTL_MS } from '../agents/constants.ts'
import type { NodeLeaseTiming } from '../agents/constants.ts'

export const NODE_LEASE_TIMING: NodeLeaseTiming = { ttlMs: NODE_LEASE_TTL_MS, renewMs: NODE_LEASE_RENEW_MS, safetyMs: NODE_LEASE_SAFETY_MS }
