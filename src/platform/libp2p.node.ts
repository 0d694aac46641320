import './polyfills.node.ts'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import type { ConnectionGater } from '@libp2p/interface'
import type { NodeRole } from '../network/types.ts'

export interface PlatformLibp2pInit {
  host: string
  port: number
  role: NodeRole
  localMesh: boolean
}

function ipPrefix (host: string): string {
  return host.includes(':') ? `/ip6/${host}` : `/ip4/${host}`
}

/**
 * Node peers and relays: WebSockets on `port` (what tabs dial, and Node peers bootstrap through);
 * TCP on a free port, announced in the peer's record for Node-to-Node links.
 */
export function platformLibp2pOptions (init: PlatformLibp2pInit): { transports: any[], listen: string[], connectionGater?: ConnectionGater } {
  const ip = ipPrefix(init.host)
  return {
    transports: [tcp(), webSockets(), circuitRelayTransport()],
    listen: [`${ip}/tcp/${init.port}/ws`, `${ip}/tcp/0`],
    connectionGater: init.localMesh ? { denyDialMultiaddr: async () => false } : undefined
  }
}

/** what a peer on this platform is unless told otherwise */
export const DEFAULT_ROLE: NodeRole = 'node'
