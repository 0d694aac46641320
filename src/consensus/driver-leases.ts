/**
 * Lease renewals and time-to-live questions of the Raft driver, answered by the leader without a
 * Raft entry (lease-renewals.ts). A peer asks its leader with a MsgReadIndex whose context is the
 * question (lease-wire.ts); the leader's driver takes it off the receive path (after the credential
 * gate, which refuses a renewal as it refuses a proposal and a time-to-live as a read), confirms
 * its leadership and applies up to the read index (the driver's own readBarrier), answers from its
 * lessor, and sends the answer back as a MsgReadIndexResp. On the leader itself a question is
 * answered the same way without a message.
 *
 * An unanswered question is asked again after LEASE_ASK_RETRY_MS or as soon as another peer leads;
 * a leader that is not (or no longer) the leader answers "ask again", and the asker asks its
 * current leader on its next tick. An answer counts only from the peer the question last went to.
 * Deadlines are checked on the driver's tick, as for proposals and reads (TimeoutError).
 */
import { CapacityError, InvalidArgumentError, TimeoutError, describeError } from '../errors.ts'
import { deferred, raceSignal, throwIfAborted } from '../util/abort.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import { LEASE_ASK_RETRY_MS, LEASE_SERVE_TIMEOUT_MS, MAX_LEASE_ASKS_SERVING, MAX_PENDING_LEASE_ASKS } from './constants.ts'
import type { DriverRequestOptions } from './driver-requests.ts'
import type { KvStateMachine } from './kv/index.ts'
import { LeaderLeases } from './lease-renewals.ts'
import { decodeLeaseContext, encodeLeaseAnswer, encodeLeaseAsk, leaseContextOf } from './lease-wire.ts'
import type { LeaseAnswer, LeaseAsk, LeaseAskKind, LeaseOutcome } from './lease-wire.ts'
import type { Deadline } from './pending.ts'
import { EntryType, MessageType, newMessage } from './raft/index.ts'
import type { Message, StateRole } from './raft/index.ts'
import type { StrongOperation } from './raft-wire.ts'

/** a lease's times as the leader answered them (expiresAtMs in its lease time) */
export interface LeaseTimesAnswer {
  ttlMs: number
  expiresAtMs: number
  remainingMs: number
}

/** what lease questions use of the driver */
export interface LeaseAskHost {
  id: string
  clock: Clock
  /** the time leases are renewed by, as leader (lease-time.ts) */
  leaseClock: Clock
  logger: Logger
  /** this peer, as leader, renewed a lease */
  renewed?: () => void
  raft: () => { role: StateRole, term: number, lead: string }
  sm: () => KvStateMachine
  send: (to: string, messages: Message[]) => void
  readBarrier: (options: DriverRequestOptions) => Promise<void>
  waitForLeader: (options: AbortOptions) => Promise<string>
}

interface LeaseWaiter {
  ask: LeaseAsk
  ctx: Uint8Array
  resolve: (r: LeaseTimesAnswer | undefined) => void
  reject: (e: Error) => void
  deadline?: Deadline
  /** monotonic time it was last asked (0: not yet) and of whom ('' : to be asked on the next tick) */
  sentAt: number
  sentTo: string
}

function deadlineError (d: Deadline): TimeoutError {
  return new TimeoutError(`deadline of ${d.ms} ms passed`)
}

/** the refusal subject a question of `kind` shares: a renewal is refused as a proposal, a time-to-live as a read */
export function leaseAskSubject (kind: LeaseAskKind): StrongOperation {
  return kind === 'keepalive' ? 'proposal' : 'read'
}

export class DriverLeases {
  /** the renewals this peer holds as leader */
  readonly lessor: LeaderLeases
  private readonly host: LeaseAskHost
  private readonly waiters = new Map<number, LeaseWaiter>()
  private readonly nonce: number
  private seq = 0
  /** questions of other peers this leader is answering now */
  private serving = 0

  constructor (host: LeaseAskHost, nonce: number) {
    this.host = host
    this.nonce = nonce >>> 0
    this.lessor = new LeaderLeases({
      leaseClock: host.leaseClock,
      raft: () => host.raft(),
      logger: host.logger,
      ...(host.renewed !== undefined ? { renewed: host.renewed } : {})
    })
  }

  get size (): number { return this.waiters.size }

  /**
   * asks the leader to renew `lease` (`keepalive`) or for its time to live (`ttl`): the lease's
   * times, or undefined when it does not exist (or, for a renewal, was due)
   */
  async request (kind: LeaseAskKind, lease: number, options: DriverRequestOptions = {}): Promise<LeaseTimesAnswer | undefined> {
    throwIfAborted(options.signal)
    if (!Number.isSafeInteger(lease) || lease < 1) throw new InvalidArgumentError(`lease must be a positive integer, not ${String(lease)}`)
    const { clock } = this.host
    const deadline = options.timeoutMs === undefined ? undefined : { at: clock.monotonic() + options.timeoutMs, ms: options.timeoutMs }
    const lead = await this.host.waitForLeader(options)
    if (deadline !== undefined && deadline.at <= clock.monotonic()) throw deadlineError(deadline)
    if (this.waiters.size >= MAX_PENDING_LEASE_ASKS) throw new CapacityError(`at most ${MAX_PENDING_LEASE_ASKS} lease questions may wait at once`)
    const ask: LeaseAsk = { kind, nonce: this.nonce, seq: ++this.seq, lease }
    const d = deferred<LeaseTimesAnswer | undefined>()
    const w: LeaseWaiter = { ask, ctx: encodeLeaseAsk(ask), resolve: d.resolve, reject: d.reject, sentAt: 0, sentTo: '', ...(deadline !== undefined ? { deadline } : {}) }
    this.waiters.set(ask.seq, w)
    this.dispatch(w, clock.monotonic(), lead)
    try {
      return await raceSignal(d.promise, options.signal)
    } finally {
      this.waiters.delete(ask.seq)
    }
  }

  /** asks `lead` (this peer itself: answered here) */
  private dispatch (w: LeaseWaiter, now: number, lead: string): void {
    if (lead === '') return
    w.sentAt = now
    w.sentTo = lead
    if (lead === this.host.id) {
      void this.answer(w.ask.kind, w.ask.lease).then(outcome => {
        if (this.waiters.get(w.ask.seq) === w && w.sentTo === lead) this.settle(w, outcome)
      })
      return
    }
    const m = newMessage(MessageType.ReadIndex, lead, this.host.id, 0)
    m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data: w.ctx }]
    this.host.send(lead, [m])
  }

  private settle (w: LeaseWaiter, outcome: LeaseOutcome): void {
    if (outcome.status === 'retry') {
      // not (or no longer) the leader: asked again on the next tick, of whoever leads then
      w.sentTo = ''
      return
    }
    this.waiters.delete(w.ask.seq)
    w.resolve(outcome.status === 'ok' ? { ttlMs: outcome.ttlMs, expiresAtMs: outcome.expiresAtMs, remainingMs: outcome.remainingMs } : undefined)
  }

  /**
   * the answer to a question, as the leader: after a linearizable barrier (leadership confirmed,
   * applied up to the read index), from its lessor; "ask again" when this peer does not lead in
   * the term it started in, or the barrier failed. Never throws
   */
  private async answer (kind: LeaseAskKind, lease: number): Promise<LeaseOutcome> {
    if (!this.lessor.leads()) return { status: 'retry' }
    const term = this.host.raft().term
    try {
      await this.host.readBarrier({ timeoutMs: LEASE_SERVE_TIMEOUT_MS })
    } catch (err) {
      this.host.logger('a lease question waited in vain for the read barrier: %s', describeError(err).message)
      return { status: 'retry' }
    }
    const r = this.host.raft()
    if (r.role !== 'leader' || r.term !== term) return { status: 'retry' }
    const sm = this.host.sm()
    return kind === 'keepalive' ? this.lessor.renew(sm, lease) : this.lessor.timeToLive(sm, lease)
  }

  /**
   * a message the driver received (after the credential gate): true when it carried a lease
   * question or answer, which is handled here and not by Raft
   */
  receive (m: Message): boolean {
    const ctx = leaseContextOf(m)
    if (ctx === undefined) return false
    let decoded: { ask: LeaseAsk } | { answer: LeaseAnswer }
    try {
      decoded = decodeLeaseContext(ctx)
    } catch (err) {
      this.host.logger('dropped a lease message from %s: %s', m.from, describeError(err).message)
      return true
    }
    if ('ask' in decoded) {
      if (m.type === MessageType.ReadIndex) this.serve(m.from, decoded.ask)
    } else if (m.type === MessageType.ReadIndexResp) {
      this.answered(m.from, decoded.answer)
    }
    return true
  }

  private serve (from: string, ask: LeaseAsk): void {
    if (this.serving >= MAX_LEASE_ASKS_SERVING) {
      this.host.logger('dropped a lease question of %s: %d being answered', from, this.serving)
      return
    }
    this.serving++
    void this.answer(ask.kind, ask.lease).then(outcome => {
      this.serving--
      try {
        const m = newMessage(MessageType.ReadIndexResp, from, this.host.id, this.host.raft().term)
        m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data: encodeLeaseAnswer({ ...ask, outcome }) }]
        this.host.send(from, [m])
      } catch (err) {
        this.host.logger.error('could not answer a lease question of %s: %s', from, describeError(err).message)
      }
    })
  }

  private answered (from: string, a: LeaseAnswer): void {
    const w = this.waiters.get(a.seq)
    // only the answer of the peer last asked, to this very question (a late or forged one changes nothing)
    if (w === undefined || a.nonce !== this.nonce || w.sentTo !== from || a.kind !== w.ask.kind || a.lease !== w.ask.lease) return
    this.settle(w, a.outcome)
  }

  /** on the driver's tick: ends the waits past their deadline, asks again what is due */
  tick (now: number, lead: string): void {
    if (this.waiters.size === 0) return
    for (const w of [...this.waiters.values()]) {
      if (w.deadline !== undefined && w.deadline.at <= now) {
        this.waiters.delete(w.ask.seq)
        w.reject(deadlineError(w.deadline))
      } else if (w.sentTo !== lead || now - w.sentAt >= LEASE_ASK_RETRY_MS) {
        this.dispatch(w, now, lead)
      }
    }
  }

  /** fails the questions refused with `subject` (the leader refused this peer's proposals or reads) */
  rejectRefused (subject: StrongOperation, err: Error): void {
    for (const w of [...this.waiters.values()]) {
      if (leaseAskSubject(w.ask.kind) !== subject) continue
      this.waiters.delete(w.ask.seq)
      w.reject(err)
    }
  }

  rejectAll (err: Error): void {
    const all = [...this.waiters.values()]
    this.waiters.clear()
    for (const w of all) w.reject(err)
  }
}
