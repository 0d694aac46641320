// docs/API.md section 1 with real peers, through the package entry: createNode({ agents }),
// deployAgent, broker.request wherever the agent lives, migrateAgent.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createNode, defineAgent, echo } from 'agentmesh'
import type { MeshNode } from 'agentmesh'

export const counter = defineAgent({
  kind: 'counter',
  requirements: { cpu: 0.1, memoryMb: 16 },
  async onMessage (msg, ctx) {           // ctx.state is the agent's replicated Y.Doc-backed map
    if (msg.op === 'inc') ctx.state.set('value', (ctx.state.get('value') ?? 0) + (msg.by ?? 1))
    return { value: ctx.state.get('value') ?? 0 }
  }
})

describe('docs/API.md library example over real peers', () => {
  let relay: MeshNode
  let node: MeshNode

  before(async () => {
    relay = await createNode({ mesh: 'api-example', role: 'relay', agents: [counter, echo] })
    const bootstrap = relay.libp2p.getMultiaddrs().map(a => a.toString()).filter(a => a.includes('/ws/'))
    node = await createNode({
      mesh: 'api-example',
      bootstrap,
      storage: 'memory',
      capabilities: { cpu: 2, memoryMb: 1024, tags: ['llm'] },
      agents: [counter, echo],
      raft: { voter: true }
    })
  })
  after(async () => { await Promise.all([node?.stop(), relay?.stop()]) })

  it('deploys c1, counts through the broker, and migrates it to the other peer', async () => {
    let deployed: { id: string, kind: string, node: string, epoch: number } | undefined
    const deadline = Date.now() + 30_000
    while (deployed == null) {
      try {
        deployed = await node.agents.deployAgent('c1', { kind: 'counter' })
      } catch (err) {
        // until the Raft group has formed and a peer holds a node lease
        if (Date.now() > deadline || !['NoQuorumError', 'NotStartedError', 'CapacityError', 'TimeoutError'].includes((err as Error).name)) throw err
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    }
    assert.deepEqual(Object.keys(deployed).sort(), ['epoch', 'id', 'kind', 'node'])
    assert.equal(deployed.kind, 'counter')
    assert.deepEqual(await node.broker.request('c1', { op: 'inc' }), { value: 1 })
    const otherPeerId = deployed.node === node.peerId ? relay.peerId : node.peerId
    // the other peer takes agents once it holds a node lease (advertised in its record)
    let moved: { node: string } | undefined
    while (moved == null) {
      try {
        moved = await node.agents.migrateAgent('c1', otherPeerId)
      } catch (err) {
        if (Date.now() > deadline || (err as Error).name !== 'CapacityError') throw err
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    }
    assert.equal(moved.node, otherPeerId)
    assert.deepEqual(await relay.broker.request('c1', { op: 'inc', by: 41 }), { value: 42 })
  })
})
