/**
 * The state of one Raft node and the actions every role shares: role transitions, timers counted
 * in ticks, sending appends/heartbeats/snapshots, committing, elections and membership changes.
 * Message handling per role lives in raft.ts (class Raft extends RaftCore).
 */
import { resolveRaftConfig } from './config.ts'
import type { RaftConfig, RaftLogger, ResolvedRaftConfig } from './config.ts'
import { describeConfChange, describeConfState } from './conf-change.ts'
import { Progress, ProgressState } from './progress.ts'
import { RaftLog } from './raft-log.ts'
import { ReadOnly } from './read-only.ts'
import { SnapshotTemporarilyUnavailableError } from './storage.ts'
import { ProgressTracker, VoteResult } from './tracker.ts'
import { CAMPAIGN_TRANSFER_CONTEXT, CampaignType, MESSAGE_TYPE_NAMES, newMessage } from './messages.ts'
import { EntryType, MessageType } from './types.ts'
import type { ConfChange, ConfState, Entry, HardState, Message, NodeId, ReadState, Snapshot, SoftState, StateRole } from './types.ts'

const EMPTY_DATA = new Uint8Array(0)

export abstract class RaftCore {
  readonly id: NodeId
  readonly cfg: ResolvedRaftConfig
  readonly log: RaftLogger
  term = 0
  vote: NodeId | '' = ''
  lead: NodeId | '' = ''
  role: StateRole = 'follower'
  isLearner = false
  readonly raftLog: RaftLog
  readonly prs: ProgressTracker
  msgs: Message[] = []
  readStates: ReadState[] = []
  leadTransferee: NodeId | '' = ''
  /** index of the latest conf change proposed; another is refused until it is applied */
  pendingConfIndex = 0
  uncommittedSize = 0
  readonly readOnly: ReadOnly
  /** ReadIndex requests held until the leader commits an entry of its own term */
  pendingReadIndexMessages: Message[] = []
  electionElapsed = 0
  heartbeatElapsed = 0
  randomizedElectionTimeout = 0

  constructor (config: RaftConfig) {
    this.cfg = resolveRaftConfig(config)
    this.id = this.cfg.id
    this.log = this.cfg.logger
    this.raftLog = new RaftLog(this.cfg.storage, this.cfg.maxCommittedSizePerReady)
    this.prs = new ProgressTracker(this.cfg.maxInflightMsgs)
    this.readOnly = new ReadOnly(this.cfg.maxPendingReadIndex)
    const { hardState, confState } = this.cfg.storage.initialState()
    this.restoreConfState(confState)
    if (hardState.term !== 0 || hardState.vote !== '' || hardState.commit !== 0) this.loadState(hardState)
    if (this.cfg.applied > 0) this.raftLog.appliedTo(Math.min(this.cfg.applied, this.raftLog.committed))
    this.becomeFollower(this.term, '')
    this.log.info(`newRaft ${this.id} [${describeConfState(this.prs.confState())}] [term: ${this.term}, commit: ${this.raftLog.committed}, applied: ${this.raftLog.applied}, lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}]`)
  }

  abstract step (m: Message): void

  /** starts the ReadIndex rounds held until this leader committed an entry of its term */
  abstract releasePendingReadIndexMessages (): void

  hardState (): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed }
  }

  softState (): SoftState {
    return { lead: this.lead, role: this.role }
  }

  private loadState (hs: HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      throw new Error(`${this.id} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`)
    }
    this.raftLog.committed = hs.commit
    this.term = hs.term
    this.vote = hs.vote
  }

  /** may this node campaign? (a voter, and not in the middle of applying a snapshot) */
  promotable (): boolean {
    const pr = this.prs.progress.get(this.id)
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasPendingSnapshot()
  }

  // ---- sending -------------------------------------------------------------------------------

  send (m: Message): void {
    if (m.from === '') m.from = this.id
    this.msgs.push(m)
  }

  /** sends an append (or a snapshot) to `to` if it is not paused; false if nothing was sent */
  maybeSendAppend (to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.progress.get(to)
    if (pr === undefined || pr.isPaused()) return false
    const prevTerm = this.raftLog.termOrNegative(pr.next - 1)
    let ents: Entry[] | undefined
    if (prevTerm !== -1 && pr.next >= this.raftLog.firstIndex()) {
      ents = this.raftLog.entries(pr.next, this.cfg.maxSizePerMsg)
      if (ents.length === 0 && !sendIfEmpty) return false
    }
    if (ents === undefined) return this.maybeSendSnapshot(to, pr)
    const m = newMessage(MessageType.App, to, this.id, this.term)
    m.index = pr.next - 1
    m.logTerm = prevTerm
    m.entries = ents
    m.commit = this.raftLog.committed
    const n = ents.length
    if (n !== 0) {
      if (pr.state === ProgressState.Replicate) {
        const last = ents[n - 1].index
        pr.optimisticUpdate(last)
        pr.inflights.add(last)
      } else if (pr.state === ProgressState.Probe) {
        pr.probeSent = true
      }
    }
    this.send(m)
    return true
  }

  private maybeSendSnapshot (to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false
    let snapshot: Snapshot
    try {
      snapshot = this.raftLog.snapshot()
    } catch (err) {
      if (err instanceof SnapshotTemporarilyUnavailableError) return false
      throw err
    }
    if (snapshot.metadata.index === 0) throw new Error('need non-empty snapshot')
    pr.becomeSnapshot(snapshot.metadata.index)
    this.log.info(`${this.id} [firstindex: ${this.raftLog.firstIndex()}, commit: ${this.raftLog.committed}] sent snapshot[index: ${snapshot.metadata.index}, term: ${snapshot.metadata.term}] to ${to} [${pr.toString()}]`)
    const m = newMessage(MessageType.Snap, to, this.id, this.term)
    m.snapshot = snapshot
    this.send(m)
    return true
  }

  sendAppend (to: NodeId): void {
    this.maybeSendAppend(to, true)
  }

  sendHeartbeat (to: NodeId, ctx: Uint8Array | undefined): void {
    const pr = this.prs.progress.get(to)
    if (pr === undefined) return
    const m = newMessage(MessageType.Heartbeat, to, this.id, this.term)
    m.commit = Math.min(pr.match, this.raftLog.committed)
    m.context = ctx
    this.send(m)
  }

  bcastAppend (): void {
    for (const id of this.prs.progress.keys()) if (id !== this.id) this.sendAppend(id)
  }

  bcastHeartbeat (ctx: Uint8Array | undefined = this.readOnly.lastPendingRequestCtx()): void {
    for (const id of this.prs.progress.keys()) if (id !== this.id) this.sendHeartbeat(id, ctx)
  }

  sendTimeoutNow (to: NodeId): void {
    this.send(newMessage(MessageType.TimeoutNow, to, this.id, this.term))
  }

  // ---- log -----------------------------------------------------------------------------------

  /** appends entries of the current term on the leader; false when the uncommitted budget is full */
  appendEntry (es: Entry[]): boolean {
    const li = this.raftLog.lastIndex()
    let size = 0
    for (let i = 0; i < es.length; i++) {
      es[i].term = this.term
      es[i].index = li + 1 + i
      size += es[i].data.byteLength
    }
    if (this.uncommittedSize > 0 && size > 0 && this.uncommittedSize + size > this.cfg.maxUncommittedEntriesSize) return false
    this.uncommittedSize += size
    this.raftLog.append(es)
    // the leader's own copy counts towards a quorum once it is durable (selfAcked, after the
    // driver persisted it), as a follower's does once it acknowledged it
    return true
  }

  reduceUncommittedSize (ents: Entry[]): void {
    if (this.uncommittedSize === 0) return
    let s = 0
    for (const e of ents) s += e.data.byteLength
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s
  }

  /**
   * the driver persisted this log up to its stable last index: on the leader that copy now counts
   * towards the commit quorum (etcd-io/raft's self MsgStorageAppendResp). Counting it at append
   * time let a commit index rest on entries only in the leader's memory: with appends sent while an
   * earlier batch is written (early-send.ts), a follower's acknowledgement of entries the leader had
   * not yet written committed them, and the next Ready told the followers before its write, so a
   * follower could apply an entry that a crash of the leader then took out of the log.
   */
  selfAcked (): void {
    if (this.role !== 'leader') return
    const self = this.prs.progress.get(this.id)
    if (self === undefined || !self.maybeUpdate(this.raftLog.stableLastIndex())) return
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages()
      this.bcastAppend()
    }
  }

  maybeCommit (): boolean {
    return this.raftLog.maybeCommit(this.prs.committed(), this.term)
  }

  committedEntryInCurrentTerm (): boolean {
    return this.raftLog.term(this.raftLog.committed) === this.term
  }

  // ---- roles ---------------------------------------------------------------------------------

  reset (term: number): void {
    if (this.term !== term) {
      this.term = term
      this.vote = ''
    }
    this.lead = ''
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.randomizedElectionTimeout = this.cfg.electionTick + this.cfg.rng.int(this.cfg.electionTick)
    this.leadTransferee = ''
    this.prs.resetVotes()
    const last = this.raftLog.lastIndex()
    for (const [id, pr] of this.prs.progress) {
      const fresh = new Progress(last + 1, this.cfg.maxInflightMsgs, pr.isLearner)
      if (id === this.id) fresh.match = this.raftLog.stableLastIndex()
      this.prs.progress.set(id, fresh)
    }
    this.pendingConfIndex = 0
    this.uncommittedSize = 0
    this.readOnly.reset()
    this.pendingReadIndexMessages = []
  }

  becomeFollower (term: number, lead: NodeId | ''): void {
    this.reset(term)
    this.lead = lead
    this.role = 'follower'
    this.log.info(`${this.id} became follower at term ${this.term}`)
  }

  becomePreCandidate (): void {
    if (this.role === 'leader') throw new Error('invalid transition [leader -> pre-candidate]')
    // a pre-candidate changes neither term nor vote
    this.prs.resetVotes()
    this.lead = ''
    this.role = 'pre-candidate'
    this.log.info(`${this.id} became pre-candidate at term ${this.term}`)
  }

  becomeCandidate (): void {
    if (this.role === 'leader') throw new Error('invalid transition [leader -> candidate]')
    this.reset(this.term + 1)
    this.vote = this.id
    this.role = 'candidate'
    this.log.info(`${this.id} became candidate at term ${this.term}`)
  }

  becomeLeader (): void {
    if (this.role === 'follower') throw new Error('invalid transition [follower -> leader]')
    this.reset(this.term)
    this.lead = this.id
    this.role = 'leader'
    const self = this.prs.progress.get(this.id)
    if (self !== undefined) {
      self.becomeReplicate()
      self.recentActive = true
    }
    // conservatively treat every unapplied entry as a possible conf change
    this.pendingConfIndex = this.raftLog.lastIndex()
    const empty: Entry = { term: 0, index: 0, type: EntryType.Normal, data: EMPTY_DATA }
    this.appendEntry([empty])
    this.log.info(`${this.id} became leader at term ${this.term}`)
  }

  tick (): void {
    if (this.role === 'leader') this.tickHeartbeat()
    else this.tickElection()
  }

  private tickElection (): void {
    this.electionElapsed++
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0
      this.step(newMessage(MessageType.Hup, this.id, this.id, 0))
    }
  }

  private tickHeartbeat (): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0
      if (this.cfg.checkQuorum) this.step(newMessage(MessageType.CheckQuorum, this.id, this.id, 0))
      // a transfer that did not finish within an election timeout is abandoned
      if (this.role === 'leader' && this.leadTransferee !== '') this.leadTransferee = ''
    }
    if (this.role !== 'leader') return
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0
      this.step(newMessage(MessageType.Beat, this.id, this.id, 0))
    }
  }

  // ---- elections -----------------------------------------------------------------------------

  hup (t: CampaignType): void {
    if (this.role === 'leader') return
    if (!this.promotable()) {
      this.log.warn(`${this.id} is unpromotable and can not campaign`)
      return
    }
    if (this.raftLog.committed > this.raftLog.applied) {
      const ents = this.raftLog.slice(this.raftLog.applied + 1, this.raftLog.committed + 1, Infinity)
      if (ents.some(e => e.type === EntryType.ConfChange)) {
        this.log.warn(`${this.id} cannot campaign at term ${this.term} since there are still pending configuration changes to apply`)
        return
      }
    }
    this.log.info(`${this.id} is starting a new election at term ${this.term}`)
    this.campaign(t)
  }

  campaign (t: CampaignType): void {
    if (!this.promotable()) return
    let term: number
    let voteType: MessageType
    if (t === CampaignType.PreElection) {
      this.becomePreCandidate()
      voteType = MessageType.PreVote
      term = this.term + 1 // the term we would campaign at, without bumping ours yet
    } else {
      this.becomeCandidate()
      voteType = MessageType.Vote
      term = this.term
    }
    const respType = voteType === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp
    if (this.poll(this.id, respType, true) === VoteResult.Won) {
      // a single-voter group wins at once
      if (t === CampaignType.PreElection) this.campaign(CampaignType.Election)
      else this.becomeLeader()
      return
    }
    const lastIndex = this.raftLog.lastIndex()
    const lastTerm = this.raftLog.lastTerm()
    for (const id of [...this.prs.voters].sort()) {
      if (id === this.id) continue
      this.log.info(`${this.id} [logterm: ${lastTerm}, index: ${lastIndex}] sent ${MESSAGE_TYPE_NAMES[voteType]} request to ${id} at term ${this.term}`)
      const m = newMessage(voteType, id, this.id, term)
      m.index = lastIndex
      m.logTerm = lastTerm
      if (t === CampaignType.Transfer) m.context = CAMPAIGN_TRANSFER_CONTEXT
      this.send(m)
    }
  }

  poll (id: NodeId, t: MessageType, granted: boolean): VoteResult {
    this.log.info(`${this.id} received ${MESSAGE_TYPE_NAMES[t]} ${granted ? '' : 'rejection '}from ${id} at term ${this.term}`)
    this.prs.recordVote(id, granted)
    return this.prs.tallyVotes().result
  }

  // ---- membership ----------------------------------------------------------------------------

  private restoreConfState (cs: ConfState): void {
    this.prs.restore(cs, this.raftLog.lastIndex() + 1)
    this.isLearner = this.prs.learners.has(this.id)
  }

  /** applies a committed membership change (the application calls this via RawNode) */
  applyConfChange (cc: ConfChange): ConfState {
    this.prs.applyConfChange(cc, this.raftLog.lastIndex())
    const cs = this.prs.confState()
    this.log.info(`${this.id} applied conf change ${describeConfChange(cc)}: ${describeConfState(cs)}`)
    this.afterConfChange()
    return cs
  }

  private afterConfChange (): void {
    const self = this.prs.progress.get(this.id)
    this.isLearner = self?.isLearner === true
    if ((self === undefined || this.isLearner) && this.role === 'leader') {
      // removed or demoted: stop leading so the rest of the group elects a new leader
      this.becomeFollower(this.term, '')
      return
    }
    if (this.role !== 'leader' || this.prs.voters.size === 0) return
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages()
      this.bcastAppend()
    } else {
      for (const id of this.prs.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, false)
    }
    if (this.leadTransferee !== '' && !this.prs.voters.has(this.leadTransferee)) this.leadTransferee = ''
  }

  /** installs a snapshot from the leader; false if it is stale (or only fast-forwards commit) */
  restoreSnapshot (s: Snapshot): boolean {
    const { index, term } = s.metadata
    if (index <= this.raftLog.committed) return false
    if (this.role !== 'follower') {
      // defensive: only followers receive snapshots; make sure we cannot be a leader of this term
      this.becomeFollower(this.term + 1, '')
      return false
    }
    if (this.raftLog.matchTerm(index, term)) {
      this.log.info(`${this.id} [commit: ${this.raftLog.committed}, lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}] fast-forwarded commit to snapshot [index: ${index}, term: ${term}]`)
      this.raftLog.commitTo(index)
      return false
    }
    this.raftLog.restore(s)
    this.restoreConfState(s.metadata.confState)
    this.log.info(`${this.id} [commit: ${this.raftLog.committed}] restored snapshot [index: ${index}, term: ${term}]`)
    return true
  }
}
