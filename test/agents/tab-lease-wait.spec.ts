/**
 * The leader waits out a tab's node lease before it moves the tab's agents (docs/agents.md,
 * "Failure recovery"; agents/recovery.ts `leaseOver`). A peer with a browser tab's lease timing
 * (10 s ttl, `createNode({ nodeLease })`) runs an agent and is cut off: its libp2p stops, so its
 * connections close and nothing it sends arrives any more, while its agent manager keeps running
 * and gives nothing back. The mesh declares it failed within seconds, long before the lease ends in
 * the store; the agent must stay placed there until the store has expired the lease, and be
 * re-placed after it, with its acknowledged state. A leader that re-placed on the failure verdict
 * alone moves it while the lease is still in the store, and the first case fails.
 *
 * The second case: the tab lost its lease and was granted another, and is cut off before its
 * record carrying the new lease id reached anyone (its record is held back here). The leader must
 * wait out the new lease, which it finds in the store (each grant raises the fence
 * `node-leases/<peer>` to its id), not only the expired one the record names; checking the record's
 * id alone moves the agent at once.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createNode, type MeshNode } from '../../src/node.ts'
import { agentConstants, nodeLeaseKey } from '../../src/agents/index.ts'
import { startMesh, waitForVoters, type TestMesh } from './mesh-helpers.ts'
import { waitFor } from './helpers.ts'

const MESH = 'agents-tab-lease'
const TAB_LEASE = { ttlMs: agentConstants.NODE_LEASE_TAB_TTL_MS, renewMs: agentConstants.NODE_LEASE_TAB_RENEW_MS, safetyMs: agentConstants.NODE_LEASE_TAB_SAFETY_MS }
/** how often the watcher reads the placement and the lease (each read is linearizable) */
const WATCH_EVERY_MS = 100

/**
 * Cuts `tab` off (its libp2p stops) and watches `agent` from `via` until it is placed elsewhere.
 * Fails if it moves while `lease` is still in the store, or not within 60 s; checks that the mesh
 * had declared the tab failed while the lease was still there (else the wait was not tested) and
 * that the tab no longer counted its lease valid at the move.
 */
async function cutOffAndWatch (mesh: TestMesh, tab: MeshNode, agent: string, lease: number): Promise<string> {
  const via = mesh.relay
  let verdictAt: number | undefined
  const onFailed = (evt: CustomEvent<{ peerId: string }>): void => { if (evt.detail.peerId === tab.peerId) verdictAt ??= performance.now() }
  for (const x of mesh.all()) x.network.addEventListener('node:failed', onFailed)
  try {
    await tab.libp2p.stop()
    const cutAt = performance.now()
    /** polls where the mesh had declared the tab failed and its lease was still in the store */
    let failedWithLease = 0
    for (;;) {
      // placement first, then the lease: a lease never comes back, so one still there now was there at the move
      const p = await via.agents.read(agent, { signal: AbortSignal.timeout(10_000) })
      const ttl = await via.consensus.kv.timeToLive(lease, { signal: AbortSignal.timeout(10_000) })
      assert.ok(p != null, `${agent} is placed`)
      if (p.node !== tab.peerId) {
        assert.equal(ttl, undefined, `${agent} was re-placed (on ${p.node.slice(-6)}, epoch ${p.epoch}) while the tab's lease ${lease} was still in the store, ${ttl?.remainingMs} ms left`)
        assert.equal(tab.agents.lease.valid(), false, 'the cut-off tab no longer counted its lease valid when its agent moved')
        assert.ok(failedWithLease > 0, 'the mesh declared the tab failed while its lease was still in the store (else the wait was not tested)')
        return p.node
      }
      if (verdictAt !== undefined && ttl !== undefined) failedWithLease++
      assert.ok(performance.now() - cutAt < 60_000, `${agent} not re-placed within 60 s of the cut (lease ${ttl === undefined ? 'expired' : `${ttl.remainingMs} ms left`}, verdict ${verdictAt === undefined ? 'none' : 'given'})`)
      await new Promise(resolve => setTimeout(resolve, WATCH_EVERY_MS))
    }
  } finally {
    for (const x of mesh.all()) x.network.removeEventListener('node:failed', onFailed)
  }
}

describe('a cut-off peer holding a tab\'s node lease', () => {
  let mesh: TestMesh
  let boot: string[]
  const tabs: MeshNode[] = []

  /** a learner, as a tab is (cutting it off leaves the voters their quorum), on a tab's lease timing */
  async function startTab (): Promise<MeshNode> {
    const tab = await createNode({ mesh: MESH, bootstrap: boot, raft: { voter: false }, nodeLease: TAB_LEASE })
    tabs.push(tab)
    await waitFor(() => tab.agents.lease.valid() && mesh.all().every(x => x.network.member(tab.peerId)?.status === 'alive'), 30_000, 'the tab to hold a lease and be seen alive')
    assert.equal(tab.agents.lease.ttl, agentConstants.NODE_LEASE_TAB_TTL_MS, 'the peer runs on a tab\'s lease timing')
    return tab
  }

  before(async () => {
    mesh = await startMesh(2, MESH)
    await waitForVoters(mesh, 3)
    boot = mesh.relay.libp2p.getMultiaddrs().map(x => x.toString()).filter(x => x.includes('/ws/'))
  })
  after(async () => {
    await Promise.all(tabs.map(async t => { await t.stop() }))
    await mesh?.stop()
  })

  it('keeps its agents until the store has expired its lease, then they are re-placed with their state', async () => {
    const tab = await startTab()
    await mesh.relay.agents.deployAgent('t1', { kind: 'counter', node: tab.peerId })
    assert.deepEqual(await mesh.relay.broker.request('t1', { op: 'inc' }), { value: 1 })
    const lease = tab.agents.lease.id
    assert.ok(lease > 0)
    const movedTo = await cutOffAndWatch(mesh, tab, 't1', lease)
    assert.notEqual(movedTo, tab.peerId)
    assert.deepEqual(await mesh.relay.broker.request('t1', { op: 'get' }, { timeoutMs: 15_000 }), { value: 1 }, 'the new owner serves the acknowledged state')
  })

  it('a lease granted again just before the cut, its record not spread: the leader waits out the new lease', async () => {
    const tab = await startTab()
    await mesh.relay.agents.deployAgent('t2', { kind: 'counter', node: tab.peerId })
    assert.deepEqual(await mesh.relay.broker.request('t2', { op: 'inc' }), { value: 1 })
    const first = tab.agents.lease.id
    assert.equal(await mesh.relay.consensus.kv.fenceToken(nodeLeaseKey(tab.peerId)), first, 'the store knows the grant as the tab\'s latest')
    // from here on the tab's record stays as the mesh last saw it (naming the first lease): what a
    // cut just after the new grant, before its record spread, leaves the others with
    tab.network.setExtension = () => {}
    await mesh.relay.consensus.kv.revoke(first)
    await waitFor(() => tab.agents.lease.id !== first && tab.agents.lease.valid(), 20_000, 'the tab to be granted a new lease')
    const second = tab.agents.lease.id
    assert.equal(await mesh.relay.consensus.kv.fenceToken(nodeLeaseKey(tab.peerId)), second, 'and the new grant as its latest')
    for (const x of mesh.all()) assert.equal(x.network.member(tab.peerId)?.record.ext.agentLease, first, 'the others still know the tab by its first lease')
    // still its owner after the re-check that follows a lost lease
    assert.deepEqual(await mesh.relay.broker.request('t2', { op: 'inc' }, { timeoutMs: 15_000 }), { value: 2 })
    const movedTo = await cutOffAndWatch(mesh, tab, 't2', second)
    assert.notEqual(movedTo, tab.peerId)
    assert.deepEqual(await mesh.relay.broker.request('t2', { op: 'get' }, { timeoutMs: 15_000 }), { value: 2 }, 'the new owner serves the acknowledged state')
  })
})
