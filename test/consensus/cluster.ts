/**
 * In-process consensus peers for tests: each a real libp2p node on 127.0.0.1 with its
 * NetworkManager and ConsensusManager over its own Store. A peer restarted with the same key and
 * store is the same peer with its durable Raft log.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { createMeshLibp2p, NetworkManager } from '../../src/network/index.ts'
import { ConsensusManager } from '../../src/consensus/index.ts'
import type { ConsensusManagerInit } from '../../src/consensus/index.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import type { Store } from '../../src/storage/types.ts'

export interface ConsensusPeer {
  id: string
  key: PrivateKey
  store: Store
  role: 'relay' | 'node'
  network: NetworkManager
  consensus: ConsensusManager
  addrs: () => string[]
  /** stops consensus, network and libp2p cleanly */
  stop: () => Promise<void>
  /** drops every connection first (no goodbye), then stops */
  crash: () => Promise<void>
}

export interface PeerOptions {
  role?: 'relay' | 'node'
  bootstrap?: string[]
  key?: PrivateKey
  store?: Store
  mesh?: string
  consensus?: ConsensusManagerInit
}

export async function startConsensusPeer (o: PeerOptions = {}): Promise<ConsensusPeer> {
  const key = o.key ?? await generateKeyPair('Ed25519')
  const store = o.store ?? new MemoryStore()
  const role = o.role ?? 'node'
  const mesh = o.mesh ?? 'consensus-test'
  const libp2p = await createMeshLibp2p({ privateKey: key, mesh, role, host: '127.0.0.1', port: 0, bootstrap: o.bootstrap })
  const network = new NetworkManager({ libp2p, privateKey: key }, { mesh, role, raft: 'voter', bootstrap: o.bootstrap })
  await network.start()
  // a peer given bootstrap addresses joins an existing mesh, as node.ts tells it: without `joining`
  // a late joiner that heard nobody within BOOTSTRAP_WAIT_MS (discovery at load) founded a group of
  // its own and never caught up (snapshots.spec: 'the late joiner to catch up' timed out at load 25)
  const consensus = new ConsensusManager({ libp2p, network, store }, { joining: (o.bootstrap ?? []).length > 0, ...o.consensus })
  await consensus.start()
  const stopAll = async (): Promise<void> => {
    await consensus.stop()
    await network.stop()
    await libp2p.stop()
  }
  return {
    id: libp2p.peerId.toString(),
    key,
    store,
    role,
    network,
    consensus,
    addrs: () => libp2p.getMultiaddrs().map(a => a.toString()),
    stop: stopAll,
    crash: async () => {
      await Promise.all(libp2p.getConnections().map(async c => { c.abort(new Error('crash')) }))
      await libp2p.stop()
      await consensus.stop()
      // the network manager's own goodbye cannot go out any more; only its timers need stopping
      await network.stop().catch(() => {})
    }
  }
}

/** polls `predicate` until true or the deadline passes (the shared test helper) */
export { waitUntil as eventually } from '../helpers/processes.ts'

/** the peer every live peer agrees leads, once all know it */
export function agreedLeader (peers: ConsensusPeer[]): ConsensusPeer | undefined {
  const leaders = new Set(peers.map(p => p.consensus.status().leader))
  if (leaders.size !== 1) return undefined
  const id = [...leaders][0]
  return peers.find(p => p.id === id)
}
