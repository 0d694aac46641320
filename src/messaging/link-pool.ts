/**
 * The RPC streams of a broker: at most one preferred stream per peer, reused for every request
 * and delivery to it (whichever side opened it), dialled on first use, with concurrent callers
 * sharing one dial. Every stream, preferred or not, is tracked so `closeAll` leaves none behind.
 * Dials offer this peer's RPC protocol versions in preference order; multistream-select settles
 * on the first the remote also speaks, and a peer that speaks none is UnsupportedVersionError.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidArgumentError, UnreachableError, UnsupportedVersionError, describeError } from '../errors.ts'
import { combineSignals } from '../util/abort.ts'
import { RPC_DIAL_TIMEOUT_MS, RPC_PROTOCOL_PREFIX, RPC_VERSIONS } from './constants.ts'
import { RpcLink } from './rpc-link.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Logger } from '../util/logger.ts'
import type { BrokerLibp2p } from './broker-types.ts'
import type { RpcStream } from './rpc-link.ts'

/** the protocol ids for these versions, checked against what this build implements */
export function rpcProtocols (versions: readonly string[] = RPC_VERSIONS): string[] {
  if (!Array.isArray(versions) || versions.length === 0) throw new InvalidArgumentError('rpcVersions must list at least one version')
  for (const v of versions) {
    if (!RPC_VERSIONS.includes(v)) throw new InvalidArgumentError(`rpc version ${String(v)} is not implemented (known: ${RPC_VERSIONS.join(', ')})`)
  }
  return [...new Set(versions)].map(v => `${RPC_PROTOCOL_PREFIX}${v}`)
}

/** the major version of an RPC protocol id (0 if it is not one) */
export function rpcMajor (protocol: string | undefined): number {
  if (protocol == null || !protocol.startsWith(RPC_PROTOCOL_PREFIX)) return 0
  const major = Number.parseInt(protocol.slice(RPC_PROTOCOL_PREFIX.length), 10)
  return Number.isSafeInteger(major) ? major : 0
}

export class LinkPool {
  private readonly libp2p: BrokerLibp2p
  /** RPC protocol ids this peer speaks, preferred first */
  readonly protocols: string[]
  private readonly log: Logger
  private readonly onFrame: (frame: Uint8Array, link: RpcLink) => void
  private readonly onLinkClosed: (link: RpcLink) => void
  private readonly preferred = new Map<string, RpcLink>()
  private readonly all = new Set<RpcLink>()
  private readonly dialing = new Map<string, Promise<RpcLink>>()

  constructor (libp2p: BrokerLibp2p, log: Logger, onFrame: (frame: Uint8Array, link: RpcLink) => void, protocols: string[] = rpcProtocols(),
    onLinkClosed: (link: RpcLink) => void = () => {}) {
    this.onLinkClosed = onLinkClosed
    this.libp2p = libp2p
    this.protocols = protocols
    this.log = log
    this.onFrame = onFrame
  }

  /** streams open now */
  get size (): number {
    return this.all.size
  }

  /** takes an inbound stream into the pool */
  adopt (stream: RpcStream, remotePeer: string, protocol = stream.protocol): RpcLink {
    // a stream without a negotiated protocol (test doubles) is the oldest version we speak
    const major = rpcMajor(protocol ?? this.protocols[this.protocols.length - 1])
    const link = new RpcLink(stream, remotePeer, major, this.log, this.onFrame, this.onClosed)
    this.all.add(link)
    const current = this.preferred.get(remotePeer)
    if (current == null || !current.isOpen) this.preferred.set(remotePeer, link)
    return link
  }

  /** the RPC protocol major version spoken with `peer` on its preferred stream, if one is open */
  versionWith (peer: string): number | undefined {
    const link = this.preferred.get(peer)
    return link?.isOpen === true ? link.version : undefined
  }

  /** the open stream to `peer`, if there is one (no dial) */
  openLink (peer: string): RpcLink | undefined {
    const open = this.preferred.get(peer)
    return open?.isOpen === true ? open : undefined
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
    let stream: RpcStream
    try {
      stream = await this.openStream(peer, options)
    } catch (err) {
      if ((err as Error).name === 'UnsupportedProtocolError') {
        const refused = new UnsupportedVersionError(`peer ${peer} speaks none of our RPC versions (${this.protocols.join(', ')})`, { cause: err })
        this.log.error('%s', refused.message)
        throw refused
      }
      // nothing went out: a request may try again within its deadline (rpc-client.ts)
      throw new UnreachableError(`cannot open ${this.protocols[0]} to ${peer}: ${describeError(err).message}`, { cause: err, details: { peer, sent: false } })
    }
    return this.adopt(stream, peer)
  }

  /**
   * a stream over the connection libp2p picks; when opening it there times out, once more over a
   * fresh connection (`force: true` skips the open ones and dials anew). The stream opens between
   * tabs that timed out on every connection were WebRTC connections whose far end had hung up,
   * listed as open until ICE gave up; the network layer now closes those at once
   * (network/webrtc-hangup.ts), and this retry is for a connection that stalls otherwise.
   */
  private async openStream (peer: string, options: AbortOptions): Promise<RpcStream> {
    const id = peerIdFromString(peer)
    try {
      return await this.libp2p.dialProtocol(id, this.protocols, { signal: combineSignals([options.signal], RPC_DIAL_TIMEOUT_MS), runOnLimitedConnection: true })
    } catch (err) {
      if (options.signal?.aborted === true || !['TimeoutError', 'AbortError'].includes((err as Error).name)) throw err
      this.log('opening an RPC stream to %s timed out; trying a fresh connection', peer)
      return await this.libp2p.dialProtocol(id, this.protocols, { signal: combineSignals([options.signal], RPC_DIAL_TIMEOUT_MS), runOnLimitedConnection: true, force: true })
    }
  }

  private readonly onClosed = (link: RpcLink): void => {
    this.all.delete(link)
    if (this.preferred.get(link.remotePeer) === link) this.preferred.delete(link.remotePeer)
    this.onLinkClosed(link)
  }
}
