/**
 * The libp2p node every agentmesh peer runs. The parts common to all platforms live here; the
 * transports and listen addresses come from `#platform/libp2p` (Node: TCP + WebSockets;
 * browsers: WebSockets + WebRTC). Relays add the circuit-relay-v2 server.
 */
import { createLibp2p } from 'libp2p'
import { noise } from '@libp2p/noise'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { gossipsub } from '@libp2p/gossipsub'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { bootstrap } from '@libp2p/bootstrap'
import { pubsubPeerDiscovery } from '@libp2p/pubsub-peer-discovery'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import type { Libp2p, PrivateKey, ComponentLogger, Metrics } from '@libp2p/interface'
import type { GossipSub } from '@libp2p/gossipsub'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Identify } from '@libp2p/identify'
import { toString as bytesToString } from 'uint8arrays'
import { platformLibp2pOptions } from '#platform/libp2p'
import { DISCOVERY_INTERVAL_MS, GOSSIP_SEEN_TTL_MS, PING_MAX_OUTBOUND_STREAMS, TAB_DIAL_TIMEOUT_MS, TAB_UPGRADE_TIMEOUT_MS, dhtProtocol, discoveryTopic } from './constants.ts'
import type { NodeRole } from './types.ts'
import { gossipRepair } from './gossip-repair.ts'
import { webrtcHangup } from './webrtc-hangup.ts'
import { meshYamux } from './yamux-window.ts'

export interface MeshServices {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  dht: KadDHT
  [name: string]: unknown
}

export type MeshLibp2p = Libp2p<MeshServices>

export interface MeshLibp2pInit {
  privateKey: PrivateKey
  mesh: string
  role: NodeRole
  /** address to listen on and announce (Node peers) */
  host?: string
  /** WebSocket port (0: a free one); TCP always takes a free port */
  port?: number
  bootstrap?: string[]
  /**
   * A mesh on loopback or a private network: keep private addresses in the DHT, let browsers
   * dial ws:// and private addresses, and accept many connections per second from one IP.
   * Off for meshes on public networks.
   */
  localMesh?: boolean
  logger?: ComponentLogger
  /** libp2p's metrics service (e.g. Prometheus), reported through the peer's /metrics */
  metrics?: (components: { logger: ComponentLogger }) => Metrics
  /** gossipsub peer scoring (application score, thresholds); see security/flood.ts */
  pubsubScore?: { scoreParams?: Record<string, unknown>, scoreThresholds?: Record<string, number> }
}

/**
 * The id gossipsub's seen-cache knows a received message by before checking its signature: its
 * author and sequence number, the two fields StrictSign's message id is made of. A copy with a forged
 * signature can only be dropped as a duplicate of a message already verified; a first copy is always
 * verified, and one that fails is never recorded as seen.
 */
export function seenMessageId (msg: { from?: Uint8Array, seqno?: Uint8Array }): string {
  if (msg.from == null || msg.seqno == null) return ''
  return bytesToString(msg.from, 'base64') + '/' + bytesToString(msg.seqno, 'base64')
}

export async function createMeshLibp2p (init: MeshLibp2pInit): Promise<MeshLibp2p> {
  const localMesh = init.localMesh ?? true
  const platform = platformLibp2pOptions({ host: init.host ?? '127.0.0.1', port: init.port ?? 0, role: init.role, localMesh })
  const services: Record<string, unknown> = {
    identify: identify(),
    // two outbound ping streams per connection, not libp2p's one: libp2p's connection monitor pings
    // every connection on its own schedule, and a failure probe (prober.ts) pinging while the
    // monitor's ping was open got 'Too many outbound protocol streams ... 2/1' (seen at load 29),
    // which it took for an unreachable peer. The far side accepts two inbound (ping's default)
    ping: ping({ maxOutboundStreams: PING_MAX_OUTBOUND_STREAMS }),
    pubsub: gossipsub({
      allowPublishToZeroTopicPeers: true,
      emitSelf: false,
      // also over relayed (limited) connections. Turning this off (gossip between tabs then goes
      // only through the relay, not also over their circuits) made no measurable difference to the
      // relay's event-loop lag, and in 2 of 2 e2e runs at load ~20 a tab's RPC dial to another tab
      // then timed out where it had not with it on (issue 8 notes)
      runOnLimitedConnection: true,
      // peers of a mesh are few and mostly reachable: flood our own messages to every topic peer
      floodPublish: true,
      // every message reaches a peer once per neighbour that forwards it (twice in a 3-peer mesh);
      // without this, gossipsub checks each copy's signature before it finds the copy a duplicate
      fastMsgIdFn: seenMessageId,
      // how long a message id is remembered, in both caches above (gossipsub's default is 2 min; a
      // copy comes within seconds, from a neighbour or from the 5 s message cache). A relay under
      // the soak's load remembers ~280 messages a second, ~0.2 KiB each per cache
      seenTTL: GOSSIP_SEEN_TTL_MS,
      ...(init.pubsubScore as Record<string, unknown> | undefined)
    }),
    dht: kadDHT({
      protocol: dhtProtocol(init.mesh),
      clientMode: init.role === 'browser',
      peerInfoMapper: localMesh ? passthroughMapper : removePrivateAddressesMapper
    }),
    // a WebRTC connection whose far end hung up is closed at once, not 5-30 s later (issue 8)
    webrtcHangup: webrtcHangup(),
    // a peer gossipsub dropped while a connection to it is still open is handed back (after a
    // heal, a late abort of the pre-cut connection dropped it for good)
    gossipRepair: gossipRepair()
  }
  if (init.role === 'relay') {
    services.relay = circuitRelayServer({
      reservations: {
        maxReservations: 1024,
        // tabs signal WebRTC and, until upgraded, talk through the relay: don't cut them off
        applyDefaultLimit: false
      }
    })
  }
  const peerDiscovery: any[] = [
    pubsubPeerDiscovery({ topics: [discoveryTopic(init.mesh)], interval: DISCOVERY_INTERVAL_MS })
  ]
  // the bootstrap module needs peer ids; addresses without one are dialled by NetworkManager
  const withIds = (init.bootstrap ?? []).filter(a => a.includes('/p2p/'))
  if (withIds.length > 0) peerDiscovery.push(bootstrap({ list: withIds, timeout: 0 }))

  return await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: platform.listen },
    transports: platform.transports,
    connectionEncrypters: [noise()],
    // yamux whose window updates go out at half the window, not after every data frame, over
    // a transport that writes each encrypted packet at once (yamux-window.ts, packet-writes.ts)
    streamMuxers: [meshYamux()],
    connectionGater: platform.connectionGater,
    connectionManager: {
      maxConnections: 512,
      inboundConnectionThreshold: localMesh ? 10_000 : undefined,
      // a tab's links to other tabs are set up through the relay, several round trips deep
      ...(init.role === 'browser' ? { dialTimeout: TAB_DIAL_TIMEOUT_MS, addressDialTimeout: TAB_DIAL_TIMEOUT_MS, inboundUpgradeTimeout: TAB_UPGRADE_TIMEOUT_MS } : {})
    },
    // Tabs run without libp2p's connection monitor. It pings every connection every 10 s and
    // aborts the connection when a ping fails: on a loaded machine a tab's ping through the relay
    // outlasts its 5 s timeout, and a ping from the prober (prober.ts) on the same connection
    // makes the monitor's own fail (one outbound ping stream per connection), so healthy links
    // were torn down: 17 and 26 aborts in two dashboard e2e runs at load ~25, the relay's among
    // them (its circuits and the tab's /webrtc address went with it). A tab learns that a far end
    // is gone from its heartbeats and probes (NetworkManager), the socket's close, and for WebRTC
    // from the hang-up watch.
    ...(init.role === 'browser' ? { connectionMonitor: { enabled: false } } : {}),
    peerDiscovery,
    services: services as any,
    logger: init.logger,
    ...(init.metrics != null ? { metrics: init.metrics as any } : {})
  }) as unknown as MeshLibp2p
}
