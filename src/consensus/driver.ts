/**
 * The Raft driver: owns one RawNode and runs its loop in etcd's order — persist the Ready's
 * snapshot, entries and hard state as one synced batch, send its messages, apply its snapshot and
 * committed entries to the KV state machine, then advance. A leader whose term and vote are already
 * durable sends first and persists in parallel (Raft thesis 10.2.1; its own copy counts towards
 * a commit only after advance(), once written: raft-core.ts selfAcked). Every proposal that arrives while a batch is
 * being persisted goes into the next Ready: one fsync per batch (group commit).
 *
 * Proposals and reads wait in driver-requests.ts (request ids, resubmission, batched ReadIndex
 * rounds); lease renewals and time-to-live questions, answered by the leader without an entry, in
 * driver-leases.ts and lease-renewals.ts; the state machine, applying and snapshots are in
 * driver-apply.ts; waiting for a leader in driver-leader.ts; what is sent and when (early sends
 * while a batch is written, held commit notices) in driver-outbox.ts; this file owns the loop,
 * the inputs from the transport and the timer.
 */
import { runAfterIo } from '#platform/immediate'
import { InvalidArgumentError, NotStartedError, StorageError, describeError } from '../errors.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import { RAFT_ELECTION_TICKS, RAFT_HEARTBEAT_TICKS, RAFT_TICK_MS } from './constants.ts'
import { DriverApplier } from './driver-apply.ts'
import { DriverLeases } from './driver-leases.ts'
import { DriverOutbox } from './driver-outbox.ts'
import type { LeaseTimesAnswer } from './driver-leases.ts'
import { LeaderWatch } from './driver-leader.ts'
import { DriverRequests } from './driver-requests.ts'
import type { DriverRequestOptions } from './driver-requests.ts'
import type { DriverHooks, RaftDriverInit } from './driver-types.ts'
import type { KvCommand, KvResult, KvStateMachine } from './kv/index.ts'
import type { DurableRaftLog } from './log-store.ts'
import type { LeaderLeases } from './lease-renewals.ts'
import type { LeaseAskKind } from './lease-wire.ts'
import { MessageType, RawNode } from './raft/index.ts'
import type { ConfChange, ConfState, Message, RaftStatus, Ready, SoftState, StateRole } from './raft/index.ts'
import type { StrongOperation } from './raft-wire.ts'

/** resolves after the I/O waiting now (and every microtask queued before it) */
const afterIo = async (): Promise<void> => { await new Promise<void>(resolve => { runAfterIo(resolve) }) }

export type { DriverHooks, RaftDriverInit } from './driver-types.ts'

const EMPTY = new Uint8Array(0)

export class RaftDriver {
  readonly id: string
  readonly log: DurableRaftLog
  private readonly init: RaftDriverInit
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly hooks: DriverHooks
  private raw!: RawNode
  private readonly applier: DriverApplier
  private readonly requests: DriverRequests
  /** this peer's lease questions and, as leader, its answers (driver-leases.ts) */
  private readonly leaseAsks: DriverLeases
  private timer: TimerHandle | undefined
  private loopRunning = false
  private idleWaiters: Array<() => void> = []
  private running = false
  private fatal: Error | undefined
  private role: StateRole = 'follower'
  private readonly leaders: LeaderWatch
  /** a commit-only hard state not yet written (it rides along with the next synced batch) */
  private lazyHardState: Ready['hardState']
  /** a Ready's batch is being written (and whether it holds a snapshot) */
  private writing = false
  private writingSnapshot = false
  /** sendWhileWriting is due after the I/O already waiting */
  private earlyDue = false
  private persistedTerm = 0
  private persistedVote = ''
  /** what goes out, and when (driver-outbox.ts) */
  private readonly outbox: DriverOutbox

  constructor (init: RaftDriverInit) {
    this.init = init
    this.id = init.id
    this.log = init.log
    this.clock = init.clock
    this.logger = init.logger
    this.hooks = init.hooks ?? {}
    this.leaders = new LeaderWatch(init.clock, {
      running: () => this.running,
      failure: () => this.fatal,
      raftLead: () => this.raw.raft.lead,
      isMember: () => this.isMember,
      lastIndex: () => this.log.lastIndex(),
      tickMs: () => this.tickMs
    })
    this.requests = new DriverRequests({
      clock: init.clock,
      ...(init.tracing !== undefined ? { tracing: init.tracing } : {}),
      raw: () => this.raw,
      sm: () => this.sm,
      accepting: () => this.running && this.fatal === undefined,
      waitForLeader: async (options) => await this.leaders.waitForLeader(options),
      schedule: () => { this.schedule() },
      proposalDone: (seconds, ok) => { this.hooks.proposalDone?.(seconds, ok) }
    }, init.id, init.rng.int(2 ** 32), init.rng.int(2 ** 32))
    // the nonce of this driver's lease questions: the wall clock at start (no draw from the seeded rng)
    this.leaseAsks = new DriverLeases({
      id: init.id,
      clock: init.clock,
      leaseClock: init.leaseClock ?? init.clock,
      logger: init.logger,
      renewed: () => { this.hooks.leaseRenewed?.() },
      raft: () => this.raw.raft,
      sm: () => this.sm,
      send: (to, msgs) => { this.init.sender.send(to, msgs) },
      readBarrier: async (options) => { await this.requests.readBarrier(options) },
      waitForLeader: async (options) => await this.leaders.waitForLeader(options)
    }, init.clock.now())
    this.applier = new DriverApplier({
      log: init.log,
      logger: init.logger,
      hooks: { ...this.hooks, applied: (cmd, term, result) => { this.leases.applied(cmd, term); this.hooks.applied?.(cmd, term, result) } },
      requests: this.requests,
      raw: () => this.raw,
      ...(init.snapshotEveryEntries !== undefined ? { snapshotEveryEntries: init.snapshotEveryEntries } : {}),
      ...(init.compactKeepEntries !== undefined ? { compactKeepEntries: init.compactKeepEntries } : {})
    })
    this.outbox = new DriverOutbox({
      clock: init.clock,
      sender: init.sender,
      raft: () => this.raw.raft,
      active: () => this.running && this.fatal === undefined,
      durableLastIndex: () => this.log.lastIndex(),
      persisted: () => ({ term: this.persistedTerm, vote: this.persistedVote })
    })
    this.buildRawNode()
  }

  /** the replicated KV state machine (replaced when a snapshot is installed) */
  get sm (): KvStateMachine { return this.applier.sm }
  /** the lease renewals this peer holds as leader (lease-renewals.ts) */
  get leases (): LeaderLeases { return this.leaseAsks.lessor }
  /** the membership as applied here */
  get confState (): ConfState { return this.applier.confState }
  get tickMs (): number { return this.init.tickMs ?? RAFT_TICK_MS }
  get electionTimeoutMs (): number { return (this.init.electionTicks ?? RAFT_ELECTION_TICKS) * this.tickMs }
  get leader (): string { return this.raw.raft.lead }
  get isMember (): boolean { return this.confState.voters.includes(this.id) || this.confState.learners.includes(this.id) }
  get isVoter (): boolean { return this.confState.voters.includes(this.id) }
  get pendingConfChange (): boolean { return this.raw.raft.pendingConfIndex > this.raw.raft.raftLog.applied }
  get failure (): Error | undefined { return this.fatal }
  get rawNode (): RawNode { return this.raw }
  /** monotonic ms without a known leader (0 while one is known) */
  get leaderlessMs (): number { return this.leaders.leaderlessMs() }

  /** (re)creates the RawNode and the state machine from what the log holds */
  private buildRawNode (): void {
    const snap = this.log.snapshot()
    this.applier.restoreFromLog()
    const hs = this.log.getHardState()
    this.persistedTerm = hs.term
    this.persistedVote = hs.vote
    this.raw = new RawNode({
      id: this.id,
      storage: this.log,
      rng: this.init.rng,
      applied: snap.metadata.index,
      electionTick: this.init.electionTicks ?? RAFT_ELECTION_TICKS,
      heartbeatTick: this.init.heartbeatTicks ?? RAFT_HEARTBEAT_TICKS,
      ...(this.init.raftLogger !== undefined ? { logger: this.init.raftLogger } : {})
    })
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.leaders.restart()
    this.timer = this.clock.setInterval(() => { this.onTick() }, this.tickMs)
    this.campaignIfAlone()
    this.schedule()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.clock.clearInterval(this.timer)
    this.timer = undefined
    this.outbox.stop()
    await this.idle()
    this.requests.rejectAll(new NotStartedError('consensus stopped'))
    this.leaseAsks.rejectAll(new NotStartedError('consensus stopped'))
    this.leaders.wakeAll()
  }

  /**
   * replaces the log's (empty) content with a new group's bootstrap snapshot holding `confState`
   * and restarts the RawNode from it; the founder campaigns at once (with other founders, their
   * votes make it leader, and its snapshot then tells them they are voters). Only a founder
   * bootstraps: InvalidArgumentError, the log untouched, when `confState` does not make this peer
   * a voter (a group it is not in would leave it with a log, so never founding nor joining one)
   */
  async bootstrap (confState: ConfState): Promise<void> {
    if (!confState.voters.includes(this.id)) throw new InvalidArgumentError(`cannot bootstrap a group whose voters (${confState.voters.join(', ')}) do not include this peer ${this.id}`)
    await this.idle()
    await this.log.applySnapshot({ metadata: { index: 1, term: 1, confState }, data: EMPTY })
    this.buildRawNode()
    this.hooks.confChanged?.(this.confState)
    if (this.running) this.raw.campaign()
    this.schedule()
  }

  private campaignIfAlone (): void {
    const cs = this.confState
    if (cs.voters.length === 1 && cs.voters[0] === this.id && this.raw.raft.role !== 'leader') this.raw.campaign()
  }

  /** resolves when no Ready is being handled */
  private async idle (): Promise<void> {
    if (!this.loopRunning) return
    await new Promise<void>(resolve => { this.idleWaiters.push(resolve) })
  }

  // ---- inputs ----

  /** a message from the transport */
  receive (m: Message, groupId: string): void {
    if (!this.running || this.fatal !== undefined) return
    // a lease question or answer (driver-leases.ts) is not Raft's
    if (m.entries.length === 1 && this.leaseAsks.receive(m)) return
    if (m.snapshot !== undefined) this.applier.snapshotGroup = groupId
    const lastBefore = m.type === MessageType.Prop ? this.raw.raft.raftLog.lastIndex() : 0
    try {
      this.raw.step(m)
      this.outbox.stepped(m, lastBefore)
    } catch (err) {
      this.logger('dropped a raft message from %s: %s', m.from, describeError(err).message)
      return
    }
    if (this.writing) this.applyCommittedWhileWriting()
    this.schedule()
  }

  /** while a batch is being written, entries committed meanwhile are applied (driver-apply.ts) */
  private applyCommittedWhileWriting (): void {
    if (this.writingSnapshot) return
    if (this.applier.applyCommitted(this.raw.raft.raftLog)) this.requests.reads.release(this.sm.appliedIndex)
  }

  reportUnreachable (peer: string): void {
    if (!this.running) return
    this.raw.reportUnreachable(peer)
    this.schedule()
  }

  reportSnapshot (peer: string, ok: boolean): void {
    if (!this.running) return
    this.raw.reportSnapshot(peer, ok)
    this.schedule()
  }

  private onTick (): void {
    if (!this.running || this.fatal !== undefined) return
    this.raw.tick()
    const now = this.clock.monotonic()
    this.requests.expireDue(now)
    const lead = this.raw.raft.lead
    this.leaseAsks.tick(now, lead)
    if (lead !== '') {
      this.requests.submitDue(now, lead)
      this.requests.issueReads(now, lead)
    } else if (this.leaders.graceOver(now) && (this.requests.waiting || this.leaseAsks.size > 0)) {
      this.requests.rejectLeaderless(this.leaders.noQuorum())
      this.leaseAsks.rejectAll(this.leaders.noQuorum())
    }
    this.schedule()
  }

  /** waits until a leader is known; NoQuorumError once none has been for NO_LEADER_GRACE_MS */
  async waitForLeader (options: AbortOptions = {}): Promise<string> {
    return await this.leaders.waitForLeader(options)
  }

  /** a fresh request id (unique across peers and restarts) */
  newRequestId (): string {
    return this.requests.newRequestId()
  }

  /**
   * proposes a KV command and resolves with its result once it is applied here. A write without a
   * requestId gets one. The result may be an error result (see unwrapResult).
   */
  async propose (command: KvCommand, options: DriverRequestOptions & { traceparent?: string } = {}): Promise<KvResult> {
    return await this.requests.propose(command, options)
  }

  /**
   * submits a command that carries no request id (expire-leases, lease-promote) once, without
   * waiting for it; the `applied` hook tells when such a command is applied. False when it could
   * not be submitted (no leader, or the leader refused it).
   */
  proposeOnce (command: KvCommand): boolean {
    return this.requests.proposeOnce(command)
  }

  /** true while a proposal with this request id waits here for its result */
  hasPendingProposal (requestId: string): boolean {
    return this.requests.proposals.get(requestId) !== undefined
  }

  /** the leader refused this peer's proposals or reads: their callers fail with `err` (refusals.ts) */
  rejectRefused (subject: StrongOperation, err: Error): void {
    this.requests.rejectRefused(subject, err)
    this.leaseAsks.rejectRefused(subject, err)
  }

  /**
   * asks the leader to renew a lease (`keepalive`) or for its time to live (`ttl`), answered from
   * its memory without a Raft entry (driver-leases.ts): the lease's times, undefined when it is gone
   */
  async leaseRequest (kind: LeaseAskKind, lease: number, options: DriverRequestOptions = {}): Promise<LeaseTimesAnswer | undefined> {
    return await this.leaseAsks.request(kind, lease, options)
  }

  /** resolves once this peer has applied everything committed before the call (ReadIndex) */
  async readBarrier (options: DriverRequestOptions = {}): Promise<void> {
    await this.requests.readBarrier(options)
  }

  /** proposes a membership change; throws ProposalDroppedError if it cannot be taken now */
  proposeConfChange (cc: ConfChange): void {
    this.raw.proposeConfChange(cc)
    this.schedule()
  }

  transferLeader (to: string): void {
    this.raw.transferLeader(to)
    this.schedule()
  }

  status (): RaftStatus {
    return this.raw.status()
  }

  // ---- the loop ----

  private schedule (): void {
    if (!this.running || this.fatal !== undefined) return
    if (this.writing && !this.earlyDue) {
      // after the I/O already waiting, as the loop: what arrives together goes in one frame per peer
      this.earlyDue = true
      runAfterIo(() => {
        this.earlyDue = false
        if (this.writing && !this.writingSnapshot && this.running && this.fatal === undefined) this.outbox.sendWhileWriting()
      })
    }
    if (this.loopRunning) return
    this.loopRunning = true
    // after the I/O already waiting (every socket read ready now): proposals, answers and reads
    // that arrive together go into one Ready, one synced batch and one frame per peer
    runAfterIo(() => { void this.runLoop() })
  }

  private async runLoop (): Promise<void> {
    try {
      while (this.running && this.fatal === undefined && this.raw.hasReady()) {
        await this.handleReady(this.raw.ready())
      }
    } catch (err) {
      this.fail(err)
    } finally {
      this.loopRunning = false
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiters) w()
    }
  }

  private async handleReady (rd: Ready): Promise<void> {
    const confBefore = this.applier.confState
    const hs = rd.hardState
    const durableVote = hs === undefined || (hs.term === this.persistedTerm && hs.vote === this.persistedVote)
    const sendFirst = this.raw.raft.role === 'leader' && rd.snapshot === undefined && durableVote
    if (sendFirst) this.outbox.send(rd.messages)
    this.outbox.writing(sendFirst ? [] : rd.messages)
    // committed entries are applied while this Ready's write runs, not after it, whether or not
    // this peer's own copy is durable yet: a commit index rests only on durable copies of a
    // majority (Raft counts the leader's own copy once written, raft-core.ts selfAcked), so no
    // crash takes them out of the log, and their callers need not wait for this peer's fsync
    // (etcd's apply does not wait for the leader's WAL write either). A snapshot goes first.
    const applyEarly = rd.snapshot === undefined
    if (rd.snapshot !== undefined || rd.entries.length > 0 || rd.mustSync) {
      const hardState = hs ?? this.lazyHardState
      const started = this.clock.monotonic()
      this.writing = true
      this.writingSnapshot = rd.snapshot !== undefined
      // the write is handed to the disk first and the committed entries are applied while
      // it runs: on a follower this write, then its answer to the leader, is what a write waits for
      const persisted = this.log.persist({ snapshot: rd.snapshot, entries: rd.entries, hardState })
      let applyFailure: unknown
      try {
        if (applyEarly) this.applier.applyEntries(rd.committedEntries)
      } catch (err) {
        applyFailure = err ?? new Error('apply failed')
      }
      try {
        await persisted
      } catch (err) {
        throw err instanceof StorageError ? err : new StorageError(`raft log write failed: ${describeError(err).message}`, { cause: err })
      } finally {
        this.writing = false
        this.writingSnapshot = false
      }
      // the loop stops on it as before, once the write it had started is over
      if (applyFailure !== undefined) throw applyFailure
      this.hooks.persisted?.((this.clock.monotonic() - started) / 1000)
      this.lazyHardState = undefined
      if (hardState !== undefined) {
        this.persistedTerm = hardState.term
        this.persistedVote = hardState.vote
      }
    } else {
      // nothing to write (so no snapshot either): apply now
      const answeredBefore = this.requests.answered
      this.applier.applyEntries(rd.committedEntries)
      if (hs !== undefined) this.lazyHardState = hs
      // a follower told of a commit answers its own callers first: what this Ready sends (no
      // entries were appended, so only answers to commit notices, heartbeats or refusals) waits
      // one turn, while their replies go out
      if (this.requests.answered !== answeredBefore && !sendFirst && rd.messages.length > 0) await afterIo()
    }
    if (!sendFirst) this.outbox.send(rd.messages)
    if (rd.snapshot !== undefined) this.applier.installSnapshot(rd.snapshot)
    let answered = false
    for (const rs of rd.readStates) if (this.requests.reads.answered(rs.requestCtx, rs.index)) answered = true
    if (!applyEarly) this.applier.applyEntries(rd.committedEntries)
    if (rd.softState !== undefined) this.onSoftState(rd.softState)
    this.raw.advance()
    // only now is a membership change applied as far as Raft knows (the next one may be proposed)
    if (this.applier.confState !== confBefore) this.hooks.confApplied?.()
    this.requests.reads.release(this.sm.appliedIndex)
    const lead = this.raw.raft.lead
    if (answered && lead !== '') this.requests.issueReads(this.clock.monotonic(), lead)
    await this.applier.maybeSnapshot()
  }

  private onSoftState (ss: SoftState): void {
    if (this.leaders.reported(ss.lead)) {
      this.hooks.leaderChanged?.(ss.lead, this.raw.raft.term)
      if (ss.lead !== '') {
        const now = this.clock.monotonic()
        this.requests.submitDue(now, ss.lead)
        this.requests.issueReads(now, ss.lead)
      }
    }
    if (ss.role !== this.role) {
      this.role = ss.role
      this.hooks.roleChanged?.(ss.role)
    }
  }

  private fail (err: unknown): void {
    const e = err instanceof Error ? err : new StorageError(String(err))
    this.logger.error('raft driver stopped working: %s', describeError(e).message)
    this.fatal = e
    this.clock.clearInterval(this.timer)
    this.timer = undefined
    this.outbox.stop()
    this.requests.rejectAll(e)
    this.leaseAsks.rejectAll(e)
    this.hooks.failed?.(e)
  }
}
