/**
 * Raft message handling: the term rules shared by all roles, then one step function per role.
 * Local proposals that cannot be accepted throw ProposalDroppedError.
 */
import { decodeConfChange } from './conf-change.ts'
import { MAX_PENDING_READ_INDEX_MESSAGES } from './constants.ts'
import { ProposalDroppedError } from './errors.ts'
import { ProgressState } from './progress.ts'
import { CampaignType, MESSAGE_TYPE_NAMES, isCampaignTransfer, newMessage } from './messages.ts'
import { RaftCore } from './raft-core.ts'
import { VoteResult } from './tracker.ts'
import { ConfChangeType, EntryType, MessageType } from './types.ts'
import type { Message } from './types.ts'

export class Raft extends RaftCore {
  step (m: Message): void {
    if (m.term === 0) {
      // local message (or a forwarded proposal / read, which carry no term)
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = isCampaignTransfer(m.context)
        const inLease = this.cfg.checkQuorum && this.lead !== '' && this.electionElapsed < this.cfg.electionTick
        if (!force && inLease) {
          // we heard from a live leader recently: do not let a disruptive node win a vote
          this.log.info(`${this.id} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote}] ignored ${MESSAGE_TYPE_NAMES[m.type]} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${this.cfg.electionTick - this.electionElapsed})`)
          return
        }
      }
      if (m.type === MessageType.PreVote) {
        // never change our term in response to a pre-vote
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // the term in a granted pre-vote response is the one we will campaign at
      } else {
        this.log.info(`${this.id} [term: ${this.term}] received a ${MESSAGE_TYPE_NAMES[m.type]} message with higher term from ${m.from} [term: ${m.term}]`)
        const fromLeader = m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap
        this.becomeFollower(m.term, fromLeader ? m.from : '')
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // a stale leader (e.g. after a partition) learns our term from this and steps down
        this.send(newMessage(MessageType.AppResp, m.from, this.id, this.term))
      } else if (m.type === MessageType.PreVote) {
        const resp = newMessage(MessageType.PreVoteResp, m.from, this.id, this.term)
        resp.reject = true
        this.send(resp)
      }
      return
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.cfg.preVote ? CampaignType.PreElection : CampaignType.Election)
        return
      case MessageType.Vote:
      case MessageType.PreVote: {
        const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp
        const canVote = this.vote === m.from ||
          (this.vote === '' && this.lead === '') ||
          (m.type === MessageType.PreVote && m.term > this.term)
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          this.log.info(`${this.id} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote}] cast ${MESSAGE_TYPE_NAMES[m.type]} for ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`)
          // the response carries the candidate's term so a pre-candidate can count it
          this.send(newMessage(respType, m.from, this.id, m.term))
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0
            this.vote = m.from
          }
        } else {
          this.log.info(`${this.id} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote}] rejected ${MESSAGE_TYPE_NAMES[m.type]} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`)
          const resp = newMessage(respType, m.from, this.id, this.term)
          resp.reject = true
          this.send(resp)
        }
        return
      }
    }
    switch (this.role) {
      case 'leader': this.stepLeader(m); return
      case 'follower': this.stepFollower(m); return
      default: this.stepCandidate(m)
    }
  }

  private proposeOnLeader (m: Message): void {
    if (m.entries.length === 0) throw new ProposalDroppedError('empty proposal')
    if (!this.prs.progress.has(this.id)) throw new ProposalDroppedError('this node was removed from the group')
    if (this.leadTransferee !== '') throw new ProposalDroppedError(`leadership is being transferred to ${this.leadTransferee}`)
    // copy: appendEntry assigns term and index, and the message's entries may be shared
    const ents = m.entries.map(e => ({ term: 0, index: 0, type: e.type, data: e.data }))
    let pendingConf = 0
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]
      if (e.type !== EntryType.ConfChange) continue
      let refuse = this.pendingConfIndex > this.raftLog.applied || pendingConf !== 0
      if (!refuse) {
        try {
          const cc = decodeConfChange(e.data)
          // removing the last voter would leave a group that can never commit again
          refuse = cc.type !== ConfChangeType.AddNode && this.prs.voters.size === 1 && this.prs.voters.has(cc.nodeId)
        } catch {
          refuse = true
        }
      }
      if (refuse) {
        this.log.info(`${this.id} ignoring conf change at index ${this.raftLog.lastIndex() + i + 1}: another is pending or it is invalid`)
        ents[i] = { term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }
      } else {
        pendingConf = this.raftLog.lastIndex() + i + 1
      }
    }
    if (!this.appendEntry(ents)) throw new ProposalDroppedError('too many uncommitted entries')
    if (pendingConf !== 0) this.pendingConfIndex = pendingConf
    this.bcastAppend()
  }

  private stepLeader (m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat()
        return
      case MessageType.CheckQuorum: {
        if (!this.prs.quorumActive(this.id)) {
          this.log.warn(`${this.id} stepped down to follower since quorum is not active`)
          this.becomeFollower(this.term, '')
        }
        for (const [id, pr] of this.prs.progress) if (id !== this.id) pr.recentActive = false
        return
      }
      case MessageType.Prop:
        this.proposeOnLeader(m)
        return
      case MessageType.ReadIndex:
        this.handleReadIndexOnLeader(m)
        return
    }
    const pr = this.prs.progress.get(m.from)
    if (pr === undefined) return
    switch (m.type) {
      case MessageType.AppResp: {
        pr.recentActive = true
        if (m.reject) {
          let nextProbe = m.rejectHint
          if (m.logTerm > 0) nextProbe = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm)
          if (pr.maybeDecrTo(m.index, nextProbe)) {
            if (pr.state === ProgressState.Replicate) pr.becomeProbe()
            this.sendAppend(m.from)
          }
          return
        }
        const oldPaused = pr.isPaused()
        if (!pr.maybeUpdate(m.index)) return
        if (pr.state === ProgressState.Probe) {
          pr.becomeReplicate()
        } else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) {
          pr.becomeProbe()
          pr.becomeReplicate()
        } else if (pr.state === ProgressState.Replicate) {
          pr.inflights.freeLE(m.index)
        }
        if (this.maybeCommit()) {
          this.releasePendingReadIndexMessages()
          this.bcastAppend()
        } else if (oldPaused) {
          this.sendAppend(m.from)
        }
        // fill the inflight window
        while (this.maybeSendAppend(m.from, false)) { /* keep sending */ }
        if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
          this.log.info(`${this.id} sent MsgTimeoutNow to ${m.from} after received MsgAppResp`)
          this.sendTimeoutNow(m.from)
        }
        return
      }
      case MessageType.HeartbeatResp: {
        pr.recentActive = true
        pr.probeSent = false
        // free one slot so a full window cannot stall forever when appends were lost
        if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne()
        if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from)
        if (m.context === undefined || m.context.length === 0) return
        const acks = this.readOnly.recvAck(m.from, m.context)
        if (acks === undefined || !this.readQuorum(acks)) return
        for (const rs of this.readOnly.advance(m.context)) this.respondToReadIndex(rs.req, rs.index)
        return
      }
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return
        if (m.reject) pr.pendingSnapshot = 0
        pr.becomeProbe()
        // wait for a heartbeat or append response before probing again
        pr.probeSent = true
        this.log.info(`${this.id} snapshot ${m.reject ? 'failed' : 'succeeded'}, resumed sending replication messages to ${m.from} [${pr.toString()}]`)
        return
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe()
        return
      case MessageType.TransferLeader: {
        if (pr.isLearner) {
          this.log.info(`${this.id} [term ${this.term}] ignored transferring leadership to learner ${m.from}`)
          return
        }
        const transferee = m.from
        if (this.leadTransferee !== '') {
          if (this.leadTransferee === transferee) return
          this.leadTransferee = ''
        }
        if (transferee === this.id) return
        this.log.info(`${this.id} [term ${this.term}] starts to transfer leadership to ${transferee}`)
        // the transfer must finish within one election timeout
        this.electionElapsed = 0
        this.leadTransferee = transferee
        if (pr.match === this.raftLog.lastIndex()) {
          this.log.info(`${this.id} sends MsgTimeoutNow to ${transferee} immediately as ${transferee} already has up-to-date log`)
          this.sendTimeoutNow(transferee)
        } else {
          this.sendAppend(transferee)
        }
      }
    }
  }

  private stepCandidate (m: Message): void {
    const myVoteResp = this.role === 'pre-candidate' ? MessageType.PreVoteResp : MessageType.VoteResp
    switch (m.type) {
      case MessageType.Prop:
        throw new ProposalDroppedError(`no leader at term ${this.term}`)
      case MessageType.App:
        this.becomeFollower(m.term, m.from)
        this.handleAppendEntries(m)
        return
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from)
        this.handleHeartbeat(m)
        return
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from)
        this.handleSnapshot(m)
        return
      case MessageType.ReadIndex:
        throw new ProposalDroppedError(`no leader at term ${this.term}`)
      case myVoteResp: {
        const res = this.poll(m.from, m.type, !m.reject)
        if (res === VoteResult.Won) {
          if (this.role === 'pre-candidate') {
            this.campaign(CampaignType.Election)
          } else {
            this.becomeLeader()
            this.bcastAppend()
          }
        } else if (res === VoteResult.Lost) {
          // a pre-candidate that lost keeps its term; a candidate already bumped it
          this.becomeFollower(this.term, '')
        }
      }
    }
  }

  private stepFollower (m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === '') throw new ProposalDroppedError(`no leader at term ${this.term}`)
        if (this.cfg.disableProposalForwarding) throw new ProposalDroppedError('proposal forwarding is disabled')
        this.forward(m)
        return
      case MessageType.App:
        this.electionElapsed = 0
        this.lead = m.from
        this.handleAppendEntries(m)
        return
      case MessageType.Heartbeat:
        this.electionElapsed = 0
        this.lead = m.from
        this.handleHeartbeat(m)
        return
      case MessageType.Snap:
        this.electionElapsed = 0
        this.lead = m.from
        this.handleSnapshot(m)
        return
      case MessageType.TransferLeader:
        if (this.lead === '') {
          this.log.info(`${this.id} no leader at term ${this.term}; dropping leader transfer msg`)
          return
        }
        this.forward(m)
        return
      case MessageType.TimeoutNow:
        this.log.info(`${this.id} [term ${this.term}] received MsgTimeoutNow from ${m.from} and starts an election to get leadership`)
        // a transfer skips pre-vote: the leader itself asked us to campaign
        this.hup(CampaignType.Transfer)
        return
      case MessageType.ReadIndex:
        if (this.lead === '') throw new ProposalDroppedError(`no leader at term ${this.term}; dropping index reading msg`)
        this.forward(m)
        return
      case MessageType.ReadIndexResp:
        if (m.entries.length !== 1) return
        // the commit index the leader knows we match up to, as a heartbeat carries it: an answer
        // confirmed without a heartbeat round brings what the read waits for
        if (m.from === this.lead) this.raftLog.commitTo(Math.min(m.commit, this.raftLog.lastIndex()))
        this.readStates.push({ index: m.index, requestCtx: m.entries[0].data })
    }
  }

  /** answers or queues a ReadIndex request on the leader */
  handleReadIndexOnLeader (m: Message): void {
    if (this.prs.isSingleton()) {
      this.respondToReadIndex(m, this.raftLog.committed)
      return
    }
    if (!this.committedEntryInCurrentTerm()) {
      // a new leader does not know the commit index yet: hold the read until its no-op commits
      if (this.pendingReadIndexMessages.length >= MAX_PENDING_READ_INDEX_MESSAGES) throw new ProposalDroppedError('too many reads waiting for the first commit of this term')
      this.pendingReadIndexMessages.push(m)
      return
    }
    if (!this.startReadIndexRound(m)) throw new ProposalDroppedError('too many pending reads')
  }

  /**
   * queues the read and sends a heartbeat round carrying its context, unless the request itself
   * completes a quorum; false if the queue is full.
   *
   * A voter's request counts as its ack when it was sent in this leader's term (`logTerm`, set by
   * forward()): the voter answers only a ReadIndexResp of the term it is still in (a lower term's
   * message is dropped), so when the answer is used the voter has stayed in this term from the
   * send to the answer, and so cast no vote in a later one while this leader read its commit
   * index. That is what a heartbeat ack in the round would prove; in a group of three the leader
   * and the asking follower are a quorum, and the round (two hops) is skipped.
   */
  startReadIndexRound (m: Message): boolean {
    const ctx = m.entries[0].data
    if (!this.readOnly.addRequest(this.raftLog.committed, m)) return false
    let acks = this.readOnly.recvAck(this.id, ctx)
    if (m.from !== '' && m.from !== this.id && m.logTerm === this.term) acks = this.readOnly.recvAck(m.from, ctx)
    if (acks !== undefined && this.readQuorum(acks)) {
      for (const rs of this.readOnly.advance(ctx)) this.respondToReadIndex(rs.req, rs.index)
      return true
    }
    this.bcastHeartbeat(ctx)
    return true
  }

  /** whether these acks (of a ReadIndex round) come from a quorum of voters */
  private readQuorum (acks: Set<string>): boolean {
    let n = 0
    for (const id of acks) if (this.prs.voters.has(id)) n++
    return n >= this.prs.quorum()
  }

  releasePendingReadIndexMessages (): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return
    const msgs = this.pendingReadIndexMessages
    this.pendingReadIndexMessages = []
    // reads beyond the queue's bound are dropped; their clients time out and retry
    for (const m of msgs) this.startReadIndexRound(m)
  }

  respondToReadIndex (req: Message, index: number): void {
    if (req.from === '' || req.from === this.id) {
      this.readStates.push({ index, requestCtx: req.entries[0].data })
      return
    }
    const resp = newMessage(MessageType.ReadIndexResp, req.from, this.id, this.term)
    resp.index = index
    resp.commit = Math.min(this.prs.progress.get(req.from)?.match ?? 0, this.raftLog.committed)
    resp.entries = req.entries
    this.send(resp)
  }

  /** sends a local request on to the leader (term 0: the leader treats it as local) */
  private forward (m: Message): void {
    // `from` stays: the requester for proposals and reads, the transferee for a transfer
    const f = newMessage(m.type, this.lead, m.from === '' ? this.id : m.from, 0)
    f.entries = m.entries
    f.context = m.context
    // our own read says which term we asked it in (in the leader's term it counts as our ack);
    // a read passed on for another peer claims nothing
    if (m.type === MessageType.ReadIndex) f.logTerm = f.from === this.id ? this.term : 0
    this.send(f)
  }

  private handleAppendEntries (m: Message): void {
    if (m.index < this.raftLog.committed) {
      const resp = newMessage(MessageType.AppResp, m.from, this.id, this.term)
      resp.index = this.raftLog.committed
      this.send(resp)
      return
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries)
    const resp = newMessage(MessageType.AppResp, m.from, this.id, this.term)
    if (lastNew !== -1) {
      resp.index = lastNew
    } else {
      // tell the leader where our log may match, skipping a whole conflicting term at once
      let hint = Math.min(m.index, this.raftLog.lastIndex())
      hint = this.raftLog.findConflictByTerm(hint, m.logTerm)
      resp.index = m.index
      resp.reject = true
      resp.rejectHint = hint
      resp.logTerm = this.raftLog.term(hint)
    }
    this.send(resp)
  }

  private handleHeartbeat (m: Message): void {
    this.raftLog.commitTo(Math.min(m.commit, this.raftLog.lastIndex()))
    const resp = newMessage(MessageType.HeartbeatResp, m.from, this.id, this.term)
    resp.context = m.context
    this.send(resp)
  }

  private handleSnapshot (m: Message): void {
    const s = m.snapshot
    const resp = newMessage(MessageType.AppResp, m.from, this.id, this.term)
    if (s === undefined) return
    resp.index = this.restoreSnapshot(s) ? this.raftLog.lastIndex() : this.raftLog.committed
    this.send(resp)
  }
}
