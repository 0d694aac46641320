import { createNode, type MeshNode } from '../../src/node.ts'
import { assert, loadFixture, openPeerTab, waitFor } from './helpers.ts'

/** an agent on a tab: deployed there, its state survives the tab being closed (it moves to a Node peer) */
describe('agents on tabs', function () {
  this.timeout(120_000)
  let node: MeshNode
  let other: Window & { mesh?: MeshNode, meshError?: string }
  let otherId: string
  let nodePeerIds: string[]

  before(async () => {
    const fixture = await loadFixture()
    nodePeerIds = [fixture.relayPeerId, ...fixture.nodePeerIds]
    node = await createNode({ mesh: fixture.mesh, bootstrap: [fixture.relay] })
    other = await openPeerTab(`relay=${encodeURIComponent(fixture.relay)}&mesh=${fixture.mesh}`)
    await waitFor(() => other.mesh != null || other.meshError != null, 20_000, 'the second tab to start its node')
    assert(other.meshError == null, `second tab failed: ${other.meshError}`)
    otherId = other.mesh!.peerId
  })

  after(async () => {
    other?.close()
    await node?.stop()
  })

  /** the tab takes agents once it holds a node lease (a Raft learner by then): deploy, then move it there */
  async function counterOnOtherTab (id: string): Promise<void> {
    await waitFor(async () => {
      try { await node.agents.deployAgent(id, { kind: 'counter', node: otherId }); return true } catch { return false }
    }, 30_000, 'the mesh to accept the deployment')
    await waitFor(async () => {
      try { return (await node.agents.migrateAgent(id, otherId)).node === otherId } catch { return false }
    }, 40_000, `${id} to run on the other tab`)
    assert(other.mesh!.agents.host.has(id), `the other tab runs ${id}`)
  }

  /** what the browser does when the user switches away from a tab (headless tabs never lose visibility on their own) */
  function setVisibility (win: Window, state: 'hidden' | 'visible'): void {
    Object.defineProperty(win.document, 'visibilityState', { configurable: true, get: () => state })
    win.document.dispatchEvent(new Event('visibilitychange'))
  }

  it('a tab that goes hidden (Page Visibility) hands its agents to Node peers, state and all', async () => {
    await counterOnOtherTab('tab-hidden')
    for (let i = 0; i < 3; i++) await node.broker.request('tab-hidden', { op: 'inc' }, { timeoutMs: 10_000 })
    setVisibility(other, 'hidden')
    try {
      let placed = await node.agents.getAgent('tab-hidden')
      await waitFor(async () => {
        placed = await node.agents.getAgent('tab-hidden')
        return nodePeerIds.includes(placed.node) && !other.mesh!.agents.host.has('tab-hidden')
      }, 30_000, 'the hidden tab to hand tab-hidden to a Node peer')
      const got = await node.broker.request('tab-hidden', { op: 'get' }, { timeoutMs: 10_000 }) as { value: number }
      assert(got.value === 3, `state moved along: ${got.value}`)
      await waitFor(() => node.network.member(otherId)?.record.hidden === true, 10_000, 'the mesh to see the tab as hidden')
    } finally {
      setVisibility(other, 'visible')
    }
  })

  it('a counter on a tab keeps every acknowledged increment when the tab is closed', async () => {
    await counterOnOtherTab('tab-counter')

    let value = 0
    for (let i = 0; i < 5; i++) value = (await node.broker.request('tab-counter', { op: 'inc' }, { timeoutMs: 10_000 }) as { value: number }).value
    assert(value === 5, `five increments acknowledged, got ${value}`)

    other.close() // no stop(): the tab just goes away
    let placed = await node.agents.getAgent('tab-counter')
    await waitFor(async () => {
      placed = await node.agents.getAgent('tab-counter')
      return placed.node !== otherId
    }, 30_000, 'the counter to be re-placed')
    assert(nodePeerIds.includes(placed.node) || placed.node === node.peerId, `re-placed on a peer of the mesh: ${placed.node}`)
    const after = await node.broker.request('tab-counter', { op: 'get' }, { timeoutMs: 20_000 }) as { value: number }
    assert(after.value === 5, `the state survived the tab: ${after.value}`)
  })
})
