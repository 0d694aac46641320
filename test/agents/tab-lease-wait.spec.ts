/**
 * The leader waits out a tab's node lease before it moves the tab's agents (docs/agents.md,
 * "Failure recovery"; agents/recovery.ts `leaseOver`). A peer with a browser tab's lease timing
 * (10 s ttl, `createNode({ nodeLease })`) runs an agent and is cut off: its libp2p stops, so its
 * connections close and nothing it sends arrives any more, while its agent manager keeps running
 * and gives nothing back. The mesh declares it failed within seconds, long before the lease ends in
 * the store; the agent must stay placed there until the store has expired the lease, and be
 * re-placed after it, with its acknowledged state. A leader that re-placed on the failure verdict
 * alone moves it while the lease is still in the store, and this test fails.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createNode, type MeshNode } from '../../src/node.ts'
import { agentConstants } from '../../src/agents/index.ts'
import { startMesh, waitForVoters, type TestMesh } from './mesh-helpers.ts'
import { waitFor } from './helpers.ts'

const MESH = 'agents-tab-lease'
const TAB_LEASE = { ttlMs: agentConstants.NODE_LEASE_TAB_TTL_MS, renewMs: agentConstants.NODE_LEASE_TAB_RENEW_MS, safetyMs: agentConstants.NODE_LEASE_TAB_SAFETY_MS }
/** how often the watcher reads the placement and the lease (each read is linearizable) */
const WATCH_EVERY_MS = 100

describe('a cut-off peer holding a tab\'s node lease', () => {
  let mesh: TestMesh
  let tab: MeshNode

  before(async () => {
    mesh = await startMesh(2, MESH)
    await waitForVoters(mesh, 3)
    const boot = mesh.relay.libp2p.getMultiaddrs().map(x => x.toString()).filter(x => x.includes('/ws/'))
    // a learner, as a tab is: cutting it off leaves the voters their quorum
    tab = await createNode({ mesh: MESH, bootstrap: boot, raft: { voter: false }, nodeLease: TAB_LEASE })
    await waitFor(() => tab.agents.lease.valid() && mesh.all().every(x => x.network.member(tab.peerId)?.status === 'alive'), 30_000, 'the tab to hold a lease and be seen alive')
  })
  after(async () => {
    await tab?.stop()
    await mesh?.stop()
  })

  it('keeps its agents until the store has expired its lease, then they are re-placed with their state', async () => {
    assert.equal(tab.agents.lease.ttl, agentConstants.NODE_LEASE_TAB_TTL_MS, 'the peer runs on a tab\'s lease timing')
    await mesh.relay.agents.deployAgent('t1', { kind: 'counter', node: tab.peerId })
    assert.deepEqual(await mesh.relay.broker.request('t1', { op: 'inc' }), { value: 1 })
    const lease = tab.agents.lease.id
    assert.ok(lease > 0)

    let verdictAt: number | undefined
    const onFailed = (evt: CustomEvent<{ peerId: string }>): void => { if (evt.detail.peerId === tab.peerId) verdictAt ??= performance.now() }
    for (const x of mesh.all()) x.network.addEventListener('node:failed', onFailed)
    try {
      await tab.libp2p.stop()
      const cutAt = performance.now()
      /** polls where the mesh had declared the tab failed and its lease was still in the store */
      let failedWithLease = 0
      let movedTo: string | undefined
      let tabValidAtMove = true
      for (;;) {
        // placement first, then the lease: a lease never comes back, so one still there now was there at the move
        const p = await mesh.relay.agents.read('t1', { signal: AbortSignal.timeout(10_000) })
        const ttl = await mesh.relay.consensus.kv.timeToLive(lease, { signal: AbortSignal.timeout(10_000) })
        assert.ok(p != null, 't1 is placed')
        if (p.node !== tab.peerId) {
          assert.equal(ttl, undefined, `t1 was re-placed (on ${p.node.slice(-6)}, epoch ${p.epoch}) while the tab's lease ${lease} was still in the store, ${ttl?.remainingMs} ms left`)
          movedTo = p.node
          tabValidAtMove = tab.agents.lease.valid()
          break
        }
        if (verdictAt !== undefined && ttl !== undefined) failedWithLease++
        assert.ok(performance.now() - cutAt < 60_000, `t1 not re-placed within 60 s of the cut (lease ${ttl === undefined ? 'expired' : `${ttl.remainingMs} ms left`}, verdict ${verdictAt === undefined ? 'none' : 'given'})`)
        await new Promise(resolve => setTimeout(resolve, WATCH_EVERY_MS))
      }
      assert.ok(failedWithLease > 0, 'the mesh declared the tab failed while its lease was still in the store (else the wait was not tested)')
      assert.equal(tabValidAtMove, false, 'the cut-off tab no longer counted its lease valid when its agent moved')
      assert.notEqual(movedTo, tab.peerId)
      assert.deepEqual(await mesh.relay.broker.request('t1', { op: 'get' }, { timeoutMs: 15_000 }), { value: 1 }, 'the new owner serves the acknowledged state')
    } finally {
      for (const x of mesh.all()) x.network.removeEventListener('node:failed', onFailed)
    }
  })
})
