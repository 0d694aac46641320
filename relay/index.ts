/**
 * The relay: a full mesh peer that also serves circuit-relay-v2 reservations (the signalling path
 * for browser-to-browser WebRTC and the way Node peers reach tabs), is a kad-dht server and the
 * bootstrap address tabs and Node peers join through, and serves the HTTP admin API.
 * Several relays may run; none is special to the protocols.
 *
 *   const relay = await startRelay({ port: 9090, httpPort: 9091, data: '.data/relay' })
 *   relay.multiaddrs   // what to hand to tabs (the /ws address) and Node peers
 *   await relay.stop()
 */
import { join } from 'node:path'
import { mkdirSync } from 'node:fs'
import type { MeshNode } from '../src/node.ts'
import { servePeer } from '../src/admin/serve.ts'

export interface RelayOptions {
  mesh?: string
  /** listen and announce address (default 127.0.0.1) */
  host?: string
  /** WebSocket port tabs dial (default 9090; 0 picks a free one); TCP takes a free port */
  port?: number
  httpHost?: string
  /** admin API port (default 9091; 0 picks a free one) */
  httpPort?: number
  /** directory for identity, Raft log and state; absent: in memory */
  data?: string
  /** other relays or peers to join (several relays form one mesh) */
  bootstrap?: string[]
}

export interface Relay {
  node: MeshNode
  peerId: string
  multiaddrs: string[]
  /** the admin API's base URL */
  http: string
  stop: () => Promise<void>
}

export async function startRelay (options: RelayOptions = {}): Promise<Relay> {
  if (options.data != null) mkdirSync(options.data, { recursive: true })
  const served = await servePeer({
    mesh: options.mesh,
    role: 'relay',
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 9090,
    storage: options.data != null ? join(options.data, 'store') : 'memory',
    bootstrap: options.bootstrap,
    raft: { voter: true }
  }, { host: options.httpHost ?? '127.0.0.1', port: options.httpPort ?? 9091 })
  return {
    node: served.node,
    peerId: served.node.peerId,
    multiaddrs: served.node.libp2p.getMultiaddrs().map(a => a.toString()),
    http: served.http,
    stop: served.stop
  }
}
