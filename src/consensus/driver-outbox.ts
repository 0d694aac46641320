/**
 * What the Raft driver sends, and when (driver.ts owns the loop and says which messages are due):
 * - one frame per peer, appends to one peer merged where they continue each other
 *   (`coalesceMessages`);
 * - while a Ready's batch is being written, the messages Raft produced since that need not wait
 *   for it (early-send.ts); after a message that waits, later ones to that peer wait too;
 * - on the leader, empty appends that only move a caught-up follower's commit index are held
 *   briefly and mostly never sent (commit-notices.ts).
 */
import type { Clock, TimerHandle } from '../util/clock.ts'
import { CommitNotices } from './commit-notices.ts'
import type { CommitNoticeView } from './commit-notices.ts'
import { COMMIT_NOTICE_DELAY_MS } from './constants.ts'
import { splitEarly } from './early-send.ts'
import { MessageType, coalesceMessages, raftConstants } from './raft/index.ts'
import type { Message, RawNode } from './raft/index.ts'
import type { RaftSender } from './raft-transport.ts'

const { MAX_SIZE_PER_MSG_BYTES } = raftConstants

export interface OutboxHost {
  clock: Clock
  sender: RaftSender
  raft: () => RawNode['raft']
  /** the driver runs and has not failed */
  active: () => boolean
  /** last index of the log on disk */
  durableLastIndex: () => number
  /** the term and vote on disk */
  persisted: () => { term: number, vote: string }
}

export class DriverOutbox {
  private readonly host: OutboxHost
  /** peers with messages waiting for the batch being written */
  private held = new Set<string>()
  private readonly notices = new CommitNotices()
  private noticeTimer: TimerHandle | undefined

  constructor (host: OutboxHost) {
    this.host = host
  }

  /** a message reached this peer and was stepped; `lastBefore` is the log's last index before it */
  stepped (m: Message, lastBefore: number): void {
    if (m.type !== MessageType.Prop) return
    const r = this.host.raft()
    if (r.role !== 'leader') return
    const last = r.raftLog.lastIndex()
    // a follower forwarded these entries: it waits for their commit (commit-notices.ts)
    if (last > lastBefore) this.notices.noteForwarded(m.from, last, r.term)
  }

  /** a Ready's batch is being written; `waiting` are its messages that go after the write */
  writing (waiting: Message[]): void {
    this.held = new Set(waiting.map(m => m.to))
  }

  /**
   * while a batch is being written, sends the messages Raft produced since that need not wait for
   * it (forwarded proposals and reads; the leader's appends and heartbeats whose commit index its
   * durable log covers); the others go with the next Ready
   */
  sendWhileWriting (): void {
    const r = this.host.raft()
    if (r.msgs.length === 0) return
    const persisted = this.host.persisted()
    const { now, later } = splitEarly(r.msgs, {
      role: r.role,
      termVoteDurable: r.term === persisted.term && r.vote === persisted.vote,
      durableLastIndex: this.host.durableLastIndex(),
      held: this.held
    })
    if (now.length === 0) return
    r.msgs = later
    this.send(now)
  }

  /** sends `messages` (in order), holding the leader's pure commit notices */
  send (messages: Message[]): void {
    if (messages.length === 0) return
    messages = this.notices.filter(messages, this.noticeView())
    if (this.notices.pending && this.noticeTimer === undefined) {
      this.noticeTimer = this.host.clock.setTimeout(() => {
        this.noticeTimer = undefined
        if (this.host.active()) this.deliver(this.notices.takeHeld(this.noticeView()))
      }, COMMIT_NOTICE_DELAY_MS)
    }
    this.deliver(messages)
  }

  /** drops what is held and its timer (the driver stopped or failed) */
  stop (): void {
    this.host.clock.clearTimeout(this.noticeTimer)
    this.noticeTimer = undefined
    this.notices.clear()
  }

  private noticeView (): CommitNoticeView {
    const r = this.host.raft()
    return { role: r.role, term: r.term, lastIndex: r.raftLog.lastIndex(), progress: (peer) => r.prs.progress.get(peer) }
  }

  /** sends `messages` as they are, one frame per peer */
  private deliver (messages: Message[]): void {
    if (messages.length === 0) return
    const byPeer = new Map<string, Message[]>()
    for (const m of messages) {
      const list = byPeer.get(m.to)
      if (list === undefined) byPeer.set(m.to, [m])
      else list.push(m)
    }
    for (const [to, list] of byPeer) this.host.sender.send(to, coalesceMessages(list, MAX_SIZE_PER_MSG_BYTES))
  }
}
