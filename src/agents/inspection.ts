/**
 * The manager's per-agent operations that read more than the placement:
 * `syncState` (syncAgentState: flush on the owner, catch up elsewhere), `inspect`
 * (GET /agents/:id: the placement plus the owner's live view) and `readState` (agentState).
 */
import { NotFoundError, describeError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import { encodeControl } from './control.ts'
import type { AgentLiveView } from './failures.ts'
import type { DistributedAgentManager } from './manager.ts'
import type { AgentDetails } from './manager-types.ts'

/** how long GET /agents/:id waits for the owner's live view */
export const LIVE_VIEW_TIMEOUT_MS = 2_000

/**
 * forces the agent's state out: on the owner, flush to the write concern; elsewhere, catch up
 * from the owner. Answers the other peers now holding it.
 */
export async function syncState (m: DistributedAgentManager, agentId: string, options: AbortOptions = {}): Promise<{ id: string, node: string, holders: string[] }> {
  const p = await m.read(agentId, options)
  if (p == null) throw new NotFoundError(`no agent ${agentId}`)
  const docs = m.components.docs
  const signal = options.signal != null ? { signal: options.signal } : {}
  let docId = m.local.stateDocs.currentDocId(agentId)
  if (m.local.epochOf(agentId) != null && docId !== undefined) {
    await m.local.stateDocs.flush(agentId, signal)
  } else {
    // a copy here (root and current generation) catches up from the owner; otherwise this peer
    // takes one (and holds it from now on)
    docId = await m.local.stateDocs.catchUpFrom(agentId, p.node, signal)
  }
  return { id: agentId, node: p.node, holders: docs.holders(docId).map(h => h.peer).sort() }
}

/**
 * the placement (linearizable) and its owner's live view: activation status, queued messages,
 * restarts and quarantined messages; `live` is null when the owner did not answer in time
 */
export async function inspect (m: DistributedAgentManager, agentId: string, options: AbortOptions & { liveTimeoutMs?: number } = {}): Promise<AgentDetails> {
  const p = await m.read(agentId, options)
  if (p == null) throw new NotFoundError(`no agent ${agentId}`)
  let live: AgentLiveView | null = null
  if (p.node === m.peerId) {
    live = m.failures.live(agentId) ?? null
  } else if (p.status !== 'quarantined') {
    try {
      live = await m.components.broker.request({ kind: 'peer', id: p.node }, encodeControl({ op: 'info', id: agentId }), {
        timeoutMs: options.liveTimeoutMs ?? LIVE_VIEW_TIMEOUT_MS, ...(options.signal != null ? { signal: options.signal } : {})
      }) as AgentLiveView
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      m.log('no live view of %s from %s: %s', agentId, p.node, describeError(err).message)
    }
  }
  return { id: p.id, kind: p.kind, node: p.node, epoch: p.epoch, status: p.status, ...(p.replicas != null && p.acks != null ? { replicas: p.replicas, acks: p.acks } : {}), live }
}

/** the agent's state as JSON, read from its owner (here, without a request, when it runs here) */
export async function readState (m: DistributedAgentManager, agentId: string, options: AbortOptions = {}): Promise<Record<string, unknown>> {
  const here = m.local.stateOf(agentId)
  if (here != null) return here
  const p = await m.read(agentId, options)
  if (p == null) throw new NotFoundError(`no agent ${agentId}`)
  return await m.components.broker.request({ kind: 'peer', id: p.node }, encodeControl({ op: 'state', id: agentId }), options) as Record<string, unknown>
}
