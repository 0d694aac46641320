/**
 * Replies for retries: a request sent with a message id is handled once; the reply is recorded in
 * the agent's replicated state doc, so a retry with the same id after the agent moved (its old
 * owner's memory left behind) gets the first reply instead of a second application.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startMesh, type TestMesh } from './mesh-helpers.ts'
import { waitFor } from './helpers.ts'
import { builtinKinds } from '../../src/agents/index.ts'
import type { MeshNode } from '../../src/node.ts'

describe('replies for retried message ids', () => {
  let mesh: TestMesh
  let a: MeshNode

  before(async () => {
    mesh = await startMesh(1, 'agents-replies', { agents: [...builtinKinds] })
    a = mesh.nodes[0]
    await waitFor(() => (mesh.relay.network.member(a.peerId)?.record.ext.kinds as string[] | undefined)?.includes('counter') === true, 15_000, 'a to advertise its kinds')
  })
  after(async () => { await mesh?.stop() })

  it('a retry with the same id gets the first reply, from the same owner and from the next one', async () => {
    await mesh.relay.agents.deployAgent('rc', { kind: 'counter', node: a.peerId })
    assert.deepEqual(await mesh.relay.agents.call('rc', { op: 'inc' }, { messageId: 'req-1' }), { value: 1 })
    assert.deepEqual(await a.agents.call('rc', { op: 'inc' }, { messageId: 'req-1' }), { value: 1 }, 'the same owner answers from memory')
    assert.deepEqual(await mesh.relay.agents.call('rc', { op: 'inc' }, { messageId: 'req-2' }), { value: 2 })
    assert.deepEqual(await mesh.relay.agents.call('rc', { op: 'inc' }), { value: 3 }, 'no id: handled as a new message')

    await mesh.relay.agents.migrateAgent('rc', mesh.relay.peerId)
    assert.ok(mesh.relay.agents.host.has('rc'))
    assert.deepEqual(await a.agents.call('rc', { op: 'inc' }, { messageId: 'req-1' }), { value: 1 }, 'the new owner answers from the replicated records')
    assert.deepEqual(await a.agents.call('rc', { op: 'inc' }, { messageId: 'req-2' }), { value: 2 })
    assert.deepEqual(await a.agents.call('rc', { op: 'get' }), { value: 3 }, 'nothing applied twice')
    assert.deepEqual(await mesh.relay.agents.agentState('rc'), { value: 3 }, 'the records are not part of the agent\'s state')
    await assert.rejects(a.agents.call('rc', { op: 'inc' }, { messageId: 'local-7' }), { name: 'InvalidMessageError' })
  })
})
