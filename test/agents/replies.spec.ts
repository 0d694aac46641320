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
import type { ReceivedMessage } from '../../src/messaging/broker-types.ts'
import { REPLY_RECORDS_MAX } from '../../src/agents/constants.ts'

type Handler = (m: ReceivedMessage) => Promise<void>
/** the handler a peer's broker gives direct messages to (the agents' routing) */
const handlerOf = (n: MeshNode): { messageHandler: Handler } => (n.broker as unknown as { inbound: { messageHandler: Handler } }).inbound

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

  it('a durable send redelivered to the next owner after many more turns is not applied again', async () => {
    await mesh.relay.agents.deployAgent('rd', { kind: 'counter', node: a.peerId })
    // what reaches the owner, envelope and all, so the test can deliver it again as the outbox would
    const seen: ReceivedMessage[] = []
    const inbound = handlerOf(a)
    const original = inbound.messageHandler
    inbound.messageHandler = async (m) => { if (m.target?.id === 'rd') seen.push(m); await original(m) }
    try {
      const sent = await mesh.relay.broker.send('rd', { op: 'inc' })
      assert.equal((await mesh.relay.broker.ensureDelivery(sent.id)).state, 'delivered')
    } finally {
      inbound.messageHandler = original
    }
    const first = seen.find(m => m.seq >= 1)
    assert.ok(first != null, 'the durable send reached the owner')
    // more turns than reply records are kept, each with its own id
    const turns = REPLY_RECORDS_MAX + 40
    for (let i = 0; i < turns; i++) await mesh.relay.agents.call('rd', { op: 'inc' }, { messageId: `rd-${i}` })
    assert.deepEqual(await a.agents.call('rd', { op: 'get' }), { value: turns + 1 })

    await mesh.relay.agents.migrateAgent('rd', mesh.relay.peerId)
    // the sender's outbox trying the same envelope again (its ack lost), now at the next owner
    await handlerOf(mesh.relay).messageHandler(first)
    assert.deepEqual(await a.agents.call('rd', { op: 'get' }), { value: turns + 1 }, 'the redelivery is answered, not applied')
    // the id records of the oldest requests are gone by now: such a retry would run again
    assert.deepEqual(await a.agents.call('rd', { op: 'inc' }, { messageId: `rd-${turns - 1}` }), { value: turns + 1 }, 'a recent id is still answered from its record')

    // the sender's next message on the same channel is new, and applied
    const next = await mesh.relay.broker.send('rd', { op: 'inc' })
    assert.equal((await mesh.relay.broker.ensureDelivery(next.id)).state, 'delivered')
    assert.deepEqual(await a.agents.call('rd', { op: 'get' }), { value: turns + 2 })
  })
})
