/**
 * What membership credentials decide in the ConsensusManager (when it is given a RoleGate): which
 * Raft messages are heard from whom, and which peers count as voter candidates.
 */
import type { Member } from '../network/index.ts'
import type { RoleGate } from '../security/index.ts'
import type { RaftAnnouncement } from './autopilot.ts'
import { MessageType } from './raft/types.ts'
import type { Message } from './raft/types.ts'

/** messages a peer sends only as a voter (candidate, voter or leader) */
const VOTER_MESSAGES = new Set<MessageType>([
  MessageType.Vote, MessageType.VoteResp, MessageType.PreVote, MessageType.PreVoteResp,
  MessageType.App, MessageType.Heartbeat, MessageType.Snap, MessageType.TimeoutNow
])
/** requests a follower forwards to its leader on behalf of its callers: KV proposals and linearizable reads */
const MEMBER_REQUESTS = new Set<MessageType>([MessageType.Prop, MessageType.ReadIndex])

/**
 * Raft messages only voters send (campaigns, votes, a leader's appends) are refused from peers
 * the gate does not allow to vote; proposals and read requests forwarded by a peer without a
 * valid credential are refused too (its callers already got UnauthorizedError from strongDriver,
 * unless it does not know the mesh is credentialed)
 */
export function admitsRaftMessage (gate: RoleGate | undefined, selfId: string, m: Message): boolean {
  if (gate === undefined) return true
  if (VOTER_MESSAGES.has(m.type)) {
    if (gate.allows(m.from, 'voter')) return true
    gate.refuse(m.from, 'voter', `send raft message type ${m.type}`)
    return false
  }
  if (MEMBER_REQUESTS.has(m.type) && m.from !== selfId && !gate.allows(m.from, 'member')) {
    gate.refuse(m.from, 'member', m.type === MessageType.Prop ? 'have a KV proposal served' : 'have a linearizable read served')
    return false
  }
  return true
}

/**
 * the members as the bootstrap and the autopilot should see them: a peer the gate does not allow
 * to vote is not a voter candidate, whatever it announces (so it is never bootstrapped with,
 * promoted, or kept as a voter); `group` is this peer's group
 */
export function eligibleMembers (members: Member[], gate: RoleGate | undefined, group: string): Member[] {
  if (gate === undefined) return members
  return members.map(m => {
    const a = m.record.ext.raft as RaftAnnouncement | undefined
    if (a === undefined || typeof a !== 'object' || gate.allows(m.peerId, 'voter')) return m
    // nor does a group it formed on its own count: it must not stop the voters forming theirs
    const g = a.group === group ? a.group : ''
    if (a.candidate !== true && g === a.group) return m
    if (a.candidate === true) gate.refuse(m.peerId, 'voter', 'be a raft voter candidate')
    return { ...m, record: { ...m.record, ext: { ...m.record.ext, raft: { ...a, candidate: false, group: g } } } }
  })
}
