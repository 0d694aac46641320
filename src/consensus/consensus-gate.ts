/**
 * What membership credentials decide in the ConsensusManager (when it is given a RoleGate): which
 * Raft messages are heard from whom, and which peers count as voter candidates.
 */
import type { Member } from '../network/index.ts'
import { describeError } from '../errors.ts'
import type { GateRole, RoleGate } from '../security/index.ts'
import type { RaftAnnouncement } from './autopilot.ts'
import { leaseAskKindOf } from './lease-wire.ts'
import { MessageType } from './raft/types.ts'
import type { Message } from './raft/types.ts'
import type { RefusalSubject, RaftRefusal } from './raft-wire.ts'

/** messages a peer sends only as a voter (candidate, voter or leader) */
const VOTER_MESSAGES = new Set<MessageType>([
  MessageType.Vote, MessageType.VoteResp, MessageType.PreVote, MessageType.PreVoteResp,
  MessageType.App, MessageType.Heartbeat, MessageType.Snap, MessageType.TimeoutNow
])
/** requests a follower forwards to its leader on behalf of its callers: KV proposals and linearizable reads (lease questions ride on the latter) */
const MEMBER_REQUESTS = new Set<MessageType>([MessageType.Prop, MessageType.ReadIndex])

/** a gate that can also say why (MembershipAuthority.check: waits for a signature check still running) */
export type ConsensusGate = RoleGate & { check?: (peerId: string, role: GateRole) => Promise<void> }

/** why a message was not admitted: what to refuse, and the role its sender lacks */
export interface GateVerdict {
  subject: RefusalSubject
  role: GateRole
}

/**
 * Raft messages only voters send (campaigns, votes, a leader's appends) are refused from peers
 * the gate does not allow to vote; proposals and read requests forwarded by a peer without a
 * valid credential are refused too (its callers already got UnauthorizedError from strongDriver,
 * unless it does not know the mesh is credentialed). Answers undefined when `m` is admitted.
 */
export function admitsRaftMessage (gate: RoleGate | undefined, selfId: string, m: Message): GateVerdict | undefined {
  if (gate === undefined) return undefined
  if (VOTER_MESSAGES.has(m.type)) {
    if (gate.allows(m.from, 'voter')) return undefined
    gate.refuse(m.from, 'voter', `send raft message type ${m.type}`)
    return { subject: 'raft', role: 'voter' }
  }
  if (MEMBER_REQUESTS.has(m.type) && m.from !== selfId && !gate.allows(m.from, 'member')) {
    // a lease renewal asked of the leader (lease-wire.ts) is refused as a proposal, a time-to-live as a read
    const lease = leaseAskKindOf(m)
    const proposal = m.type === MessageType.Prop || lease === 'keepalive'
    gate.refuse(m.from, 'member', lease === 'keepalive' ? 'have a lease renewal served' : proposal ? 'have a KV proposal served' : 'have a linearizable read served')
    return { subject: proposal ? 'proposal' : 'read', role: 'member' }
  }
  return undefined
}

/**
 * the refusal to send `peer` for a message the gate did not admit, naming why; undefined when
 * its credential turns out valid after all (a signature check that was still running: the
 * message was dropped, and the sender's retry goes through)
 */
export async function refusalFor (gate: ConsensusGate, peer: string, verdict: GateVerdict): Promise<RaftRefusal | undefined> {
  const lacks = verdict.role === 'member' ? 'a valid membership credential' : `a valid credential for the ${verdict.role} role`
  if (gate.check === undefined) return { subject: verdict.subject, reason: `${peer} holds no ${lacks}` }
  try {
    await gate.check(peer, verdict.role)
  } catch (err) {
    const { name, message } = describeError(err)
    return { subject: verdict.subject, reason: name === 'UnauthorizedError' ? message : `${peer} holds no ${lacks} (${name}: ${message})` }
  }
  return gate.allows(peer, verdict.role) ? undefined : { subject: verdict.subject, reason: `${peer} holds no ${lacks}` }
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
