// The agent example of docs/API.md, verbatim, must compile and behave as the page says.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LocalAgentMesh, createLlmClient, defineAgent } from '../../src/agents/index.ts'

export const counter = defineAgent({
  kind: 'counter',
  requirements: { cpu: 0.1, memoryMb: 16 },
  async onMessage (msg, ctx) {           // ctx.state is the agent's replicated Y.Doc-backed map
    if (msg.op === 'inc') ctx.state.set('value', (ctx.state.get('value') ?? 0) + (msg.by ?? 1))
    return { value: ctx.state.get('value') ?? 0 }
  }
})

describe('docs/API.md agent example', () => {
  it('compiles and counts', async () => {
    const mesh = new LocalAgentMesh({ kinds: [counter], llm: createLlmClient({ env: {} }) })
    try {
      assert.deepEqual(await mesh.deployAgent('c1', { kind: 'counter' }), { id: 'c1', kind: 'counter', node: 'local', epoch: 0 })
      assert.deepEqual(await mesh.call('c1', { op: 'inc' }), { value: 1 })
      assert.deepEqual(await mesh.call('c1', { op: 'inc', by: 41 }), { value: 42 })
    } finally { await mesh.stop() }
  })
})
