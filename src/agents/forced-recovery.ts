/**
 * Forced recovery: the operator's override for an agent whose state replica set has lost too many
 * members for good (two crashed tabs that never come back, two Node peers whose data dirs are
 * gone). A failover takes an agent over only after catching up from |replicas| - acks + 1 members
 * (state-replicas.ts), so such an agent stays unavailable, its activations failing with
 * UnreachableError ("catching up needs 2 of ..."), and nothing automatic may change that: from
 * where any one peer stands, members that are gone for good look like members cut off by a
 * partition, and going on without them could lose acknowledged turns.
 *
 * `forceRecover` records the members that are reachable now as the agent's whole set (acks 1),
 * with a compare-and-swap on the placement, so the next activation catches up from all of them and
 * goes on. Turns acknowledged only on the lost members are lost: that is the operator's call,
 * logged, raised as a critical alert and dispatched as `agent:forced-recovery`.
 */
import { ConflictError, NotFoundError, UnreachableError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import { validateAgentId } from './define.ts'
import type { DistributedAgentManager } from './manager.ts'

/** the alert type raised by a forced recovery */
export const FORCED_RECOVERY_ALERT = 'agent-forced-recovery'

export interface ForcedRecovery {
  id: string
  /** where the agent is placed (its next activation runs there, or the recovery moves it on) */
  node: string
  epoch: number
  /** the members it catches up from now */
  replicas: string[]
  /** the members given up: turns acknowledged only on them are lost */
  lost: string[]
}

export async function forceRecover (m: DistributedAgentManager, agentId: string, options: AbortOptions = {}): Promise<ForcedRecovery> {
  validateAgentId(agentId)
  const p = await m.read(agentId, options)
  if (p == null) throw new NotFoundError(`no agent ${agentId}`)
  if (p.replicas == null || p.acks == null) {
    throw new ConflictError(`agent ${agentId} has no replica set recorded: its activation waits for none`, { details: { agentId } })
  }
  const reachable = p.replicas.filter(peer => m.reachable(peer))
  const needed = p.replicas.length - p.acks + 1
  if (reachable.length >= needed) {
    throw new ConflictError(`agent ${agentId}: ${reachable.length} of its state replicas ${p.replicas.join(', ')} are reachable and ${needed} are enough to take it over: nothing to force`,
      { details: { agentId, replicas: p.replicas, acks: p.acks, reachable } })
  }
  if (reachable.length === 0) {
    throw new UnreachableError(`agent ${agentId}: none of its state replicas ${p.replicas.join(', ')} is reachable: there is no copy to recover from`,
      { details: { agentId, replicas: p.replicas } })
  }
  const lost = p.replicas.filter(peer => !reachable.includes(peer))
  // the write announces the new record to every peer's routing cache
  const next = await m.records.write(p, { ...p, replicas: reachable, acks: 1 }, options)
  const text = `agent ${agentId}: forced recovery from ${reachable.join(', ')}; turns acknowledged only on ${lost.join(', ')} are lost`
  m.log.error('%s', text)
  m.components.telemetry?.generateAlert?.(FORCED_RECOVERY_ALERT, text, { severity: 'critical', labels: { agent: agentId } })
  const out: ForcedRecovery = { id: agentId, node: next.node, epoch: next.epoch, replicas: reachable, lost }
  m.safeDispatchEvent('agent:forced-recovery', { detail: out })
  return out
}
