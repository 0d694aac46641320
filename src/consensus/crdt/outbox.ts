/**
 * A turn's local updates as gossip messages: in order, each at most the gossip budget; small
 * groups merged into one UPDATE, bigger ones sent as an UPDATES list (Y.mergeUpdates costs ~25 µs
 * per update and grows faster than linearly, applying a list in one transaction does not).
 */
import * as Y from 'yjs'
import { GossipType, updatesOverheadBytes, type GossipMessage } from './codec.ts'
import { MAX_GOSSIP_MESSAGES_PER_BURST, MERGE_UPDATES_MAX } from './constants.ts'

/**
 * a burst of local updates as gossip messages of at most maxGossipBytes each, in order;
 * undefined when one update alone is too big or the burst needs too many messages
 */
export function packUpdates (updates: Uint8Array[], budget: number): GossipMessage[] | undefined {
  const messages: GossipMessage[] = []
  let group: Uint8Array[] = []
  let groupBytes = 0
  const close = (): boolean => {
    if (group.length > 0) messages.push(groupMessage(group, budget))
    group = []
    groupBytes = 0
    return messages.length <= MAX_GOSSIP_MESSAGES_PER_BURST
  }
  for (const u of updates) {
    if (u.byteLength + updatesOverheadBytes(1, u.byteLength) > budget) return undefined
    const bytes = groupBytes + u.byteLength
    if (group.length > 0 && bytes + updatesOverheadBytes(group.length + 1, bytes) > budget && !close()) return undefined
    group.push(u)
    groupBytes += u.byteLength
  }
  return close() ? messages : undefined
}

/** one gossip message for a group of local updates that fits `budget` bytes together */
function groupMessage (group: Uint8Array[], budget: number): GossipMessage {
  if (group.length === 1) return { type: GossipType.Update, update: group[0] }
  if (group.length <= MERGE_UPDATES_MAX) {
    const update = Y.mergeUpdates(group)
    if (update.byteLength + updatesOverheadBytes(1, update.byteLength) <= budget) return { type: GossipType.Update, update }
  }
  return { type: GossipType.Updates, updates: group }
}
