/**
 * The request paths of the Raft driver (driver.ts): proposals of KV commands and linearizable
 * reads. A proposal carries a request id; it waits here until the entry with that id is applied on
 * this peer (on a follower too: the core forwards proposals to the leader), and one not applied
 * yet is submitted again with the same id after a leader change or a while (the state machine
 * applies an id once). Reads wait for batched ReadIndex rounds. The driver's loop tells this part
 * what was applied, which read states arrived and who leads.
 */
import type { Tracing } from '../monitoring/types.ts'
import { InvalidArgumentError, TimeoutError } from '../errors.ts'
import { deferred, raceSignal, throwIfAborted } from '../util/abort.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import { encodeCommand } from './kv/index.ts'
import type { KvCommand, KvResult, KvStateMachine } from './kv/index.ts'
import { PendingProposals, ReadQueue } from './pending.ts'
import type { Deadline, ProposalWaiter, ReadWaiter } from './pending.ts'
import { ProposalDroppedError } from './raft/index.ts'
import type { RawNode } from './raft/index.ts'
import type { StrongOperation } from './raft-wire.ts'

/** commands that carry a request id (the state machine applies each id once) */
const IDEMPOTENT_COMMANDS = new Set<KvCommand['type']>(['put', 'delete', 'cas', 'txn', 'lease-grant', 'lease-keepalive', 'lease-revoke'])

/** proposals not worth a span: periodic housekeeping, not anyone's request */
const UNTRACED_COMMANDS = new Set<string>(['lease-keepalive', 'expire-leases', 'lease-promote'])

/**
 * A request's options: `timeoutMs` ends the caller's wait with TimeoutError that long after the
 * call, checked on the driver's tick (no timer or AbortSignal per request: a proposal or read
 * on the KV path is many thousands a second)
 */
export type DriverRequestOptions = AbortOptions & { timeoutMs?: number }

function deadlineOf (options: DriverRequestOptions, now: number): Deadline | undefined {
  return options.timeoutMs === undefined ? undefined : { at: now + options.timeoutMs, ms: options.timeoutMs }
}

function deadlineError (d: Deadline): TimeoutError {
  return new TimeoutError(`deadline of ${d.ms} ms passed`)
}

export function requestIdOf (cmd: KvCommand): string | undefined {
  return 'requestId' in cmd && typeof cmd.requestId === 'string' ? cmd.requestId : undefined
}

/** what the request paths use of the driver */
export interface RequestHost {
  clock: Clock
  tracing?: Tracing
  raw: () => RawNode
  sm: () => KvStateMachine
  /** running and not failed: a command may be submitted */
  accepting: () => boolean
  waitForLeader: (options: AbortOptions) => Promise<string>
  /** runs the loop soon (a proposal or read was handed to the core) */
  schedule: () => void
  /** seconds from a proposal to its result */
  proposalDone?: (seconds: number, ok: boolean) => void
}

export class DriverRequests {
  readonly proposals = new PendingProposals()
  readonly reads: ReadQueue
  private readonly host: RequestHost
  private readonly requestPrefix: string
  private seq = 0
  private answeredCount = 0

  constructor (host: RequestHost, id: string, nonce: number, prefixNonce: number) {
    this.host = host
    this.reads = new ReadQueue(nonce)
    this.requestPrefix = `${id.slice(-8)}.${prefixNonce.toString(36)}.`
  }

  /** a fresh request id (unique across peers and restarts) */
  newRequestId (): string {
    return this.requestPrefix + (++this.seq).toString(36)
  }

  /** see RaftDriver.propose */
  async propose (command: KvCommand, options: DriverRequestOptions & { traceparent?: string } = {}): Promise<KvResult> {
    const tracing = this.host.tracing
    // housekeeping (lease renewals every few hundred ms, expiry) would crowd real work out of the span ring
    if (tracing == null || UNTRACED_COMMANDS.has(command.type)) return await this.proposeCommand(command, options)
    const span = tracing.startSpan('raft.propose', {
      kind: 'internal',
      ...(options.traceparent != null ? { parent: options.traceparent } : {}),
      attributes: { 'agentmesh.raft.command': command.type }
    })
    try {
      return await this.proposeCommand(command, options)
    } catch (err) {
      span.recordError(err)
      throw err
    } finally {
      span.end()
    }
  }

  private async proposeCommand (command: KvCommand, options: DriverRequestOptions): Promise<KvResult> {
    throwIfAborted(options.signal)
    const deadline = deadlineOf(options, this.host.clock.monotonic())
    if (!IDEMPOTENT_COMMANDS.has(command.type)) throw new InvalidArgumentError(`a ${command.type} command carries no request id: use proposeOnce`)
    const { clock } = this.host
    let cmd = command
    let requestId = requestIdOf(cmd)
    if (requestId === undefined) {
      requestId = this.newRequestId()
      cmd = { ...cmd, requestId } as KvCommand
    }
    const data = encodeCommand(cmd)
    await this.host.waitForLeader(options)
    // a request id already applied (a caller retrying after a lost answer) answers at once
    const seen = this.host.sm().requestRecord(requestId)
    if (seen !== undefined) return seen.result
    const d = deferred<KvResult>()
    const started = clock.monotonic()
    const w: ProposalWaiter = { requestId, data, resolve: d.resolve, reject: d.reject, submittedAt: 0, submittedTo: '', startedAt: started }
    if (deadline !== undefined) {
      if (deadline.at <= started) throw deadlineError(deadline)
      w.deadline = deadline
    }
    this.proposals.add(w)
    this.submit(w, clock.monotonic(), this.host.raw().raft.lead)
    this.host.schedule()
    let ok = false
    try {
      const r = await raceSignal(d.promise, options.signal)
      ok = r.type !== 'error'
      return r
    } finally {
      this.proposals.delete(requestId)
      this.host.proposalDone?.((clock.monotonic() - started) / 1000, ok)
    }
  }

  /** see RaftDriver.proposeOnce */
  proposeOnce (command: KvCommand): boolean {
    if (!this.host.accepting()) return false
    try {
      this.host.raw().propose(encodeCommand(command))
    } catch (err) {
      if (err instanceof ProposalDroppedError) return false
      throw err
    }
    this.host.schedule()
    return true
  }

  private submit (w: ProposalWaiter, now: number, lead: string): void {
    if (lead === '') return
    try {
      this.host.raw().propose(w.data)
      w.submittedAt = now
      w.submittedTo = lead
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err
      // retried on the next tick
      w.submittedAt = now
      w.submittedTo = ''
    }
  }

  /** submits the proposals due again (not submitted yet, to another leader, or long ago) */
  submitDue (now: number, lead: string): void {
    if (this.proposals.size === 0) return
    for (const w of this.proposals.due(now, lead)) this.submit(w, now, lead)
  }

  /** see RaftDriver.readBarrier */
  async readBarrier (options: DriverRequestOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    const deadline = deadlineOf(options, this.host.clock.monotonic())
    await this.host.waitForLeader(options)
    const d = deferred<void>()
    const w: ReadWaiter = { resolve: d.resolve, reject: d.reject }
    if (deadline !== undefined) {
      if (deadline.at <= this.host.clock.monotonic()) throw deadlineError(deadline)
      w.deadline = deadline
    }
    this.reads.add(w)
    this.issueReads(this.host.clock.monotonic(), this.host.raw().raft.lead)
    this.host.schedule()
    try {
      await raceSignal(d.promise, options.signal)
    } catch (err) {
      this.reads.remove(w)
      throw err
    }
  }

  /** starts a ReadIndex round for the readers waiting, unless one is out and fresh */
  issueReads (now: number, lead: string): void {
    const ctx = this.reads.toIssue(now, lead)
    if (ctx === undefined) return
    try {
      this.host.raw().readIndex(ctx)
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err
      this.reads.unissue()
    }
  }

  /** ends the waits whose deadline has passed (TimeoutError); a proposal may still commit */
  expireDue (now: number): void {
    if (this.proposals.size > 0) for (const w of this.proposals.expire(now)) w.reject(deadlineError(w.deadline!))
    for (const w of this.reads.expire(now)) w.reject(deadlineError(w.deadline!))
  }

  /** the entry carrying `requestId` was applied with `result` */
  applied (requestId: string, result: KvResult): void {
    const w = this.proposals.take(requestId)
    if (w === undefined) return
    this.answeredCount++
    w.resolve(result)
  }

  /** proposals of this peer answered from the log so far (their callers resume once the current task ends) */
  get answered (): number {
    return this.answeredCount
  }

  /** a snapshot was installed: proposals it covers are answered from its idempotency records */
  snapshotInstalled (sm: KvStateMachine): void {
    for (const w of this.proposals.values()) {
      const rec = sm.requestRecord(w.requestId)
      if (rec !== undefined) { this.proposals.take(w.requestId); w.resolve(rec.result) }
    }
  }

  get waiting (): boolean {
    return this.proposals.size > 0 || this.reads.size > 0
  }

  /** no leader for long: everything that needs one fails; reads already given an index stay */
  rejectLeaderless (err: Error): void {
    this.proposals.rejectAll(err)
    this.reads.rejectUnanswered(err)
  }

  rejectAll (err: Error): void {
    this.proposals.rejectAll(err)
    this.reads.rejectAll(err)
  }

  /**
   * the leader refused this peer's proposals or its reads (those not yet given an index: a round
   * already answered is served here). Every waiting proposal fails: those forwarded since the
   * refusal were refused, but one the leader had appended before this peer's credential lapsed
   * may still commit, so for those the UnauthorizedError means "outcome unknown", as a lost
   * leader's NoQuorumError does
   */
  rejectRefused (subject: StrongOperation, err: Error): void {
    if (subject === 'proposal') this.proposals.rejectAll(err)
    else this.reads.rejectUnanswered(err)
  }
}
