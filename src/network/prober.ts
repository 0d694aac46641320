/**
 * Is a peer reachable? A ping over an open connection, or a fresh dial and a ping. A ping that
 * breaks on one connection says nothing about the peer: a fresh dial decides then.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { describeError } from '../errors.ts'
import type { Logger } from '../util/logger.ts'
import type { MeshLibp2p } from './libp2p.ts'

export interface ReachPeerInit {
  libp2p: MeshLibp2p
  nodeId: string
  /** the addresses in the peer's record */
  addrs: string[]
  /** a signal for a ping over the open connection */
  attemptSignal: () => AbortSignal
  /**
   * a signal for a fresh dial and its ping (default: attemptSignal). A new connection's handshakes
   * (TCP, Noise, yamux, identify) take far longer than a ping on an open one: on a loaded machine
   * they outlast a ping's budget, and a live peer was declared failed and announced so.
   */
  dialSignal?: () => AbortSignal
  /** the probe was cut short (the manager stopped, the caller gave up): no fresh dial then */
  cancelled: () => boolean
  log: Logger
}

/** resolves when `nodeId` answered a ping; throws when it could not be reached */
export async function reachPeer (init: ReachPeerInit): Promise<void> {
  const { libp2p, nodeId, attemptSignal, log } = init
  const id = peerIdFromString(nodeId)
  const open = libp2p.getConnections(id).find(c => c.status === 'open')
  const dialAndPing = async (): Promise<void> => {
    const signal = (init.dialSignal ?? attemptSignal)()
    const addrs = init.addrs.map(a => multiaddr(a))
    const conn = await libp2p.dial(addrs.length > 0 ? addrs : id, { signal, force: open != null })
    await libp2p.services.ping.ping(conn.remoteAddr, { signal })
  }
  if (open == null) {
    await dialAndPing()
  } else {
    try {
      await libp2p.services.ping.ping(open.remoteAddr, { signal: attemptSignal() })
    } catch (err) {
      // a ping that breaks on one connection (reset, EOF while the other side restarts a link)
      // says nothing about the peer: a fresh dial decides (a dead process refuses it at once)
      if (init.cancelled()) throw err
      log('ping of %s over its open connection failed (%s); dialling afresh', nodeId, describeError(err).message)
      await dialAndPing()
    }
  }
}
