import { webSockets } from '@libp2p/websockets'
import { webRTC } from '@libp2p/webrtc'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import type { ConnectionGater } from '@libp2p/interface'
import type { NodeRole } from '../network/types.ts'
import { TAB_RESERVATION_TIMEOUT_MS } from '../network/constants.ts'

export interface PlatformLibp2pInit {
  host: string
  port: number
  role: NodeRole
  localMesh: boolean
}

/**
 * Browser tabs cannot listen on sockets: they take a relay reservation (`/p2p-circuit`) and accept
 * WebRTC (`/webrtc`), signalled over the relayed connection, then talk directly.
 */
export function platformLibp2pOptions (init: PlatformLibp2pInit): { transports: any[], listen: string[], connectionGater?: ConnectionGater } {
  return {
    transports: [
      webSockets(),
      webRTC({ rtcConfiguration: { iceServers: [] } }),
      // a loaded relay answers a reservation in more than the default 5 s; without one no tab reaches us
      circuitRelayTransport({ reservationCompletionTimeout: TAB_RESERVATION_TIMEOUT_MS })
    ],
    listen: ['/p2p-circuit', '/webrtc'],
    // the default browser gater refuses ws:// and private addresses: a local mesh needs both
    connectionGater: init.localMesh ? { denyDialMultiaddr: async () => false } : undefined
  }
}

/** what a peer on this platform is unless told otherwise */
export const DEFAULT_ROLE: NodeRole = 'browser'
