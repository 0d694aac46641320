/**
 * Where a document's replicas live, seen from one peer: a member picks the holders it wants
 * (`selectReplicas` over its connected peers), recruits the missing ones, and tells the ones
 * placement no longer wants with a HOLDERS message. A replica listed nowhere may drop the doc,
 * but only once the listed holders acknowledged persisting everything it holds; until then it
 * pushes its state to the ones that lag, and waits for the next HOLDERS message.
 */
import * as Y from 'yjs'
import { describeError } from '../../errors.ts'
import type { Logger } from '../../util/logger.ts'
import { GossipType, type GossipMessage } from './codec.ts'
import { MAX_HOLDERS_LISTED } from './constants.ts'
import type { ReplicatedDoc, SyncRequest } from './replicated-doc.ts'
import type { PeerId, SelectReplicas } from './types.ts'
import { covers } from './vectors.ts'

export interface PlacementHost {
  selfId: PeerId
  log: Logger
  /** the default placement hook */
  selectReplicas: SelectReplicas
  /** peers currently connected */
  peers: () => PeerId[]
  /** may `peer` hold `docId` (membership credentials; default: any peer) */
  mayHold?: (peer: PeerId, docId: string) => boolean
  requestSync: (rdoc: ReplicatedDoc, peer: PeerId, request: SyncRequest) => void
  publish: (rdoc: ReplicatedDoc, message: GossipMessage) => void
  /** drops the doc here, its stored log included */
  release: (rdoc: ReplicatedDoc, reason: string) => Promise<void>
}

export class ReplicaPlacement {
  constructor (private readonly host: PlacementHost) {}

  /** the holders this peer wants for the doc, among connected peers (members only) */
  desired (rdoc: ReplicatedDoc): PeerId[] {
    if (rdoc.replicas <= 0) return []
    const mayHold = this.host.mayHold
    const candidates = this.host.peers().filter(p => p !== this.host.selfId && (mayHold === undefined || mayHold(p, rdoc.id)))
    const select = rdoc.selectReplicas ?? this.host.selectReplicas
    const allowed = new Set(candidates)
    let chosen: PeerId[]
    try {
      chosen = select(rdoc.id, candidates, rdoc.replicas)
    } catch (err) {
      this.host.log.error('document %s: selectReplicas failed: %s', rdoc.id, describeError(err).message)
      return []
    }
    if (!Array.isArray(chosen)) return []
    return [...new Set(chosen)].filter(p => allowed.has(p)).slice(0, rdoc.replicas)
  }

  /** a member asks each wanted holder it has not recruited yet */
  ensure (rdoc: ReplicatedDoc): void {
    if (rdoc.role !== 'member') return
    for (const peer of this.desired(rdoc)) {
      if (!rdoc.recruited.has(peer)) this.host.requestSync(rdoc, peer, { hold: true })
    }
  }

  /**
   * a member whose placement moved away from replicas it knows of lists the holders it wants,
   * itself included when it persists; the replicas left out release the doc once that is safe
   */
  announceHolders (rdoc: ReplicatedDoc): void {
    if (rdoc.role !== 'member') return
    const desired = this.desired(rdoc)
    const wanted = new Set(desired)
    let stale = false
    for (const peer of rdoc.recruited) if (!wanted.has(peer)) stale = true
    for (const [peer, h] of rdoc.holders) if (h.role === 'replica' && !wanted.has(peer)) stale = true
    if (!stale) return
    const holders = rdoc.persistence != null ? [this.host.selfId, ...desired] : desired
    if (holders.length === 0) return
    this.host.publish(rdoc, { type: GossipType.Holders, holders: holders.slice(0, MAX_HOLDERS_LISTED) })
  }

  /**
   * the HOLDERS message of `from`: a replica it owns that is not listed releases the doc when
   * every listed holder acknowledged persisting all this peer holds; otherwise it syncs with the
   * ones that lag (they persist and acknowledge) and waits for the next message
   */
  async handleHolders (rdoc: ReplicatedDoc, from: PeerId, holders: PeerId[]): Promise<void> {
    if (rdoc.role !== 'replica' || from !== rdoc.owner || holders.length === 0 || holders.includes(this.host.selfId)) return
    const mine = Y.decodeStateVector(Y.encodeStateVector(rdoc.doc))
    const lagging = holders.filter(peer => {
      const acked = rdoc.holders.get(peer)?.acked
      return acked == null || !covers(acked, mine)
    })
    if (lagging.length > 0) {
      this.host.log('document %s: placement moved away, waiting for %s to persist it before releasing', rdoc.id, lagging.join(', '))
      for (const peer of lagging) this.host.requestSync(rdoc, peer, { force: true })
      return
    }
    await this.host.release(rdoc, `placement of ${from} moved it to ${holders.join(', ')}`)
  }

  /** a peer announced it dropped the doc: it is no longer counted or recruited as a holder */
  holderReleased (rdoc: ReplicatedDoc, from: PeerId): void {
    const known = rdoc.holders.delete(from)
    if (rdoc.recruited.delete(from) || known) this.host.log('document %s: %s released it', rdoc.id, from)
  }
}
