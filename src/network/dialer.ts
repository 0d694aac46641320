/**
 * Dialling for NetworkManager: discovered and known peers are dialled when a direct link is useful
 * and possible from this platform (a tab: WebRTC or a relay's WebSocket; a Node peer: anything but
 * relayed or WebRTC addresses), at most MAX_DIALS_IN_FLIGHT at once, with a growing backoff per
 * peer after failed dials.
 *
 * Two tabs learn each other's /webrtc address from the same records at about the same moment, and
 * when both dialled, every pair of tabs ended up with two relayed connections and two
 * RTCPeerConnections (in each of 17 logged two-tab runs): twice the signalling through the
 * relay, twice the ICE consent traffic, and two links to keep alive. Between tabs only the one
 * with the lower peer id dials at once; the other dials only if no direct link has come up
 * TAB_DIAL_YIELD_MS later (the first one's dial failed, or it is gone), and from then on retries
 * with the usual backoff rather than waiting again (until a direct link is up).
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId, PeerInfo } from '@libp2p/interface'
import { describeError } from '../errors.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import { DIAL_BACKOFF_MAX_MS, DIAL_BACKOFF_MIN_MS, DIAL_TIMEOUT_MS, MAX_DIAL_BACKOFF_PEERS, MAX_DIALS_IN_FLIGHT, TAB_DIAL_TIMEOUT_MS, TAB_DIAL_YIELD_MS } from './constants.ts'
import type { MeshLibp2p } from './libp2p.ts'
import type { NodeRole } from './types.ts'

export interface DialerInit {
  libp2p: MeshLibp2p
  peerId: string
  role: NodeRole
  clock: Clock
  log: Logger
  /** aborted when the network manager stops (deferred dials are dropped then) */
  stopSignal: AbortSignal
  /** the network manager is running */
  started: () => boolean
}

export class Dialer {
  private readonly init: DialerInit
  private readonly libp2p: MeshLibp2p
  private readonly peerId: string
  private readonly clock: Clock
  private readonly log: Logger
  private readonly dialing = new Set<string>()
  /** peers whose last dials failed: not dialled again before `until` (monotonic) */
  private readonly dialBackoff = new Map<string, { failures: number, until: number }>()
  /** tabs with a lower peer id than ours: dialled later unless they dial us first */
  private readonly deferred = new Map<string, TimerHandle>()
  /** tabs we already waited for: dialled at once (with the backoff) until a direct link is up */
  private readonly yielded = new Set<string>()

  constructor (init: DialerInit) {
    this.init = init
    this.libp2p = init.libp2p
    this.peerId = init.peerId
    this.clock = init.clock
    this.log = init.log
    init.stopSignal.addEventListener('abort', () => {
      for (const timer of this.deferred.values()) this.clock.clearTimeout(timer)
      this.deferred.clear()
      this.yielded.clear()
    }, { once: true })
  }

  /** tab dials waiting for the other tab to dial first */
  get deferredDials (): number {
    return this.deferred.size
  }

  /**
   * A tab's dials wait longer: to another tab a dial is several round trips through the relay, and
   * a dial cut off before a loaded peer finishes its handshake is retried from scratch, which loads
   * it further (a tab at load 25 never reached the relay with 5 s attempts)
   */
  dialTimeoutMs (): number {
    return this.init.role === 'browser' ? TAB_DIAL_TIMEOUT_MS : DIAL_TIMEOUT_MS
  }

  /** Dials a discovered peer when it is useful and possible from this platform. */
  maybeDial (info: PeerInfo): void {
    const id = info.id.toString()
    if (!this.init.started() || id === this.peerId || this.dialing.has(id) || this.dialing.size >= MAX_DIALS_IN_FLIGHT) return
    if (this.hasDirectConnection(info)) {
      this.yielded.delete(id)
      return
    }
    const backoff = this.dialBackoff.get(id)
    if (backoff != null && this.clock.monotonic() < backoff.until) return
    const addrs = info.multiaddrs.map(a => a.toString())
    const direct = this.init.role === 'browser'
      ? addrs.filter(a => a.includes('/webrtc') || (a.includes('/ws') && !a.includes('/p2p-circuit')))
      : addrs.filter(a => !a.includes('/p2p-circuit') && !a.includes('/webrtc'))
    if (direct.length === 0) return
    // another tab (reachable over WebRTC only) with a lower id dials us: we wait to see it
    if (this.init.role === 'browser' && id < this.peerId && !this.yielded.has(id) && direct.every(a => a.includes('/webrtc'))) {
      this.deferDial(info)
      return
    }
    this.dial(info, direct)
  }

  private hasDirectConnection (info: PeerInfo): boolean {
    return this.libp2p.getConnections(info.id).some(c => c.status === 'open' && c.limits == null)
  }

  /** dials the tab `info` TAB_DIAL_YIELD_MS from now unless a direct link to it is up by then */
  private deferDial (info: PeerInfo): void {
    const id = info.id.toString()
    if (this.deferred.has(id) || this.deferred.size >= MAX_DIAL_BACKOFF_PEERS) return
    this.deferred.set(id, this.clock.setTimeout(() => {
      this.deferred.delete(id)
      // waited once: from now on (a failed dial, a retry) this tab dials it like any other peer
      if (this.yielded.size < MAX_DIAL_BACKOFF_PEERS) this.yielded.add(id)
      if (!this.init.started() || this.init.stopSignal.aborted || this.dialing.has(id) || this.dialing.size >= MAX_DIALS_IN_FLIGHT || this.hasDirectConnection(info)) return
      const direct = info.multiaddrs.map(a => a.toString()).filter(a => a.includes('/webrtc'))
      this.log('%s has not linked to us in %d ms; dialling it', id, TAB_DIAL_YIELD_MS)
      this.dial(info, direct)
    }, TAB_DIAL_YIELD_MS))
  }

  private dial (info: PeerInfo, direct: string[]): void {
    const id = info.id.toString()
    this.dialing.add(id)
    const targets = direct.map(a => multiaddr(a.includes('/p2p/') ? a : `${a}/p2p/${id}`))
    this.libp2p.dial(targets, { signal: AbortSignal.any([this.init.stopSignal, AbortSignal.timeout(this.dialTimeoutMs())]) })
      .then(() => {
        this.dialBackoff.delete(id)
        this.log('dialled %s', id)
      }, err => {
        const failures = (this.dialBackoff.get(id)?.failures ?? 0) + 1
        const waitMs = Math.min(DIAL_BACKOFF_MAX_MS, DIAL_BACKOFF_MIN_MS * 2 ** (failures - 1))
        const now = this.clock.monotonic()
        // peers gone for good would fill the map and end backing off for everyone: drop long-expired ones
        if (this.dialBackoff.size >= MAX_DIAL_BACKOFF_PEERS) for (const [peer, b] of this.dialBackoff) if (now - b.until > DIAL_BACKOFF_MAX_MS) this.dialBackoff.delete(peer)
        if (this.dialBackoff.size < MAX_DIAL_BACKOFF_PEERS || this.dialBackoff.has(id)) this.dialBackoff.set(id, { failures, until: now + waitMs })
        this.log('dial %s failed (%d in a row; next try in %d ms or more): %s', id, failures, waitMs, describeError(err).message)
      })
      .finally(() => this.dialing.delete(id))
  }

  /** an open connection to the peer `target` names (or, without a peer id, to that address) */
  isConnectedTo (target: { text: string, peer?: PeerId }): boolean {
    if (target.peer != null) return this.libp2p.getConnections(target.peer).length > 0
    // no peer id in the address: connected if an open connection goes to that address
    return this.libp2p.getConnections().some(c => c.status === 'open' && c.remoteAddr.toString().startsWith(target.text))
  }
}
