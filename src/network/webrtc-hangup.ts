/**
 * Closes a WebRTC connection as soon as its far end has hung up.
 *
 * When one end of a WebRTC connection closes its RTCPeerConnection (a dial given up half-way, a
 * connection closed by the other tab, a tab that stopped), the other end learns at once: its SCTP
 * association and DTLS transport go to 'closed' within milliseconds. @libp2p/webrtc (6.0.33)
 * closes a connection only when the RTCPeerConnection's state becomes 'failed' or 'closed',
 * which happens 5-30 s later after ICE consent checks fail. Until then the connection is listed
 * as open, and as a direct connection libp2p prefers it for every new stream, each of which waits
 * for a data channel that can never open (between tabs: RPC stream opens timing out on a
 * connection the other tab had given up, issue 8). This service aborts such a connection as soon
 * as the SCTP association or the DTLS transport under it is closed.
 *
 * It reads the RTCPeerConnection from the connection's `maConn.peerConnection`, an internal of
 * libp2p 3's Connection and @libp2p/webrtc's connection (test/browser/webrtc-hangup.test.ts
 * fails if that goes away). Connections without one (TCP, WebSockets, circuits) are left alone.
 */
import { UnreachableError } from '../errors.ts'
import type { ComponentLogger, Connection, Logger, Startable } from '@libp2p/interface'

/** the parts of an RTCSctpTransport / RTCDtlsTransport looked at */
export interface StateTransport {
  readonly state: string
  addEventListener: (type: 'statechange', listener: () => void) => void
  removeEventListener: (type: 'statechange', listener: () => void) => void
}

/** the part of an RTCPeerConnection looked at */
export interface HangupPeerConnection {
  readonly sctp: (StateTransport & { readonly transport: StateTransport }) | null
}

type ConnectionListener = (evt: CustomEvent<Connection>) => void

export interface WebRTCHangupComponents {
  events: {
    addEventListener: (type: 'connection:open' | 'connection:close', listener: ConnectionListener) => void
    removeEventListener: (type: 'connection:open' | 'connection:close', listener: ConnectionListener) => void
  }
  logger: ComponentLogger
}

/** the RTCPeerConnection under a libp2p connection, if it is a WebRTC one */
export function peerConnectionOf (connection: Connection): HangupPeerConnection | undefined {
  const pc = (connection as unknown as { maConn?: { peerConnection?: unknown } }).maConn?.peerConnection
  return pc != null && typeof pc === 'object' && 'sctp' in pc ? pc as HangupPeerConnection : undefined
}

/** why a peer connection can carry no new stream, or undefined while it can */
function hungUp (pc: HangupPeerConnection): string | undefined {
  const sctp = pc.sctp
  if (sctp == null) return undefined
  if (sctp.state === 'closed') return 'its SCTP association closed'
  if (sctp.transport.state === 'closed' || sctp.transport.state === 'failed') return `its DTLS transport is ${sctp.transport.state}`
  return undefined
}

export class WebRTCHangupWatch implements Startable {
  private readonly components: WebRTCHangupComponents
  private readonly log: Logger
  /** connection id -> removes the listeners on its transports */
  private readonly watched = new Map<string, () => void>()
  private started = false

  constructor (components: WebRTCHangupComponents) {
    this.components = components
    this.log = components.logger.forComponent('agentmesh:network:webrtc-hangup')
  }

  readonly [Symbol.toStringTag] = 'agentmesh:webrtc-hangup'

  isStarted (): boolean {
    return this.started
  }

  start (): void {
    if (this.started) return
    this.components.events.addEventListener('connection:open', this.onOpen)
    this.components.events.addEventListener('connection:close', this.onClose)
    this.started = true
  }

  stop (): void {
    this.components.events.removeEventListener('connection:open', this.onOpen)
    this.components.events.removeEventListener('connection:close', this.onClose)
    for (const unwatch of this.watched.values()) unwatch()
    this.watched.clear()
    this.started = false
  }

  /** connections watched now */
  get size (): number {
    return this.watched.size
  }

  /** watches one connection (done for every connection that opens while started) */
  watch (connection: Connection): void {
    const pc = peerConnectionOf(connection)
    const sctp = pc?.sctp
    if (pc == null || sctp == null || this.watched.has(connection.id)) return
    const dtls = sctp.transport
    const check = (): void => {
      const why = hungUp(pc)
      if (why == null) return
      this.unwatch(connection.id)
      if (connection.status !== 'open') return
      this.log('closing the WebRTC connection %s to %s: the far end hung up (%s)', connection.id, connection.remotePeer.toString(), why)
      connection.abort(new UnreachableError(`the far end of WebRTC connection ${connection.id} hung up: ${why}`))
    }
    sctp.addEventListener('statechange', check)
    dtls.addEventListener('statechange', check)
    this.watched.set(connection.id, () => {
      sctp.removeEventListener('statechange', check)
      dtls.removeEventListener('statechange', check)
    })
    // it may have hung up before the connection was handed to us
    check()
  }

  private unwatch (id: string): void {
    const unwatch = this.watched.get(id)
    this.watched.delete(id)
    unwatch?.()
  }

  private readonly onOpen = (evt: CustomEvent<Connection>): void => {
    this.watch(evt.detail)
  }

  private readonly onClose = (evt: CustomEvent<Connection>): void => {
    this.unwatch(evt.detail.id)
  }
}

/** the libp2p service: `services: { webrtcHangup: webrtcHangup() }` */
export function webrtcHangup (): (components: WebRTCHangupComponents) => WebRTCHangupWatch {
  return (components) => new WebRTCHangupWatch(components)
}
