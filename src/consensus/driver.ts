/**
 * The Raft driver: owns one RawNode and runs its loop in etcd's order — persist the Ready's
 * snapshot, entries and hard state as one synced batch, send its messages, apply its snapshot and
 * committed entries to the KV state machine, then advance. A leader whose term and vote are already
 * durable sends first and persists in parallel (Raft thesis 10.2.1; nothing it sends can be
 * committed before the loop comes round again). Every proposal that arrives while a batch is
 * being persisted goes into the next Ready: one fsync per batch (group commit).
 *
 * Proposals carry a request id: the waiter is settled when the entry with that id is applied here
 * (on a follower too: proposals are forwarded to the leader by the core), and a proposal that has
 * not been applied is submitted again with the same id after a leader change or a while; the state
 * machine applies an id once. Reads are linearizable via batched ReadIndex rounds.
 */
import { runAfterIo } from '#platform/immediate'
import type { Tracing } from '../monitoring/types.ts'
import { InvalidArgumentError, NoQuorumError, NotStartedError, StorageError, describeError } from '../errors.ts'
import { deferred, raceSignal, throwIfAborted } from '../util/abort.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import type { Rng } from '../util/prng.ts'
import {
  COMPACT_KEEP_ENTRIES, NO_LEADER_GRACE_MS, RAFT_ELECTION_TICKS, RAFT_HEARTBEAT_TICKS, RAFT_TICK_MS,
  SNAPSHOT_EVERY_BYTES, SNAPSHOT_EVERY_ENTRIES
} from './constants.ts'
import { KvStateMachine, decodeCommand, encodeCommand } from './kv/index.ts'
import type { KvCommand, KvResult } from './kv/index.ts'
import type { DurableRaftLog } from './log-store.ts'
import { PendingProposals, ReadQueue } from './pending.ts'
import type { ProposalWaiter, ReadWaiter } from './pending.ts'
import { EntryType, ProposalDroppedError, RawNode, coalesceMessages, decodeConfChange, raftConstants } from './raft/index.ts'
import type { ConfChange, ConfState, Entry, Message, RaftLogger, RaftStatus, Ready, Snapshot, SoftState, StateRole } from './raft/index.ts'
import type { RaftSender } from './raft-transport.ts'

const EMPTY = new Uint8Array(0)
const { MAX_SIZE_PER_MSG_BYTES } = raftConstants

/** commands that carry a request id (the state machine applies each id once) */
const IDEMPOTENT_COMMANDS = new Set<KvCommand['type']>(['put', 'delete', 'cas', 'txn', 'lease-grant', 'lease-keepalive', 'lease-revoke'])

function requestIdOf (cmd: KvCommand): string | undefined {
  return 'requestId' in cmd && typeof cmd.requestId === 'string' ? cmd.requestId : undefined
}

export interface DriverHooks {
  /** the known leader changed ('' for none) */
  leaderChanged?: (leader: string, term: number) => void
  roleChanged?: (role: StateRole) => void
  /** the membership changed (a conf change or a snapshot was applied) */
  confChanged?: (cs: ConfState) => void
  /** a snapshot sent by a member of `groupId` was installed */
  snapshotInstalled?: (groupId: string) => void
  /** a command without a request id (expire-leases, lease-promote) was applied from an entry of `term` */
  applied?: (cmd: KvCommand, term: number, result: KvResult) => void
  /** the driver stopped working (the log cannot be written) */
  failed?: (err: Error) => void
  /** seconds spent making one Ready durable */
  persisted?: (seconds: number) => void
  /** seconds from a proposal to its result */
  proposalDone?: (seconds: number, ok: boolean) => void
}

export interface RaftDriverInit {
  id: string
  log: DurableRaftLog
  sender: RaftSender
  clock: Clock
  rng: Rng
  logger: Logger
  hooks?: DriverHooks
  tickMs?: number
  electionTicks?: number
  heartbeatTicks?: number
  snapshotEveryEntries?: number
  compactKeepEntries?: number
  raftLogger?: RaftLogger
  /** spans around proposals (`raft.propose`), when given */
  tracing?: Tracing
}

/** proposals not worth a span: periodic housekeeping, not anyone's request */
const UNTRACED_COMMANDS = new Set<string>(['lease-keepalive', 'expire-leases', 'lease-promote'])

export class RaftDriver {
  readonly id: string
  readonly log: DurableRaftLog
  private readonly init: RaftDriverInit
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly hooks: DriverHooks
  private raw!: RawNode
  sm = new KvStateMachine()
  confState: ConfState = { voters: [], learners: [] }
  private readonly proposals = new PendingProposals()
  private readonly reads: ReadQueue
  private timer: TimerHandle | undefined
  private loopRunning = false
  private idleWaiters: Array<() => void> = []
  private running = false
  private fatal: Error | undefined
  private lead = ''
  private role: StateRole = 'follower'
  private leaderlessSince: number
  private readonly leaderWaiters = new Set<() => void>()
  /** a commit-only hard state not yet written (it rides along with the next synced batch) */
  private lazyHardState: Ready['hardState']
  /** a Ready's batch is being written (and whether it holds a snapshot) */
  private writing = false
  private writingSnapshot = false
  private persistedTerm = 0
  private persistedVote = ''
  /** group of the member that sent the snapshot being installed */
  private snapshotGroup = ''
  private seq = 0
  private readonly requestPrefix: string

  constructor (init: RaftDriverInit) {
    this.init = init
    this.id = init.id
    this.log = init.log
    this.clock = init.clock
    this.logger = init.logger
    this.hooks = init.hooks ?? {}
    this.reads = new ReadQueue(init.rng.int(2 ** 32))
    this.leaderlessSince = init.clock.monotonic()
    this.requestPrefix = `${init.id.slice(-8)}.${init.rng.int(2 ** 32).toString(36)}.`
    this.buildRawNode()
  }

  get tickMs (): number { return this.init.tickMs ?? RAFT_TICK_MS }
  get electionTimeoutMs (): number { return (this.init.electionTicks ?? RAFT_ELECTION_TICKS) * this.tickMs }
  get leader (): string { return this.raw.raft.lead }
  get isMember (): boolean { return this.confState.voters.includes(this.id) || this.confState.learners.includes(this.id) }
  get isVoter (): boolean { return this.confState.voters.includes(this.id) }
  get pendingConfChange (): boolean { return this.raw.raft.pendingConfIndex > this.raw.raft.raftLog.applied }
  get failure (): Error | undefined { return this.fatal }
  get rawNode (): RawNode { return this.raw }
  /** monotonic ms without a known leader (0 while one is known) */
  get leaderlessMs (): number { return this.raw.raft.lead === '' ? this.clock.monotonic() - this.leaderlessSince : 0 }

  /** (re)creates the RawNode and the state machine from what the log holds */
  private buildRawNode (): void {
    const snap = this.log.snapshot()
    this.sm = new KvStateMachine()
    if (snap.data.byteLength > 0) this.sm.restore(snap.data)
    this.confState = this.log.initialState().confState
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
    this.leaderlessSince = this.clock.monotonic()
    this.timer = this.clock.setInterval(() => { this.onTick() }, this.tickMs)
    this.campaignIfAlone()
    this.schedule()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.clock.clearInterval(this.timer)
    this.timer = undefined
    await this.idle()
    const err = new NotStartedError('consensus stopped')
    this.proposals.rejectAll(err)
    this.reads.rejectAll(err)
    for (const w of [...this.leaderWaiters]) w()
  }

  /**
   * replaces the log's (empty) content with a new group's bootstrap snapshot holding `confState`
   * and restarts the RawNode from it
   */
  async bootstrap (confState: ConfState): Promise<void> {
    await this.idle()
    await this.log.applySnapshot({ metadata: { index: 1, term: 1, confState }, data: EMPTY })
    this.buildRawNode()
    this.hooks.confChanged?.(this.confState)
    this.campaignIfAlone()
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
    if (m.snapshot !== undefined) this.snapshotGroup = groupId
    try {
      this.raw.step(m)
    } catch (err) {
      this.logger('dropped a raft message from %s: %s', m.from, describeError(err).message)
      return
    }
    if (this.writing) this.applyCommittedWhileWriting()
    this.schedule()
  }

  /**
   * While a Ready's batch is being written, entries committed in the meantime (an append response
   * on the leader, the leader's commit index on a follower) that this peer already holds durably
   * are applied at once: their callers need not wait for that fsync and the next Ready. The next
   * Ready hands them over again and applyEntries skips them. Stops before a membership change,
   * which goes through the Ready in order, and does nothing while a snapshot is being written.
   */
  private applyCommittedWhileWriting (): void {
    if (this.writingSnapshot) return
    const raftLog = this.raw.raft.raftLog
    const from = this.sm.appliedIndex + 1
    const to = Math.min(raftLog.committed, this.log.lastIndex())
    if (to < from || from < raftLog.firstIndex()) return
    let ents: Entry[]
    try {
      ents = raftLog.slice(from, to + 1, Infinity)
    } catch {
      return
    }
    const cc = ents.findIndex(e => e.type === EntryType.ConfChange)
    this.applyEntries(cc < 0 ? ents : ents.slice(0, cc))
    this.reads.release(this.sm.appliedIndex)
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
    const lead = this.raw.raft.lead
    if (lead !== '') {
      this.submitDue(now, lead)
      this.issueReads(now, lead)
    } else if (now - this.leaderlessSince > NO_LEADER_GRACE_MS && (this.proposals.size > 0 || this.reads.size > 0)) {
      const err = this.noQuorum()
      this.proposals.rejectAll(err)
      this.reads.rejectUnanswered(err)
    }
    this.schedule()
  }

  private noQuorum (): Error {
    if (!this.isMember) return new NoQuorumError('this peer is not (yet) a member of the raft group')
    return new NoQuorumError(`no raft leader known for ${Math.round(this.leaderlessMs)} ms`)
  }

  /** waits until a leader is known; NoQuorumError once none has been for NO_LEADER_GRACE_MS */
  async waitForLeader (options: AbortOptions = {}): Promise<string> {
    for (;;) {
      if (!this.running) throw new NotStartedError('consensus is not running')
      if (this.fatal !== undefined) throw this.fatal
      throwIfAborted(options.signal)
      const lead = this.raw.raft.lead
      if (lead !== '') return lead
      const left = NO_LEADER_GRACE_MS - (this.clock.monotonic() - this.leaderlessSince)
      if (left <= 0 || (!this.isMember && this.log.lastIndex() === 0)) throw this.noQuorum()
      const wake = deferred<void>()
      const timer = this.clock.setTimeout(() => { wake.resolve() }, Math.min(left, this.tickMs))
      this.leaderWaiters.add(wake.resolve)
      try {
        await raceSignal(wake.promise, options.signal)
      } finally {
        this.clock.clearTimeout(timer)
        this.leaderWaiters.delete(wake.resolve)
      }
    }
  }

  /** a fresh request id (unique across peers and restarts) */
  newRequestId (): string {
    return this.requestPrefix + (++this.seq).toString(36)
  }

  /**
   * proposes a KV command and resolves with its result once it is applied here. A write without a
   * requestId gets one. The result may be an error result (see unwrapResult).
   */
  async propose (command: KvCommand, options: AbortOptions & { traceparent?: string } = {}): Promise<KvResult> {
    const tracing = this.init.tracing
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

  private async proposeCommand (command: KvCommand, options: AbortOptions): Promise<KvResult> {
    throwIfAborted(options.signal)
    if (!IDEMPOTENT_COMMANDS.has(command.type)) throw new InvalidArgumentError(`a ${command.type} command carries no request id: use proposeOnce`)
    let cmd = command
    let requestId = requestIdOf(cmd)
    if (requestId === undefined) {
      requestId = this.newRequestId()
      cmd = { ...cmd, requestId } as KvCommand
    }
    const data = encodeCommand(cmd)
    await this.waitForLeader(options)
    // a request id already applied (a caller retrying after a lost answer) answers at once
    const seen = this.sm.requestRecord(requestId)
    if (seen !== undefined) return seen.result
    const d = deferred<KvResult>()
    const started = this.clock.monotonic()
    const w: ProposalWaiter = { requestId, data, resolve: d.resolve, reject: d.reject, submittedAt: 0, submittedTo: '', startedAt: started }
    this.proposals.add(w)
    this.submit(w, this.clock.monotonic(), this.raw.raft.lead)
    this.schedule()
    let ok = false
    try {
      const r = await raceSignal(d.promise, options.signal)
      ok = r.type !== 'error'
      return r
    } finally {
      this.proposals.delete(requestId)
      this.hooks.proposalDone?.((this.clock.monotonic() - started) / 1000, ok)
    }
  }

  /**
   * submits a command that carries no request id (expire-leases, lease-promote) once, without
   * waiting for it; the `applied` hook tells when such a command is applied. False when it could
   * not be submitted (no leader, or the leader refused it).
   */
  proposeOnce (command: KvCommand): boolean {
    if (!this.running || this.fatal !== undefined) return false
    try {
      this.raw.propose(encodeCommand(command))
    } catch (err) {
      if (err instanceof ProposalDroppedError) return false
      throw err
    }
    this.schedule()
    return true
  }

  /** true while a proposal with this request id waits here for its result */
  hasPendingProposal (requestId: string): boolean {
    return this.proposals.get(requestId) !== undefined
  }

  private submit (w: ProposalWaiter, now: number, lead: string): void {
    if (lead === '') return
    try {
      this.raw.propose(w.data)
      w.submittedAt = now
      w.submittedTo = lead
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err
      // retried on the next tick
      w.submittedAt = now
      w.submittedTo = ''
    }
  }

  private submitDue (now: number, lead: string): void {
    if (this.proposals.size === 0) return
    for (const w of this.proposals.due(now, lead)) this.submit(w, now, lead)
  }

  /** resolves once this peer has applied everything committed before the call (ReadIndex) */
  async readBarrier (options: AbortOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    await this.waitForLeader(options)
    const d = deferred<void>()
    const w: ReadWaiter = { resolve: d.resolve, reject: d.reject }
    this.reads.add(w)
    this.issueReads(this.clock.monotonic(), this.raw.raft.lead)
    this.schedule()
    try {
      await raceSignal(d.promise, options.signal)
    } catch (err) {
      this.reads.remove(w)
      throw err
    }
  }

  private issueReads (now: number, lead: string): void {
    const ctx = this.reads.toIssue(now, lead)
    if (ctx === undefined) return
    try {
      this.raw.readIndex(ctx)
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err
      this.reads.unissue()
    }
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
    if (!this.running || this.fatal !== undefined || this.loopRunning) return
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
    const hs = rd.hardState
    const durableVote = hs === undefined || (hs.term === this.persistedTerm && hs.vote === this.persistedVote)
    const sendFirst = this.raw.raft.role === 'leader' && rd.snapshot === undefined && durableVote
    if (sendFirst) this.sendAll(rd.messages)
    // committed entries this peer already holds durably are applied now, not after this Ready's
    // fsync: they are on a majority, so their callers need not wait for newer entries to be written
    let committed = rd.committedEntries
    if (rd.snapshot === undefined && committed.length > 0) {
      const durable = this.log.lastIndex()
      let n = 0
      while (n < committed.length && committed[n].index <= durable) n++
      if (n > 0) {
        this.applyEntries(n === committed.length ? committed : committed.slice(0, n))
        committed = n === committed.length ? [] : committed.slice(n)
      }
    }
    if (rd.snapshot !== undefined || rd.entries.length > 0 || rd.mustSync) {
      const hardState = hs ?? this.lazyHardState
      const started = this.clock.monotonic()
      this.writing = true
      this.writingSnapshot = rd.snapshot !== undefined
      try {
        await this.log.persist({ snapshot: rd.snapshot, entries: rd.entries, hardState })
      } catch (err) {
        throw err instanceof StorageError ? err : new StorageError(`raft log write failed: ${describeError(err).message}`, { cause: err })
      } finally {
        this.writing = false
        this.writingSnapshot = false
      }
      this.hooks.persisted?.((this.clock.monotonic() - started) / 1000)
      this.lazyHardState = undefined
      if (hardState !== undefined) {
        this.persistedTerm = hardState.term
        this.persistedVote = hardState.vote
      }
    } else if (hs !== undefined) {
      this.lazyHardState = hs
    }
    if (!sendFirst) this.sendAll(rd.messages)
    if (rd.snapshot !== undefined) this.installSnapshot(rd.snapshot)
    let answered = false
    for (const rs of rd.readStates) if (this.reads.answered(rs.requestCtx, rs.index)) answered = true
    this.applyEntries(committed)
    if (rd.softState !== undefined) this.onSoftState(rd.softState)
    this.raw.advance()
    this.reads.release(this.sm.appliedIndex)
    const lead = this.raw.raft.lead
    if (answered && lead !== '') this.issueReads(this.clock.monotonic(), lead)
    await this.maybeSnapshot()
  }

  private sendAll (messages: Message[]): void {
    if (messages.length === 0) return
    const byPeer = new Map<string, Message[]>()
    for (const m of messages) {
      const list = byPeer.get(m.to)
      if (list === undefined) byPeer.set(m.to, [m])
      else list.push(m)
    }
    for (const [to, list] of byPeer) this.init.sender.send(to, coalesceMessages(list, MAX_SIZE_PER_MSG_BYTES))
  }

  private installSnapshot (snap: Snapshot): void {
    const sm = new KvStateMachine()
    if (snap.data.byteLength > 0) sm.restore(snap.data)
    this.sm = sm
    this.confState = { voters: [...snap.metadata.confState.voters], learners: [...snap.metadata.confState.learners] }
    this.logger('installed snapshot at index %d', snap.metadata.index)
    this.hooks.snapshotInstalled?.(this.snapshotGroup)
    this.hooks.confChanged?.(this.confState)
    // proposals whose entries the snapshot covers are answered from its idempotency records
    for (const w of this.proposals.values()) {
      const rec = sm.requestRecord(w.requestId)
      if (rec !== undefined) { this.proposals.take(w.requestId); w.resolve(rec.result) }
    }
  }

  private applyEntries (entries: Entry[]): void {
    for (const e of entries) {
      // applied already while a batch was being written (applyCommittedWhileWriting)
      if (e.index <= this.sm.appliedIndex) continue
      if (e.type === EntryType.ConfChange) {
        this.sm.applyEncoded(e.index, EMPTY)
        let cc: ConfChange
        try {
          cc = decodeConfChange(e.data)
        } catch (err) {
          this.logger.error('unreadable conf change at index %d: %s', e.index, describeError(err).message)
          continue
        }
        this.confState = this.raw.applyConfChange(cc)
        this.hooks.confChanged?.(this.confState)
        continue
      }
      if (e.data.byteLength === 0) { this.sm.applyEncoded(e.index, EMPTY); continue }
      let cmd: KvCommand
      try {
        cmd = decodeCommand(e.data)
      } catch {
        this.sm.applyEncoded(e.index, e.data)
        continue
      }
      const result = this.sm.apply(e.index, cmd)
      const requestId = requestIdOf(cmd)
      if (requestId !== undefined) this.proposals.take(requestId)?.resolve(result)
      else this.hooks.applied?.(cmd, e.term, result)
    }
  }

  private onSoftState (ss: SoftState): void {
    if (ss.lead !== this.lead) {
      this.lead = ss.lead
      if (ss.lead === '') this.leaderlessSince = this.clock.monotonic()
      for (const w of [...this.leaderWaiters]) w()
      this.hooks.leaderChanged?.(ss.lead, this.raw.raft.term)
      if (ss.lead !== '') {
        const now = this.clock.monotonic()
        this.submitDue(now, ss.lead)
        this.issueReads(now, ss.lead)
      }
    }
    if (ss.role !== this.role) {
      this.role = ss.role
      this.hooks.roleChanged?.(ss.role)
    }
  }

  private async maybeSnapshot (): Promise<void> {
    const applied = this.sm.appliedIndex
    const snapIndex = this.log.snapshot().metadata.index
    if (applied <= snapIndex) return
    const byBytes = this.log.cachedBytes() >= SNAPSHOT_EVERY_BYTES
    if (!byBytes && applied - snapIndex < (this.init.snapshotEveryEntries ?? SNAPSHOT_EVERY_ENTRIES)) return
    await this.log.createSnapshot(applied, this.confState, this.sm.snapshot())
    const compactTo = byBytes ? applied : applied - (this.init.compactKeepEntries ?? COMPACT_KEEP_ENTRIES)
    if (compactTo >= this.log.firstIndex()) await this.log.compact(compactTo)
    this.logger('snapshot at index %d, log compacted to %d', applied, Math.max(compactTo, this.log.firstIndex() - 1))
  }

  private fail (err: unknown): void {
    const e = err instanceof Error ? err : new StorageError(String(err))
    this.logger.error('raft driver stopped working: %s', describeError(e).message)
    this.fatal = e
    this.clock.clearInterval(this.timer)
    this.timer = undefined
    this.proposals.rejectAll(e)
    this.reads.rejectAll(e)
    this.hooks.failed?.(e)
  }
}
