/**
 * Gives gossipsub back a peer it dropped while a connection to that peer is still open.
 *
 * @libp2p/gossipsub (17.1) keeps its state per peer, not per connection. When the read side of a
 * peer's inbound stream fails (`handlePeerReadStreamError`), it removes the whole peer: its
 * streams, including those on newer connections, its topics and its mesh slots. libp2p tells
 * gossipsub about a peer again only when a first connection to it opens. So after a partition
 * heals, a peer that has already opened new connections and then sees its pre-cut connection
 * aborted (a connection monitor's ping timing out 1-4 s later) is gone from gossip for as long as
 * the new connection stays open: no node records, so it stays 'failed' to the others, and
 * nothing published reaches it (docs/faults.md, post-heal gossip stall: 4 of 22 short partition
 * runs). Raft and RPC over the same connection are unaffected, as they keep no such state.
 *
 * This service looks for peers with an open connection that speak gossipsub but that gossipsub
 * does not list, shortly after every connection close and on a slow sweep. It resets the
 * half-closed gossipsub streams left on the peer's connections and hands the peer back through
 * gossipsub's own connect path (`onPeerConnected`, what libp2p's registrar calls), which re-adds
 * it and opens a fresh outbound stream carrying our subscriptions; the far end, its old stream
 * reset, answers with a fresh one carrying its subscriptions.
 */
import type { ComponentLogger, Connection, Logger, PeerId, PeerStore, Startable } from '@libp2p/interface'
import { describeError } from '../errors.ts'
import { GOSSIP_REPAIR_AFTER_CLOSE_MS, GOSSIP_REPAIR_SWEEP_MS } from './constants.ts'

/** the parts of gossipsub used: its peer list, protocols and connect path */
export interface RepairablePubSub {
  isStarted: () => boolean
  getPeers: () => PeerId[]
  readonly protocols: string[]
  onPeerConnected: (peerId: PeerId, connection: Connection) => void
}

type ConnectionListener = (evt: CustomEvent<Connection>) => void

export interface GossipRepairComponents {
  events: {
    addEventListener: (type: 'connection:close', listener: ConnectionListener) => void
    removeEventListener: (type: 'connection:close', listener: ConnectionListener) => void
  }
  connectionManager: { getConnections: (peerId?: PeerId) => Connection[] }
  peerStore: Pick<PeerStore, 'get'>
  logger: ComponentLogger
  /** the gossipsub service, registered under this name (read at start) */
  pubsub?: unknown
}

/** the gossipsub service's repairable surface, or undefined if it lacks one */
export function repairablePubSub (service: unknown): RepairablePubSub | undefined {
  const s = service as Partial<RepairablePubSub> | undefined
  if (s == null || typeof s.getPeers !== 'function' || typeof s.onPeerConnected !== 'function' ||
    typeof s.isStarted !== 'function' || !Array.isArray(s.protocols)) return undefined
  return s as RepairablePubSub
}

export class GossipRepair implements Startable {
  private readonly components: GossipRepairComponents
  private readonly log: Logger
  private pubsub: RepairablePubSub | undefined
  private sweepTimer: ReturnType<typeof setInterval> | undefined
  /** the check after the latest connection close (one at a time: closes in a burst share it) */
  private afterClose: ReturnType<typeof setTimeout> | undefined
  private sweeping = false
  private started = false
  private handedBack = 0

  constructor (components: GossipRepairComponents) {
    this.components = components
    this.log = components.logger.forComponent('agentmesh:network:gossip-repair')
  }

  readonly [Symbol.toStringTag] = 'agentmesh:gossip-repair'

  isStarted (): boolean {
    return this.started
  }

  /** peers handed back to gossipsub so far */
  get repaired (): number {
    return this.handedBack
  }

  start (): void {
    if (this.started) return
    this.pubsub = repairablePubSub(this.components.pubsub)
    if (this.pubsub == null) {
      this.log.error('no gossipsub service with getPeers/onPeerConnected/protocols: peers dropped by gossipsub while connected are not repaired')
      return
    }
    this.components.events.addEventListener('connection:close', this.onClose)
    this.sweepTimer = setInterval(() => { this.sweepLogged() }, GOSSIP_REPAIR_SWEEP_MS)
    this.started = true
  }

  stop (): void {
    this.components.events.removeEventListener('connection:close', this.onClose)
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer)
    this.sweepTimer = undefined
    if (this.afterClose !== undefined) clearTimeout(this.afterClose)
    this.afterClose = undefined
    this.started = false
  }

  /** hands back every connected gossipsub peer that gossipsub does not list; resolves when done */
  async sweep (): Promise<void> {
    const pubsub = this.pubsub
    if (!this.started || pubsub == null || !pubsub.isStarted() || this.sweeping) return
    this.sweeping = true
    try {
      const listed = new Set(pubsub.getPeers().map(p => p.toString()))
      const seen = new Set<string>()
      for (const connection of this.components.connectionManager.getConnections()) {
        const id = connection.remotePeer.toString()
        if (connection.status !== 'open' || listed.has(id) || seen.has(id)) continue
        seen.add(id)
        await this.repair(pubsub, connection)
      }
    } finally {
      this.sweeping = false
    }
  }

  private async repair (pubsub: RepairablePubSub, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    let protocols: string[]
    try {
      protocols = (await this.components.peerStore.get(peer)).protocols
    } catch (err) {
      // not identified yet: libp2p's registrar connects it to gossipsub once identify is done
      this.log.trace('no protocols known for %p yet: %s', peer, describeError(err).message)
      return
    }
    if (!this.started || !protocols.some(p => pubsub.protocols.includes(p))) return
    // the sweep awaited: gossipsub may have taken the peer back meanwhile
    if (connection.status !== 'open' || pubsub.getPeers().some(p => p.equals(peer))) return
    this.handedBack++
    this.log('gossipsub dropped %p while connection %s is open: handing the peer back', peer, connection.id)
    // gossipsub closed its streams to the peer gracefully, which only half-closes them: the far
    // end keeps writing into the one it holds, and never sends its subscriptions again. Reset
    // them, so the far end drops that stream and opens a fresh one (with its subscriptions) when
    // ours arrives; the reset goes out before the new stream's open on the same connection.
    for (const c of this.components.connectionManager.getConnections(peer)) {
      for (const stream of [...c.streams]) {
        if (pubsub.protocols.includes(stream.protocol)) stream.abort(new Error('stale gossipsub stream of a dropped peer'))
      }
    }
    try {
      pubsub.onPeerConnected(peer, connection)
    } catch (err) {
      this.log.error('handing %p back to gossipsub failed: %s', peer, describeError(err).message)
    }
  }

  private readonly onClose = (): void => {
    // gossipsub drops the peer when the closed connection's stream errors, a moment after the close
    if (this.afterClose !== undefined) clearTimeout(this.afterClose)
    this.afterClose = setTimeout(() => {
      this.afterClose = undefined
      this.sweepLogged()
    }, GOSSIP_REPAIR_AFTER_CLOSE_MS)
  }

  /** a sweep from a timer: what it throws is logged, never an unhandled rejection */
  private sweepLogged (): void {
    this.sweep().catch((err: unknown) => { this.log.error('gossip repair sweep failed: %s', describeError(err).message) })
  }
}

/** the libp2p service: `services: { gossipRepair: gossipRepair() }`, after `pubsub` */
export function gossipRepair (): (components: GossipRepairComponents) => GossipRepair {
  return (components) => new GossipRepair(components)
}
