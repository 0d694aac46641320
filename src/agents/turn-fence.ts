/**
 * The turn fence: a turn's reply is released only while this peer provably owns the agent.
 *
 * A turn begins only while this peer's node lease is valid (`begin`: refused with NotOwnerError,
 * nothing run). Its state write goes out at once and its reply waits for the write concern
 * (`release`). If the lease lapsed on the way, the owner may have been deposed meanwhile: a cut-off
 * owner's write carries its old placement epoch, so where the next owner (higher epoch) wrote the
 * same key the next owner's write wins the merge, and a reply released for it would acknowledge an
 * increment that is then lost. So:
 *
 * 1. Lease held throughout (no lapse or loss since the turn began, valid at the release): the
 *    reply is released. The placement moves only once this peer is declared failed, which by
 *    silence takes longer than the lease lasts past the last renewal (recovery.ts). A newer epoch
 *    elsewhere heard of meanwhile (a notice, not yet confirmed) is checked as in 2.
 * 2. A lapse or loss since the turn began (also while the write concern is awaited: that wait is
 *    interrupted by the lapse): once the lease is valid again, the placement is read back
 *    (linearizable) before anything more is waited for.
 *    - Placed on another peer (or removed): NotOwnerError (`details.reason: 'superseded'`); the
 *      broker re-resolves and the new owner handles the request. The write's epoch makes it lose
 *      to the new owner's writes of the same keys.
 *    - Still placed here, under the turn's epoch (the lease merely lapsed and was renewed, or was
 *      lost and re-granted with no new owner) or a newer one (this peer claimed the agent again:
 *      the new activation opened this peer's doc, write included): the write stands, so the reply
 *      is released once the write concern holds it (refusing it would only cost a round trip: the
 *      broker's re-send keeps the envelope id, which the turn's reply record is kept under).
 *    While the lease stays lapsed (cut off) the turn just waits, until its handler timeout: the
 *    outcome is unknown, and its caller's own deadline says so (TimeoutError, which nobody
 *    re-sends), rather than a NotOwnerError the broker would re-send.
 *
 * Which requests need a message id (`call(..., { messageId })`, or an outbox delivery): none. After
 * a 'superseded' refusal the broker re-sends under the first attempt's envelope id. The new owner
 * either started without this turn's write (it was cut off with this peer): its fence hides the
 * late write on every replica (AgentStateDocs, docs/crdt.md *Writer fences*) and the re-send runs
 * once; or it caught up from a replica the write reached (a one-sided cut): the reply record that
 * travelled in the same flush answers the re-send. Only a caller that retries on its own after a
 * TimeoutError needs a message id, as it always did.
 */
import { NotOwnerError, describeError } from '../errors.ts'
import { deferred, linkSignals, raceSignal } from '../util/abort.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import { sleep } from '../messaging/index.ts'
import { TURN_CONFIRM_RETRY_MS, TURN_CONFIRM_TIMEOUT_MS } from './constants.ts'
import type { TurnTicket } from './types.ts'

/**
 * whether a new turn may begin here: 'ok'; 'refused' when the node lease is not valid within the
 * grace (at once while cut off) or this peer's clock is the mesh's outlier (`why()` says which);
 * 'checking' while what runs here is re-checked against the store after a lost lease
 */
export type TurnAdmission = 'ok' | 'refused' | 'checking'

/**
 * what this peer's lease and the agent's placement say (LeaseGuard + store), one way to ask each:
 * may a request be served / a turn begin (before it), does the lease hold (during and after it)
 */
export interface OwnerAuthority {
  /**
   * a request may be handed to an agent here: the lease is valid (waiting a moment for a late
   * renewal) and, after a lost lease, what runs here has been re-checked against the store
   */
  mayServe: (signal?: AbortSignal) => Promise<boolean>
  /**
   * a turn may begin: as mayServe, but not waiting for the re-check after a lost lease ('checking'
   * instead): that re-check may surrender the agent, which waits for the running turn, the one asking
   */
  admitTurn: (signal?: AbortSignal) => Promise<TurnAdmission>
  /** the node lease itself is valid now (what a turn in flight is judged by) */
  leaseValid: () => boolean
  /** waits, as long as `signal` allows, until the node lease is valid again */
  untilLeaseValid: (signal?: AbortSignal) => Promise<void>
  /** lapses and losses of the node lease so far */
  term: () => number
  /** calls `listener` at the next lapse or loss; answers how to stop listening */
  onLapse: (listener: () => void) => () => void
  /** why this peer serves nothing now */
  why: () => string
  /** a newer placement of the agent elsewhere has been heard of (unconfirmed) */
  superseded?: (agentId: string, epoch: number) => boolean
  /** the agent's placement in the store (linearizable) */
  read: (agentId: string, options: AbortOptions) => Promise<{ node: string, epoch: number } | undefined>
}

export interface TurnFenceInit {
  nodeId: string
  authority: OwnerAuthority
  /** the epoch the agent runs under here (undefined: not here any more) */
  epochOf: (agentId: string) => number | undefined
  clock: Clock
  log: Logger
  confirmTimeoutMs?: number
}

export class TurnFence {
  private readonly init: TurnFenceInit

  constructor (init: TurnFenceInit) {
    this.init = init
  }

  /** before a turn: NotOwnerError (saying why) unless this peer may serve the agent now */
  async begin (agentId: string, options: AbortOptions = {}): Promise<TurnTicket> {
    const { authority, epochOf } = this.init
    const epoch = epochOf(agentId)
    if (epoch == null) throw new NotOwnerError(`agent ${agentId} is not active on ${this.init.nodeId}`)
    const admission = await authority.admitTurn(options.signal)
    if (admission === 'refused') throw this.refused(agentId)
    if (admission === 'checking') {
      // after a lost lease: this agent may have been re-placed; the re-check surrenders it then
      throw new NotOwnerError(`peer ${this.init.nodeId} is re-checking its agents against the store after losing its node lease; ${agentId} was not run`,
        { details: { agentId, node: this.init.nodeId, reason: 'lease-lost', outcome: 'refused' } })
    }
    if (epochOf(agentId) !== epoch) throw new NotOwnerError(`agent ${agentId} moved off ${this.init.nodeId} while its turn waited for the node lease`)
    return { epoch, term: authority.term() }
  }

  /**
   * after a turn's handler: waits for `commit` (the write concern) and answers when its reply may
   * be released; NotOwnerError when the agent was placed elsewhere meanwhile (the cases above)
   */
  async release (agentId: string, ticket: TurnTicket, commit: Promise<void>, options: AbortOptions = {}): Promise<void> {
    const { authority } = this.init
    commit.catch(() => {})
    // the lease term under which ownership was last established: the ticket's, then a read-back's
    let term = ticket.term
    let confirmed = false
    for (;;) {
      const held = authority.leaseValid() && authority.term() === term
      if (held && await this.committedOrLapsed(commit, options.signal) && authority.leaseValid() && authority.term() === term) {
        if (confirmed || authority.superseded?.(agentId, ticket.epoch) !== true) return
      } else {
        this.init.log('agent %s: node lease lapsed during a turn of epoch %d: its placement is read back before the reply', agentId, ticket.epoch)
      }
      term = await this.confirm(agentId, ticket, options)
      confirmed = true
    }
  }

  /** true once `commit` is done, false at a lapse or loss of the lease before that */
  private async committedOrLapsed (commit: Promise<void>, signal?: AbortSignal): Promise<boolean> {
    const lapse = deferred<boolean>()
    const stop = this.init.authority.onLapse(() => { lapse.resolve(false) })
    try {
      return await raceSignal(Promise.race([commit.then(() => true), lapse.promise]), signal)
    } finally {
      stop()
    }
  }

  /**
   * case 2: waits for the lease, reads the placement back; NotOwnerError when the agent is placed
   * on another peer, else the lease term under which it was found still here
   */
  private async confirm (agentId: string, ticket: TurnTicket, options: AbortOptions): Promise<number> {
    const { authority, nodeId, clock } = this.init
    for (;;) {
      await authority.untilLeaseValid(options.signal)
      const term = authority.term()
      const linked = linkSignals([options.signal], this.init.confirmTimeoutMs ?? TURN_CONFIRM_TIMEOUT_MS, clock)
      let p: { node: string, epoch: number } | undefined
      try {
        p = await authority.read(agentId, { signal: linked.signal })
      } catch (err) {
        if (options.signal?.aborted === true) throw err
        this.init.log('agent %s: reading its placement back after a lapse failed: %s', agentId, describeError(err).message)
        await sleep(clock, TURN_CONFIRM_RETRY_MS, { signal: options.signal })
        continue
      } finally {
        linked.dispose()
      }
      if (p == null || p.node !== nodeId) {
        const where = p == null ? 'removed' : `placed on ${p.node} under epoch ${p.epoch}`
        this.init.log('agent %s: turn of epoch %d not released: the agent was %s while the lease lapsed', agentId, ticket.epoch, where)
        throw new NotOwnerError(`agent ${agentId} was ${where} while ${nodeId}'s node lease lapsed during its turn (epoch ${ticket.epoch}): the reply is withheld, its state change loses to the new owner's`,
          { details: { agentId, node: nodeId, reason: 'superseded', epoch: ticket.epoch } })
      }
      // still placed here, judged under a lease held from before the read to after it
      if (authority.term() === term && authority.leaseValid()) return term
    }
  }

  private refused (agentId: string): NotOwnerError {
    return new NotOwnerError(`peer ${this.init.nodeId} cannot serve ${agentId}: ${this.init.authority.why()}; nothing was run`,
      { details: { agentId, node: this.init.nodeId, reason: 'lease-lapsed', outcome: 'refused' } })
  }
}
