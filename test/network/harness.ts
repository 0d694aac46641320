/**
 * In-process mesh for network tests: a relay plus Node peers, each a real libp2p node on 127.0.0.1.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshLibp2p, NetworkManager } from '../../src/network/index.ts'
import type { NetworkManagerInit } from '../../src/network/index.ts'
import type { Connection, PrivateKey } from '@libp2p/interface'
import type { Clock } from '../../src/util/clock.ts'
import type { Telemetry } from '../../src/monitoring/types.ts'

export interface TestPeer {
  network: NetworkManager
  stop: () => Promise<void>
  /** an abrupt stop: connections close without a leave message */
  crash: () => Promise<void>
}

export interface StartPeerOptions {
  /** the network's clock (default the system clock) */
  clock?: Clock
  /** where the network registers its health checks and metrics (e.g. a MonitoringSystem) */
  telemetry?: Telemetry
  /** the peer's key: the same key again is the same peer restarted (default a new one) */
  privateKey?: PrivateKey
}

export async function startPeer (init: Partial<NetworkManagerInit> & { role?: 'relay' | 'node' }, mesh = 'test', options: StartPeerOptions = {}): Promise<TestPeer> {
  const { clock, telemetry } = options
  const privateKey = options.privateKey ?? await generateKeyPair('Ed25519')
  const role = init.role ?? 'node'
  const libp2p = await createMeshLibp2p({ privateKey, mesh, role, host: '127.0.0.1', port: 0, bootstrap: init.bootstrap })
  const network = new NetworkManager({ libp2p, privateKey, ...(clock != null ? { clock } : {}), ...(telemetry != null ? { telemetry } : {}) }, { mesh, role, ...init })
  await network.start()
  return {
    network,
    stop: async () => { await network.stop(); await libp2p.stop() },
    crash: async () => { await libp2p.stop() }
  }
}

/** polls `predicate` until true or the deadline passes */
export async function waitFor (predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** polls an async reading until `ok` holds for it (returns that reading), or fails at the deadline with the last one */
export async function pollUntil<T> (read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (ok(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(value)}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

export function relayAddr (relay: TestPeer): string {
  const ws = relay.network.libp2p.getMultiaddrs().map(a => a.toString()).find(a => a.includes('/ws'))
  if (ws == null) throw new Error('relay has no websocket address')
  return ws
}

/** a peer hanging up on every new connection (from `from`, or from anyone) until `end()` */
export interface HangUps {
  /** connections hung up on so far */
  readonly count: number
  end: () => void
}

export function hangUpOnNewConnections (peer: TestPeer, from?: { equals: (other: unknown) => boolean }): HangUps {
  let count = 0
  const onOpen = (evt: CustomEvent<Connection>): void => {
    if (from != null && !from.equals(evt.detail.remotePeer)) return
    count++
    void evt.detail.close().catch(() => {})
  }
  peer.network.libp2p.addEventListener('connection:open', onOpen)
  return {
    get count () { return count },
    end: () => { peer.network.libp2p.removeEventListener('connection:open', onOpen) }
  }
}
