/**
 * A planned, live move of an agent this peer owns to `target`:
 *
 * 1. pause the mailbox (the running turn finishes; new messages queue here);
 * 2. flush the state to the write concern;
 * 3. move the lease: cas on the placement's revision, fenced by a new epoch;
 * 4. the target activates from the replicated state, caught up from this peer first;
 * 5. stop here, taking the queued messages, and forward them to the target, settling each
 *    caller with the target's reply.
 *
 * A message is either handled here before step 1 ends or queued and handled by the target: none
 * is lost or handled twice. If the target cannot activate, the lease comes back here (a newer
 * epoch again) and the mailbox resumes.
 */
import { ConflictError, NotOwnerError, describeError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import { decodePlacement, placedOn } from './directory.ts'
import type { Placement } from './directory.ts'
import { encodeCall, encodeControl } from './control.ts'
import { LOCAL_ID_PREFIX } from './mailbox.ts'
import type { DrainedMessage } from './mailbox.ts'
import type { JsonValue } from './types.ts'
import type { DistributedAgentManager } from './manager.ts'

/**
 * moves `p` to `target` from wherever this peer is: the owner moves it live (migrateOut); the agent
 * of a failed or unknown owner is re-placed (`reassign`, the recovery's); otherwise the owner is
 * asked to move it. Pinned to `target` unless `pin: false`.
 */
export async function migrateFrom (
  m: DistributedAgentManager, p: Placement, target: string, options: AbortOptions & { pin?: boolean },
  reassign: (p: Placement, how: { target: string, reason: string, pin: boolean }, options: AbortOptions) => Promise<Placement>
): Promise<Placement> {
  const owner = m.components.network.member(p.node)
  const pin = options.pin !== false
  const { pin: _pin, ...rest } = options
  if (p.node === m.peerId) return await migrateOut(m, p, target, options)
  if (owner == null || owner.status === 'failed') return await reassign(p, { target, reason: 'migration from a failed peer', pin }, rest)
  const reply = await m.components.broker.request({ kind: 'peer', id: p.node }, encodeControl({ op: 'migrate', id: p.id, node: target, ...(pin ? {} : { pin: false }) }), rest)
  const moved = decodePlacement(reply)
  m.learn(moved, false)
  return moved
}

export async function migrateOut (m: DistributedAgentManager, p: Placement, target: string, options: AbortOptions & { pin?: boolean } = {}): Promise<Placement> {
  const pin = options.pin !== false
  const started = m.clock.monotonic()
  const activation = m.local.activation(p.id)
  if (activation == null) {
    // placed here but not running (never claimed after a restart, or its activation failed for
    // want of a read quorum): a plain move. This peer's copy may lack acknowledged turns, so the
    // target catches up as a failover does, from a read quorum of the recorded replica set, not
    // from here alone (that would take over from one member what two may hold)
    const moved = await m.records.write(p, placedOn(p, target, m.nextEpoch(), pin), options)
    await m.activateOn(moved, options)
    return moved
  }
  if (m.migrating.has(p.id)) throw new ConflictError(`agent ${p.id} is already migrating`)
  m.migrating.add(p.id)
  try {
    await activation.mailbox.pause(options)
    let moved: Placement
    try {
      // the current state generation (and a root pointer that changed) at the write concern
      await m.local.stateDocs.flush(p.id, options.signal != null ? { signal: options.signal } : {})
      moved = await m.records.write(p, placedOn(p, target, m.nextEpoch(), pin), options)
    } catch (err) {
      activation.mailbox.resume()
      throw err
    }
    try {
      await m.activateOn(moved, { ...options, syncFrom: [m.peerId] })
    } catch (err) {
      m.log.error('migration of %s to %s failed (%s): taking it back', p.id, target, describeError(err).message)
      // (the target may have recorded its replica set before it failed)
      const latest = await m.records.refreshed(moved).catch(() => moved)
      const back = await m.records.write(latest, placedOn(latest, m.peerId, m.nextEpoch(), p.pinned === true))
      // the paused activation runs under the old epoch: start it again under the new one and hand it what queued
      const queued = await m.local.deactivate(p.id, { drain: true })
      m.migrating.delete(p.id)
      await m.local.activate(back)
      forward(m, p.id, queued)
      throw err
    }
    const drained = await m.local.deactivate(p.id, { drain: true })
    forward(m, p.id, drained)
    const ms = m.clock.monotonic() - started
    m.log('migrated %s to %s under epoch %d in %d ms (%d queued messages forwarded)', p.id, target, moved.epoch, Math.round(ms), drained.length)
    m.safeDispatchEvent('agent:migrated', { detail: { id: moved.id, kind: moved.kind, node: moved.node, epoch: moved.epoch, status: moved.status, from: m.peerId, ms } })
    return moved
  } finally {
    m.migrating.delete(p.id)
  }
}

/** hands queued messages to wherever the agent runs now; each caller is settled with that reply */
function forward (m: DistributedAgentManager, agentId: string, drained: DrainedMessage[]): void {
  for (const d of drained) {
    // a durable send goes back to its sender's outbox, which delivers it to the new owner as it
    // is: there its sequence mark keeps it from being applied twice (reply-records.ts), which a
    // forwarded copy under a new envelope could not
    if (d.origin != null) { d.reject(new NotOwnerError(`agent ${agentId} moved`, { details: { agentId } })); continue }
    // under its own id, so the reply the target records is found by a retry of that id
    const message = d.id.startsWith(LOCAL_ID_PREFIX) ? d.message : encodeCall(d.id, d.message)
    m.components.broker.request(agentId, message, { ...(d.traceparent != null ? { traceparent: d.traceparent } : {}) })
      .then(reply => { d.resolve(reply as JsonValue) }, d.reject)
  }
}
