/** An in-process mesh of real peers (createNode): a relay and Node peers on 127.0.0.1, with a Raft leader. */
import { createNode, type CreateNodeOptions, type MeshNode } from '../../src/node.ts'
import { waitFor } from '../network/harness.ts'

export interface TestMesh {
  relay: MeshNode
  nodes: MeshNode[]
  all: () => MeshNode[]
  stop: () => Promise<void>
}

export async function startMesh (n: number, mesh: string, options: Partial<CreateNodeOptions> = {}): Promise<TestMesh> {
  const relay = await createNode({ mesh, role: 'relay', ...options })
  const boot = relay.libp2p.getMultiaddrs().map(x => x.toString()).filter(x => x.includes('/ws/'))
  const nodes = await Promise.all(Array.from({ length: n }, async () => await createNode({ mesh, bootstrap: boot, ...options })))
  const all = (): MeshNode[] => [relay, ...nodes]
  const t = { relay, nodes, all, stop: async () => { await Promise.all(all().map(async x => { await x.stop() })) } }
  try {
    await waitFor(() => all().every(x => all().every(y => x === y || x.network.member(y.peerId)?.status === 'alive')), 20_000, 'every peer to see every other')
    await waitFor(() => all().every(x => { try { return x.consensus.status().leader != null } catch { return false } }), 20_000, 'a raft leader known everywhere')
    await waitFor(() => all().every(x => x.agents.lease.valid()), 10_000, 'every peer to hold a node lease')
  } catch (err) {
    await t.stop()
    throw err
  }
  return t
}

export function leaderOf (mesh: TestMesh): MeshNode {
  const id = mesh.relay.consensus.status().leader
  const leader = mesh.all().find(x => x.peerId === id)
  if (leader == null) throw new Error('no leader')
  return leader
}

/**
 * Waits until the Raft group has `count` voters (as the relay sees it). A test that stops or kills
 * a peer needs three first: the autopilot grows the group one voter at a time, and a group of two
 * that loses either voter has no quorum (no leader, no re-placement) until that peer returns.
 */
export async function waitForVoters (mesh: TestMesh, count = 3, timeoutMs = 20_000): Promise<void> {
  await waitFor(() => mesh.relay.consensus.status().voters.length >= count, timeoutMs, `${count} raft voters`)
}
