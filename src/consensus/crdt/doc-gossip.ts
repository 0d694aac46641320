/**
 * The gossip side of held docs. As it arrives, a doc's gossip is decoded and size-checked, then
 * updates go through the write gate into the doc, holder lists and releases to the replica
 * placement, state digests to the doc; bad input is counted and logged, never thrown. When a peer
 * joins or leaves, and on every anti-entropy round, each doc publishes its digest, syncs with the
 * peers concerned and tops up its holders.
 */
import { describeError } from '../../errors.ts'
import type { Logger } from '../../util/logger.ts'
import { decodeGossip, GossipType, StateReason, type GossipMessage } from './codec.ts'
import type { CrdtMetrics } from './metrics.ts'
import type { ReplicaPlacement } from './replica-placement.ts'
import type { ReplicatedDoc } from './replicated-doc.ts'
import type { SyncService } from './sync-service.ts'
import type { DocWriteGate, PeerEvent, PeerId } from './types.ts'
import { admitRemoteUpdates } from './write-gate.ts'

export interface DocGossipRoutes {
  maxGossipBytes: number
  writeGate?: DocWriteGate
  sync: SyncService
  placement: ReplicaPlacement
  metrics: CrdtMetrics
  log: Logger
  publish: (rdoc: ReplicatedDoc, message: GossipMessage) => void
}

/** one gossip message on `rdoc`'s topic from `from` (another peer) */
export function handleDocGossip (routes: DocGossipRoutes, rdoc: ReplicatedDoc, data: Uint8Array, from: PeerId): void {
  let message: GossipMessage
  try {
    message = decodeGossip(data, routes.maxGossipBytes)
    if (message.type === GossipType.Update || message.type === GossipType.Updates) {
      const updates = message.type === GossipType.Update ? message.update : message.updates
      admitRemoteUpdates(routes.writeGate, rdoc.doc, rdoc.id, from, updates, 'gossip')
      rdoc.applyRemote(updates, from, 'gossip')
      // updates that depend on some this peer lacks wait in the doc: catch up with the sender
      const store = rdoc.doc.store
      if (store.pendingStructs != null || store.pendingDs != null) routes.sync.request(rdoc, from, {})
    } else if (message.type === GossipType.Holders) {
      routes.placement.handleHolders(rdoc, from, message.holders).catch(err => {
        routes.log.error('document %s: release failed: %s', rdoc.id, describeError(err).message)
      })
    } else if (message.reason === StateReason.Released) {
      routes.placement.holderReleased(rdoc, from)
    } else {
      rdoc.handleState(from, message)
    }
  } catch (err) {
    const { name, message: text } = describeError(err)
    routes.metrics.invalidMessages.inc(1, { reason: name })
    routes.log.error('document %s: refused gossip from %s: %s: %s', rdoc.id, from, name, text)
  }
}

/** a peer joined (sync with it where it holds or should hold a doc) or left (recruit instead of it) */
export function reactToPeer (routes: DocGossipRoutes, docs: Iterable<ReplicatedDoc>, e: PeerEvent): void {
  const { placement, sync } = routes
  for (const rdoc of docs) {
    if (e.type === 'leave') {
      rdoc.recruited.delete(e.peer)
      placement.ensure(rdoc)
      continue
    }
    const desired = rdoc.role === 'member' && placement.desired(rdoc).includes(e.peer)
    if (desired || e.peer === rdoc.owner || rdoc.holders.has(e.peer)) {
      sync.request(rdoc, e.peer, { force: true, hold: desired })
    }
    routes.publish(rdoc, rdoc.stateMessage(StateReason.Digest))
    placement.ensure(rdoc)
  }
}

/** the periodic round: every doc publishes its digest, tops up and announces its holders */
export function antiEntropyRound (routes: DocGossipRoutes, docs: Iterable<ReplicatedDoc>): void {
  routes.sync.pruneCooldowns()
  for (const rdoc of docs) {
    rdoc.releaseIdleEncoding()
    routes.publish(rdoc, rdoc.stateMessage(StateReason.Digest))
    routes.placement.ensure(rdoc)
    routes.placement.announceHolders(rdoc)
  }
}
