/**
 * Which of the messages Raft produces while a Ready's batch is being written may be sent before
 * that write ends, instead of waiting for it and the next Ready (the driver's loop is sequential,
 * so without this a forwarded proposal on a follower, or new appends on the leader, sat behind
 * an unrelated fsync: on a loaded disk every hop of a write waited for someone's fsync).
 *
 * What may go early, and why it is safe (etcd-io/raft's persist-before-send rules):
 * - a forwarded proposal or read request (Prop, ReadIndex): it claims nothing about this peer's
 *   state, and carries no term;
 * - on the leader, appends and heartbeats, once its term and vote are durable and the commit index
 *   they carry is at most the leader's DURABLE last index: a leader may send entries before it has
 *   written them itself (Raft thesis 10.2.1), and a commit index backed by its own durable copy and
 *   by followers that acknowledge only what they wrote is backed by a durable majority. One with a
 *   higher commit index waits for the write. (Raft counts the leader's copy only once the driver
 *   persisted it, raft-core.ts selfAcked, so any commit index it computes rests on durable copies;
 *   this check is the older, narrower guard and stays.)
 * - nothing else: a follower's append response claims entries are durable, a vote or a term change
 *   needs the hard state written first.
 * Messages to one peer keep their order: after one that must wait, later ones to that peer wait too
 * (proposals and read requests excepted: they are independent of the others).
 */
import { MessageType } from './raft/index.ts'
import type { Message, StateRole } from './raft/index.ts'

export interface EarlySendState {
  role: StateRole
  /** the term and vote Raft holds now are the ones on disk */
  termVoteDurable: boolean
  /** last index of the log that is on disk */
  durableLastIndex: number
  /**
   * peers with a message waiting (the Ready being written holds unsent messages to them); the
   * peers of messages this call holds back are added
   */
  held: Set<string>
}

const REQUESTS = new Set<MessageType>([MessageType.Prop, MessageType.ReadIndex])
const LEADER_EARLY = new Set<MessageType>([MessageType.App, MessageType.Heartbeat])

/** splits `messages` (in order) into those to send now and those that wait for the write */
export function splitEarly (messages: Message[], st: EarlySendState): { now: Message[], later: Message[] } {
  const now: Message[] = []
  const later: Message[] = []
  for (const m of messages) {
    let early: boolean
    if (REQUESTS.has(m.type)) {
      early = true
    } else {
      early = !st.held.has(m.to) && st.role === 'leader' && st.termVoteDurable &&
        LEADER_EARLY.has(m.type) && m.snapshot === undefined && m.commit <= st.durableLastIndex
    }
    if (early) {
      now.push(m)
    } else {
      later.push(m)
      st.held.add(m.to)
    }
  }
  return { now, later }
}
