/**
 * Routing for the DistributedAgentManager: the broker's resolver (the cached owner; an agent
 * whose owner failed waits for its next placement) and the inbound side: requests and durable
 * messages for agents go to the local host (NotOwnerError plus a routing hint to the sender when
 * the agent is elsewhere), control requests between managers are decoded and answered.
 */
import { NotFoundError, NotOwnerError, NotStartedError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import { linkSignals } from '../util/abort.ts'
import { ACTIVATION_ARRIVAL_WAIT_MS, REPLACEMENT_RECHECK_MS, REPLACEMENT_WAIT_MS } from './constants.ts'
import { decodeCall, decodeControl, encodeControl, isControl } from './control.ts'
import type { ControlMessage } from './control.ts'
import { encodePlacement } from './directory.ts'
import type { Placement } from './directory.ts'
import type { DistributedAgentManager } from './manager.ts'
import type { InboundMessage } from './manager-types.ts'
import { migrateOut } from './migration.ts'
import type { JsonValue } from './types.ts'

export class Routing {
  private readonly m: DistributedAgentManager

  constructor (manager: DistributedAgentManager) {
    this.m = manager
  }


  /** the broker's resolver: the cached owner; a failed owner's agent waits for its replacement */
  readonly resolve = async (agentId: string, options: AbortOptions = {}): Promise<string | undefined> => {
    let p = this.m.cache.get(agentId) ?? await this.m.read(agentId, options)
    if (p == null) return undefined
    if (!this.ownerFailed(p)) return p.node
    const linked = linkSignals([options.signal], REPLACEMENT_WAIT_MS, this.m.clock)
    try {
      while (p != null && this.ownerFailed(p)) {
        const recheck = linkSignals([linked.signal], REPLACEMENT_RECHECK_MS, this.m.clock)
        try {
          p = await this.m.cache.nextChange(agentId, { signal: recheck.signal })
        } catch (err) {
          if (linked.signal.aborted) throw err
          p = await this.m.read(agentId, { signal: linked.signal })
        } finally {
          recheck.dispose()
        }
      }
      return p?.node
    } finally {
      linked.dispose()
    }
  }

  ownerFailed (p: Placement): boolean {
    if (p.node === this.m.peerId) return false
    return this.m.components.network.member(p.node)?.status === 'failed'
  }

  readonly onRequest = async (req: InboundMessage, options: AbortOptions): Promise<unknown> => {
    if (req.target?.kind === 'agent') return await this.serve(req, options)
    if (isControl(req.data)) return await this.control(decodeControl(req.data), req.from, options)
    throw new NotFoundError('this peer answers agent requests and agents control messages only')
  }

  readonly onMessage = async (msg: InboundMessage): Promise<void> => {
    if (msg.target?.kind !== 'agent') throw new NotFoundError('this peer takes direct messages for agents only')
    await this.serve(msg, {}, true)
  }

  /**
   * `durable`: a one-way message, which (when its sender's outbox sequenced it and it carries no
   * id of its own) is deduplicated by its sender's sequence mark (reply-records.ts)
   */
  async serve (req: InboundMessage, options: AbortOptions, durable = false): Promise<unknown> {
    const agentId = req.target!.id
    const call = decodeCall(req.data)
    const seq = durable && call.id == null ? req.seq ?? 0 : 0
    const post = {
      id: call.id ?? req.id,
      traceparent: req.traceparent,
      ...(Number.isSafeInteger(seq) && seq >= 1 ? { origin: { sender: req.from, seq } } : {}),
      ...(options.signal != null ? { signal: options.signal } : {})
    }
    const mine = this.m.local.epochOf(agentId)
    const news = this.m.cache.get(agentId)
    if (mine != null && news != null && news.epoch > mine && news.node !== this.m.peerId && !this.m.migrating.has(agentId)) {
      // placed elsewhere since (being confirmed): serve nothing more here
      throw new NotOwnerError(`agent ${agentId} moved to ${news.node} under epoch ${news.epoch}`)
    }
    if (mine != null || this.m.local.isActivating(agentId)) return await this.m.local.deliver(agentId, call.message as JsonValue, post)
    // not here: maybe placed here and not started yet (restart, lost lease), else the sender's cache is stale
    const p = await this.m.read(agentId, options)
    if (p == null) throw new NotFoundError(`no agent ${agentId}`)
    if (p.status === 'quarantined') throw new NotStartedError(`agent ${agentId} is quarantined after failing to start repeatedly (handleAgentFailure retries it)`)
    if (p.node === this.m.peerId) {
      // placed here a moment ago: the migration's or recovery's activation is on its way
      if (await this.m.local.awaitActivation(agentId, ACTIVATION_ARRIVAL_WAIT_MS, options)) {
        return await this.m.local.deliver(agentId, call.message as JsonValue, post)
      }
      throw new NotOwnerError(`agent ${agentId} is placed on ${this.m.peerId} but not started yet`)
    }
    if (req.from !== this.m.peerId) {
      this.m.components.broker.request({ kind: 'peer', id: req.from }, encodeControl({ op: 'placement', placement: p }), { timeoutMs: 2000 })
        .catch(() => {})
    }
    throw new NotOwnerError(`agent ${agentId} runs on ${p.node}, not ${this.m.peerId}`)
  }

  async control (m: ControlMessage, from: string, options: AbortOptions): Promise<unknown> {
    switch (m.op) {
      case 'placement':
        this.m.learn(m.placement, false)
        return null
      case 'state': {
        const state = this.m.local.stateOf(m.id)
        if (state == null) throw new NotOwnerError(`agent ${m.id} is not active on ${this.m.peerId}`)
        return state
      }
      case 'info': {
        const live = this.m.failures.live(m.id)
        if (live == null) throw new NotOwnerError(`agent ${m.id} is not active on ${this.m.peerId}`)
        return live
      }
      case 'migrate': {
        const p = await this.m.read(m.id, options)
        if (p == null) throw new NotFoundError(`no agent ${m.id}`)
        if (p.node !== this.m.peerId) throw new NotOwnerError(`agent ${m.id} runs on ${p.node}`)
        return encodePlacement(await migrateOut(this.m, p, m.node, { ...options, pin: m.pin !== false }))
      }
      case 'activate': {
        const p = await this.m.read(m.id, options)
        if (p == null) throw new NotFoundError(`no agent ${m.id}`)
        if (p.node !== this.m.peerId || p.epoch < m.epoch) throw new NotOwnerError(`agent ${m.id} is placed on ${p.node} under epoch ${p.epoch}`)
        this.m.assertMayHost(this.m.peerId, `run ${m.id}`)
        // a newer epoch here: this peer claimed the agent while the request was on its way (it
        // found the agent placed on itself and not running); the request is answered by that one
        if (p.epoch > m.epoch) this.m.log('%s asked to activate %s under epoch %d; it runs here under epoch %d', from, m.id, m.epoch, p.epoch)
        else this.m.log('activating %s under epoch %d at the request of %s', m.id, m.epoch, from)
        try {
          await this.m.local.activate(p, { ...options, fresh: m.fresh === true && p.epoch === m.epoch, syncFrom: m.syncFrom })
          return encodePlacement(p)
        } catch (err) {
          // this peer's claim (a newer epoch, still here) committed while that activation was
          // starting, which then failed on it: the request is answered by the claim's activation
          if (!(err instanceof NotOwnerError)) throw err
          const now = await this.m.read(m.id, options)
          if (now == null || now.node !== this.m.peerId || now.epoch <= p.epoch || now.status !== 'active') throw err
          this.m.log('%s asked to activate %s under epoch %d; claimed here under epoch %d meanwhile', from, m.id, p.epoch, now.epoch)
          await this.m.local.activate(now, { ...options, syncFrom: m.syncFrom })
          return encodePlacement(now)
        }
      }
    }
  }
}
