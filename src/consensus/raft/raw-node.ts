/**
 * RawNode: the driver's handle on the pure Raft state machine (etcd-io/raft RawNode).
 *
 * Loop: tick() on a timer and step() every message received; while hasReady(): rd = ready(),
 * persist rd.snapshot / rd.entries / rd.hardState (fsync if rd.mustSync), send rd.messages,
 * apply rd.snapshot and rd.committedEntries (calling applyConfChange for conf change entries),
 * then advance().
 */
import { InvalidArgumentError, InvalidMessageError } from '../../errors.ts'
import type { RaftConfig } from './config.ts'
import { encodeConfChange } from './conf-change.ts'
import { ProposalDroppedError } from './errors.ts'
import { PROGRESS_STATE_NAMES } from './progress.ts'
import { Raft } from './raft.ts'
import { MESSAGE_TYPE_NAMES, newMessage } from './messages.ts'
import { EntryType, MessageType } from './types.ts'
import { validateMessage } from './validate.ts'
import type { ConfChange, ConfState, Entry, HardState, Message, NodeId, Ready, SoftState, StateRole } from './types.ts'

export interface PeerProgressStatus {
  match: number
  next: number
  state: 'StateProbe' | 'StateReplicate' | 'StateSnapshot'
  isLearner: boolean
  recentActive: boolean
  paused: boolean
  pendingSnapshot: number
  inflight: number
}

export interface RaftStatus {
  id: NodeId
  role: StateRole
  term: number
  vote: NodeId | ''
  lead: NodeId | ''
  commit: number
  applied: number
  lastIndex: number
  voters: NodeId[]
  learners: NodeId[]
  leadTransferee: NodeId | ''
  /** per peer, only on the leader (empty elsewhere) */
  progress: Record<NodeId, PeerProgressStatus>
}

const LOCAL_MESSAGES = new Set<MessageType>([
  MessageType.Hup, MessageType.Beat, MessageType.Unreachable, MessageType.SnapStatus, MessageType.CheckQuorum
])
const RESPONSE_MESSAGES = new Set<MessageType>([
  MessageType.AppResp, MessageType.VoteResp, MessageType.HeartbeatResp, MessageType.Unreachable, MessageType.PreVoteResp
])

function sameHardState (a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}

export class RawNode {
  readonly raft: Raft
  private prevSoftState: SoftState
  private prevHardState: HardState
  private lastReady: Ready | undefined = undefined

  constructor (config: RaftConfig) {
    this.raft = new Raft(config)
    this.prevSoftState = this.raft.softState()
    this.prevHardState = this.raft.hardState()
  }

  get id (): NodeId {
    return this.raft.id
  }

  /** advances the logical clock by one tick (election and heartbeat timeouts count ticks) */
  tick (): void {
    this.raft.tick()
  }

  /** starts an election now (pre-vote first when enabled) */
  campaign (): void {
    this.raft.step(newMessage(MessageType.Hup, this.raft.id, this.raft.id, 0))
  }

  /** proposes a command; throws ProposalDroppedError when it cannot be accepted right now */
  propose (data: Uint8Array): void {
    this.proposeEntry({ term: 0, index: 0, type: EntryType.Normal, data })
  }

  /** proposes a single-server membership change (applied via applyConfChange once committed) */
  proposeConfChange (cc: ConfChange): void {
    this.proposeEntry({ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) })
  }

  private proposeEntry (e: Entry): void {
    const m = newMessage(MessageType.Prop, '', this.raft.id, 0)
    m.entries = [e]
    this.raft.step(m)
  }

  /**
   * feeds a message received from a peer. Local-only types are refused with
   * InvalidMessageError; responses from peers not in the group and dropped forwarded proposals
   * are ignored.
   */
  step (m: Message): void {
    try {
      validateMessage(m, this.raft.id)
      if (LOCAL_MESSAGES.has(m.type)) throw new InvalidMessageError(`raft: cannot step local message ${MESSAGE_TYPE_NAMES[m.type]}`)
    } catch (err) {
      this.raft.log.warn(`${this.raft.id} refused a message from ${String(m?.from)}: ${(err as Error).message}`)
      throw err
    }
    if (RESPONSE_MESSAGES.has(m.type) && !this.raft.prs.progress.has(m.from)) return
    try {
      this.raft.step(m)
    } catch (err) {
      if (err instanceof ProposalDroppedError) {
        this.raft.log.info(`${this.raft.id} dropped ${MESSAGE_TYPE_NAMES[m.type]} from ${m.from}: ${err.message}`)
        return
      }
      throw err
    }
  }

  /**
   * asks for a linearizable read point; a ReadState with `ctx` appears in a later Ready once the
   * leader confirmed its leadership. Throws ProposalDroppedError when there is no leader.
   */
  readIndex (ctx: Uint8Array): void {
    const m = newMessage(MessageType.ReadIndex, '', this.raft.id, 0)
    m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data: ctx }]
    this.raft.step(m)
  }

  /** asks the leader to hand leadership to `to` (works from any member; followers forward it) */
  transferLeader (to: NodeId): void {
    if (to === '') throw new InvalidArgumentError('transferLeader needs a target')
    const m = newMessage(MessageType.TransferLeader, this.raft.id, to, 0)
    this.raft.step(m)
  }

  /** the transport could not deliver to `id`: the leader stops pipelining to it */
  reportUnreachable (id: NodeId): void {
    this.raft.step(newMessage(MessageType.Unreachable, this.raft.id, id, 0))
  }

  /** the transport finished (ok) or gave up (!ok) sending a snapshot to `id` */
  reportSnapshot (id: NodeId, ok: boolean): void {
    const m = newMessage(MessageType.SnapStatus, this.raft.id, id, 0)
    m.reject = !ok
    this.raft.step(m)
  }

  /** applies a committed conf change entry; the driver persists the returned ConfState */
  applyConfChange (cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc)
  }

  hasReady (): boolean {
    const r = this.raft
    if (r.msgs.length > 0 || r.readStates.length > 0) return true
    if (r.raftLog.unstable.entries.length > 0 || r.raftLog.hasPendingSnapshot()) return true
    if (r.raftLog.hasNextCommittedEnts()) return true
    if (r.lead !== this.prevSoftState.lead || r.role !== this.prevSoftState.role) return true
    return r.term !== this.prevHardState.term || r.vote !== this.prevHardState.vote || r.raftLog.committed !== this.prevHardState.commit
  }

  /** what to persist, send and apply now; call advance() when done */
  ready (): Ready {
    const r = this.raft
    const entries = r.raftLog.unstable.entries.slice()
    const rd: Ready = {
      softState: undefined,
      hardState: undefined,
      readStates: r.readStates,
      entries,
      snapshot: r.raftLog.unstable.snapshot,
      committedEntries: r.raftLog.nextCommittedEnts(),
      messages: r.msgs,
      mustSync: false
    }
    if (r.lead !== this.prevSoftState.lead || r.role !== this.prevSoftState.role) {
      rd.softState = r.softState()
      this.prevSoftState = rd.softState
    }
    const hs = r.hardState()
    if (!sameHardState(hs, this.prevHardState)) rd.hardState = hs
    rd.mustSync = entries.length > 0 || rd.snapshot !== undefined ||
      hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote
    r.msgs = []
    r.readStates = []
    this.lastReady = rd
    return rd
  }

  /** the last Ready was persisted, sent and applied */
  advance (): void {
    const rd = this.lastReady
    if (rd === undefined) return
    this.lastReady = undefined
    const r = this.raft
    if (rd.hardState !== undefined) this.prevHardState = rd.hardState
    r.reduceUncommittedSize(rd.committedEntries)
    const n = rd.committedEntries.length
    if (n > 0) r.raftLog.appliedTo(rd.committedEntries[n - 1].index)
    else if (rd.snapshot !== undefined) r.raftLog.appliedTo(rd.snapshot.metadata.index)
    if (rd.entries.length > 0) {
      const e = rd.entries[rd.entries.length - 1]
      r.raftLog.stableTo(e.index, e.term)
    }
    if (rd.snapshot !== undefined) r.raftLog.stableSnapTo(rd.snapshot.metadata.index)
    if (rd.entries.length > 0) r.selfAcked()
  }

  status (): RaftStatus {
    const r = this.raft
    const progress: Record<NodeId, PeerProgressStatus> = {}
    if (r.role === 'leader') {
      for (const [id, pr] of r.prs.progress) {
        progress[id] = {
          match: pr.match,
          next: pr.next,
          state: PROGRESS_STATE_NAMES[pr.state],
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          paused: pr.isPaused(),
          pendingSnapshot: pr.pendingSnapshot,
          inflight: pr.inflights.count
        }
      }
    }
    const cs = r.prs.confState()
    return {
      id: r.id,
      role: r.role,
      term: r.term,
      vote: r.vote,
      lead: r.lead,
      commit: r.raftLog.committed,
      applied: r.raftLog.applied,
      lastIndex: r.raftLog.lastIndex(),
      voters: cs.voters,
      learners: cs.learners,
      leadTransferee: r.leadTransferee,
      progress
    }
  }
}
