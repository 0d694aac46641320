/** Message construction helpers shared by the core, the RawNode and the tests. */
import { MessageType } from './types.ts'
import type { Entry, Message, NodeId } from './types.ts'

/** Message.context of a vote that follows a leader transfer: it may disrupt a live leader */
export const CAMPAIGN_TRANSFER_CONTEXT = new TextEncoder().encode('CampaignTransfer')

export const enum CampaignType { PreElection = 0, Election = 1, Transfer = 2 }

export const MESSAGE_TYPE_NAMES = [
  'MsgHup', 'MsgBeat', 'MsgProp', 'MsgApp', 'MsgAppResp', 'MsgVote', 'MsgVoteResp', 'MsgPreVote',
  'MsgPreVoteResp', 'MsgSnap', 'MsgSnapStatus', 'MsgHeartbeat', 'MsgHeartbeatResp', 'MsgUnreachable',
  'MsgTransferLeader', 'MsgTimeoutNow', 'MsgReadIndex', 'MsgReadIndexResp', 'MsgCheckQuorum'
] as const

const EMPTY_ENTRIES: Entry[] = []

/** a message with every field set, so all messages share one shape */
export function newMessage (type: MessageType, to: NodeId, from: NodeId, term: number): Message {
  return { type, to, from, term, logTerm: 0, index: 0, entries: EMPTY_ENTRIES, commit: 0, snapshot: undefined, reject: false, rejectHint: 0, context: undefined }
}

export function isCampaignTransfer (ctx: Uint8Array | undefined): boolean {
  if (ctx === undefined || ctx.length !== CAMPAIGN_TRANSFER_CONTEXT.length) return false
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== CAMPAIGN_TRANSFER_CONTEXT[i]) return false
  return true
}
