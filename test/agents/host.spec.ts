import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AgentHost, LocalAgentMesh, MemoryAgentState, counter, createLlmClient, defineAgent, echo } from '../../src/agents/index.ts'
import type { AgentServices, HostedAgent } from '../../src/agents/index.ts'

const llm = createLlmClient({ baseUrl: 'http://127.0.0.1:9/v1', env: {} })
const noServices: AgentServices = {
  send: async () => {},
  request: async () => null,
  publish: async () => {},
  deploy: async () => { throw new Error('not here') }
}
const broken = defineAgent({ kind: 'broken', requirements: { cpu: 1, memoryMb: 1 }, onStart: () => { throw new Error('bad start') }, onMessage: () => null })

function host (capacity = { cpu: 0.15, memoryMb: 100, maxAgents: 10 }): AgentHost {
  return new AgentHost({ nodeId: 'p1', kinds: [counter, echo, broken], capacity, components: { services: noServices, llm } })
}

describe('AgentHost', () => {
  it('reserves resources per activation, refuses what does not fit, frees on deactivation', async () => {
    const h = host()
    const events: HostedAgent[] = []
    h.addEventListener('agent:activated', (e) => events.push(e.detail))
    await h.activate({ agentId: 'c1', kind: 'counter', state: new MemoryAgentState(), epoch: 3 })
    await h.activate({ agentId: 'c2', kind: 'counter', state: new MemoryAgentState() })
    await h.activate({ agentId: 'e1', kind: 'echo', state: new MemoryAgentState() })
    assert.deepEqual(h.load(), { cpu: 0.15, memoryMb: 24, agents: 3 })
    await assert.rejects(h.activate({ agentId: 'c3', kind: 'counter', state: new MemoryAgentState() }), { name: 'CapacityError', message: /cpu: needs 0.05, free 0 of 0.15/ })
    assert.equal(h.has('c3'), false)
    assert.deepEqual(events.map(e => [e.id, e.epoch, e.status]), [['c1', 3, 'active'], ['c2', 0, 'active'], ['e1', 0, 'active']])
    await h.deactivate('e1')
    await h.activate({ agentId: 'c3', kind: 'counter', state: new MemoryAgentState() })
    assert.deepEqual(h.list().map(a => a.id), ['c1', 'c2', 'c3'])
    assert.deepEqual(h.recordExt(), { kinds: ['broken', 'counter', 'echo'], maxAgents: 10 })
    await h.stop()
    assert.deepEqual(h.load(), { cpu: 0, memoryMb: 0, agents: 0 })
  })

  it('routes only to agents it holds, under their epoch', async () => {
    const h = host()
    await h.activate({ agentId: 'c1', kind: 'counter', state: new MemoryAgentState(), epoch: 2 })
    assert.deepEqual(await h.deliver('c1', { op: 'inc' }, { epoch: 2 }), { value: 1 })
    await assert.rejects(h.deliver('c1', { op: 'inc' }, { epoch: 1 }), { name: 'StaleEpochError' })
    await assert.rejects(h.deliver('elsewhere', { op: 'inc' }), { name: 'NotOwnerError' })
    await h.stop()
  })

  it('refuses unknown kinds and duplicates; a failed start frees its reservation', async () => {
    const h = host({ cpu: 4, memoryMb: 100, maxAgents: 10 })
    await assert.rejects(h.activate({ agentId: 'x', kind: 'nope', state: new MemoryAgentState() }), { name: 'NotFoundError' })
    await h.activate({ agentId: 'c1', kind: 'counter', state: new MemoryAgentState() })
    await assert.rejects(h.activate({ agentId: 'c1', kind: 'counter', state: new MemoryAgentState() }), { name: 'ConflictError' })
    const failures: string[] = []
    h.addEventListener('agent:failed', (e) => failures.push(e.detail.error.message))
    await assert.rejects(h.activate({ agentId: 'b1', kind: 'broken', state: new MemoryAgentState() }), { message: 'bad start' })
    assert.deepEqual(failures, ['bad start'])
    assert.equal(h.has('b1'), false)
    assert.deepEqual(h.load(), { cpu: 0.05, memoryMb: 8, agents: 1 })
    await h.stop()
  })
})

describe('LocalAgentMesh placement', () => {
  it('places by the scorer over its hosts, and says why when nothing fits', async () => {
    const mesh = new LocalAgentMesh({ kinds: [counter], llm, nodes: ['a', 'b'], capacity: { cpu: 0.1, memoryMb: 100, maxAgents: 10 } })
    try {
      const placed = []
      for (const id of ['c1', 'c2', 'c3', 'c4']) placed.push((await mesh.deployAgent(id, { kind: 'counter' })).node)
      assert.deepEqual(placed.sort(), ['a', 'a', 'b', 'b'], 'the emptier node first')
      await assert.rejects(mesh.deployAgent('c5', { kind: 'counter' }), { name: 'CapacityError', message: /a: cpu: needs 0.05, free 0 of 0.1.*b: cpu/ })
      await mesh.crash('c1')
      const back = await mesh.reactivate('c1')
      assert.deepEqual([back.node, back.epoch], [mesh.placement('c1').node, 1])
      assert.equal(mesh.placement('c1').active, true)
    } finally { await mesh.stop() }
  })
})
