/**
 * Commit notices on the leader. When the commit index moves, Raft sends every follower an append
 * (etcd's bcastAppend after maybeCommit); to a follower that was already sent every entry, that
 * append is empty and only says "the commit index is now C". Each one costs a write here, a read, a write
 * and an answer there, and a read here again: with one client writing through the leader, twice the
 * messages each write needs.
 *
 * A follower needs such a notice at once only when it waits for an entry it forwarded itself (its
 * caller's proposal is answered when the follower applies it). For any other follower the notice
 * only brings its applied state forward, and the next append or heartbeat carries the same commit
 * index. So the driver holds a pure notice (an empty append after the leader's last index to a
 * follower in replicate state, so not a probe) for up to COMMIT_NOTICE_DELAY_MS and drops it when a
 * message with at least its commit index goes to that follower first: under steady writes it is
 * never sent. Nothing else is held: appends with entries, probes of a follower behind, heartbeats,
 * votes and answers go as before. A held notice is only ever late, never wrong: Raft tolerates a
 * lost or late append, and a notice from an older term is dropped. Linearizable reads on followers
 * are unaffected: the answer to a follower's ReadIndex (and the heartbeat round that confirms it,
 * when one is needed) carries the commit index the read waits for.
 */
import { MessageType, ProgressState } from './raft/index.ts'
import type { Message } from './raft/index.ts'

/** what the holder reads of the leader's Raft state */
export interface CommitNoticeView {
  role: string
  term: number
  lastIndex: number
  /** the follower's replication progress, if it is tracked */
  progress: (peer: string) => { state: ProgressState } | undefined
}

export class CommitNotices {
  /** per follower: the notice held back */
  private readonly held = new Map<string, Message>()
  /** per peer: the last log index of entries it forwarded (MsgProp) in `term` */
  private readonly forwarded = new Map<string, number>()
  /** per peer: the highest commit index sent to it in `term` */
  private readonly notified = new Map<string, number>()
  private term = -1

  /** `peer` forwarded entries that this leader appended up to `lastIndex` in `term` */
  noteForwarded (peer: string, lastIndex: number, term: number): void {
    this.enterTerm(term)
    if (lastIndex > (this.forwarded.get(peer) ?? 0)) this.forwarded.set(peer, lastIndex)
  }

  /** the messages of `out` (in order, for one or many peers) to send now; pure notices are held */
  filter (out: Message[], view: CommitNoticeView): Message[] {
    if (view.role !== 'leader') {
      this.clear()
      return out
    }
    this.enterTerm(view.term)
    const now: Message[] = []
    for (const m of out) {
      if (this.holds(m, view)) {
        this.held.set(m.to, m)
        continue
      }
      now.push(m)
      this.sent(m)
    }
    return now
  }

  /** whether a notice is held (the driver then keeps one flush timer) */
  get pending (): boolean { return this.held.size > 0 }

  /** the notices held, to send now if this peer still leads in their term (the flush) */
  takeHeld (view: CommitNoticeView): Message[] {
    const out = [...this.held.values()].filter(m => view.role === 'leader' && m.term === view.term)
    this.held.clear()
    for (const m of out) this.sent(m)
    return out
  }

  clear (): void {
    this.held.clear()
    this.forwarded.clear()
    this.notified.clear()
  }

  private enterTerm (term: number): void {
    if (term === this.term) return
    this.clear()
    this.term = term
  }

  private holds (m: Message, view: CommitNoticeView): boolean {
    if (m.type !== MessageType.App || m.entries.length > 0 || m.snapshot !== undefined || m.term !== view.term) return false
    if (m.index !== view.lastIndex) return false
    const pr = view.progress(m.to)
    // replicating, with every entry sent (acknowledged or on its way): not a probe, nothing to carry
    if (pr === undefined || pr.state !== ProgressState.Replicate) return false
    // the follower waits for an entry it forwarded that this commit index covers: tell it now
    const waiting = this.forwarded.get(m.to) ?? 0
    return !(waiting > (this.notified.get(m.to) ?? 0) && waiting <= m.commit)
  }

  /** `m` goes to its peer now: a held notice it covers is dropped */
  private sent (m: Message): void {
    if (m.type !== MessageType.App && m.type !== MessageType.Heartbeat && m.type !== MessageType.ReadIndexResp) return
    if (m.commit > (this.notified.get(m.to) ?? 0)) this.notified.set(m.to, m.commit)
    const h = this.held.get(m.to)
    if (h !== undefined && m.commit >= h.commit) this.held.delete(m.to)
  }
}
