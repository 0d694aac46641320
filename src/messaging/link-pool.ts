/**
 * The RPC streams of a broker: at most one preferred stream per peer, reused for every request
 * and delivery to it (whichever side opened it), dialled on first use, with concurrent callers
 * sharing one dial. Every stream, preferred or not, is tracked so `closeAll` leaves none behind.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { UnreachableError } from '../errors.ts'
import { combineSignals } from '../util/abort.ts'
import { RPC_DIAL_TIMEOUT_MS, RPC_PROTOCOL } from './constants.ts'
import { RpcLink } from './rpc-link.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Logger } from '../util/logger.ts'
import type { BrokerLibp2p } from './broker-types.ts'
import type { RpcStream } from './rpc-link.ts'

export class LinkPool {
  private readonly libp2p: BrokerLibp2p
  private readonly log: Logger
  private readonly onFrame: (frame: Uint8Array, link: RpcLink) => void
  private readonly preferred = new Map<string, RpcLink>()
  private readonly all = new Set<RpcLink>()
  private readonly dialing = new Map<string, Promise<RpcLink>>()

  constructor (libp2p: BrokerLibp2p, log: Logger, onFrame: (frame: Uint8Array, link: RpcLink) => void) {
    this.libp2p = libp2p
    this.log = log
    this.onFrame = onFrame
  }

  /** streams open now */
  get size (): number {
    return this.all.size
  }

  /** takes an inbound stream into the pool */
  adopt (stream: RpcStream, remotePeer: string): RpcLink {
    const link = new RpcLink(stream, remotePeer, this.log, this.onFrame, this.onClosed)
    this.all.add(link)
    const current = this.preferred.get(remotePeer)
    if (current == null || !current.isOpen) this.preferred.set(remotePeer, link)
    return link
  }

  /** the open stream to `peer`, reused; dials one if there is none (UnreachableError if it can't) */
  async linkTo (peer: string, options: AbortOptions = {}): Promise<RpcLink> {
    const open = this.preferred.get(peer)
    if (open?.isOpen === true) return open
    let dial = this.dialing.get(peer)
    if (dial == null) {
      dial = this.dial(peer, options).finally(() => { this.dialing.delete(peer) })
      this.dialing.set(peer, dial)
    }
    return await dial
  }

  async closeAll (): Promise<void> {
    const links = [...this.all]
    this.all.clear()
    this.preferred.clear()
    await Promise.allSettled(links.map(async l => { await l.close() }))
  }

  private async dial (peer: string, options: AbortOptions): Promise<RpcLink> {
    try {
      const stream = await this.libp2p.dialProtocol(peerIdFromString(peer), RPC_PROTOCOL, {
        signal: combineSignals([options.signal], RPC_DIAL_TIMEOUT_MS), runOnLimitedConnection: true
      })
      return this.adopt(stream, peer)
    } catch (err) {
      throw new UnreachableError(`cannot open ${RPC_PROTOCOL} to ${peer}: ${(err as Error).message}`, { cause: err })
    }
  }

  private readonly onClosed = (link: RpcLink): void => {
    this.all.delete(link)
    if (this.preferred.get(link.remotePeer) === link) this.preferred.delete(link.remotePeer)
  }
}
