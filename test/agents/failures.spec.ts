/**
 * A poison message over real peers: its handler throws every time, so after 3 tries (with backoff)
 * the owner's mailbox quarantines it; the caller gets PoisonMessageError, the agent keeps serving,
 * and the failure shows in the owner's monitoring (metric, alert, event) and in the agent's details
 * (what GET /agents/:id answers), asked from another peer.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startMesh, type TestMesh } from './mesh-helpers.ts'
import { metricValue, waitFor } from './helpers.ts'
import { builtinKinds, defineAgent, QUARANTINE_ALERT } from '../../src/agents/index.ts'
import type { QuarantineNotice } from '../../src/agents/index.ts'
import { agentsRoutes } from '../../src/admin/agents-routes.ts'
import type { MeshNode } from '../../src/node.ts'

const picky = defineAgent({
  kind: 'picky',
  requirements: { cpu: 0.1, memoryMb: 8 },
  onMessage (msg, ctx) {
    if (msg.op === 'poison') throw new Error('cannot digest this')
    ctx.state.set('served', (ctx.state.get('served') ?? 0) + 1)
    return { served: ctx.state.get('served') }
  }
})

describe('a poison message is quarantined and the failure is visible', () => {
  let mesh: TestMesh
  let a: MeshNode

  before(async () => {
    mesh = await startMesh(1, 'agents-failures', { agents: [...builtinKinds, picky] })
    a = mesh.nodes[0]
    await waitFor(() => (mesh.relay.network.member(a.peerId)?.record.ext.kinds as string[] | undefined)?.includes('picky') === true, 15_000, 'a to advertise its kinds')
  })
  after(async () => { await mesh?.stop() })

  it('the caller gets PoisonMessageError, the agent serves the next message, monitoring and GET /agents/:id show it', async () => {
    await mesh.relay.agents.deployAgent('p1', { kind: 'picky', node: a.peerId })
    assert.deepEqual(await mesh.relay.broker.request('p1', { op: 'eat' }), { served: 1 })
    const notices: QuarantineNotice[] = []
    a.agents.addEventListener('agent:message-quarantined', (e) => { notices.push(e.detail) })

    const poison = mesh.relay.broker.request('p1', { op: 'poison' }, { timeoutMs: 20_000 })
    const next = mesh.relay.broker.request('p1', { op: 'eat' }, { timeoutMs: 20_000 })
    await assert.rejects(poison, (err: Error) => err.name === 'PoisonMessageError' && /failed 3 times.*cannot digest this/.test(err.message))
    assert.deepEqual(await next, { served: 2 }, 'the message behind the poison one was served')
    assert.deepEqual(await mesh.relay.broker.request('p1', { op: 'eat' }), { served: 3 }, 'and the agent goes on serving')

    // the owner's monitoring: the quarantine counter, the restarts, an alert and an event
    assert.equal(await metricValue(a.monitoring, 'agentmesh_agent_messages_quarantined_total', { kind: 'picky' }), 1)
    assert.equal(await metricValue(a.monitoring, 'agentmesh_agent_turns_total', { kind: 'picky', outcome: 'error' }), 3)
    const alert = a.monitoring.activeAlerts().find(x => x.name === QUARANTINE_ALERT)
    assert.ok(alert != null, 'a quarantine alert is active on the owner')
    assert.equal(alert.labels.agent, 'p1')
    assert.match(alert.message, /cannot digest this/)
    assert.equal(notices.length, 1)
    assert.equal(notices[0].id, 'p1')
    assert.equal(notices[0].tries, 3)

    // the details, asked from another peer: the placement and the owner's live view
    const details = await mesh.relay.agents.inspectAgent('p1')
    assert.equal(details.node, a.peerId)
    assert.equal(details.status, 'active')
    assert.ok(details.live != null, 'the owner answered')
    assert.equal(details.live.activation, 'active')
    assert.equal(details.live.quarantinedCount, 1)
    assert.equal(details.live.restarts, 3, 'three backoffs: one after each failed try')
    assert.deepEqual(details.live.quarantined.map(q => [q.tries, q.error.message]), [[3, 'cannot digest this']])

    // GET /agents/:id answers the same
    const get = agentsRoutes(mesh.relay).find(r => r.method === 'GET' && r.path === '/agents/:id')
    assert.ok(get != null)
    const res = await get.handler({ params: { id: 'p1' }, signal: AbortSignal.timeout(5_000) } as never) as { json: typeof details }
    assert.equal(res.json.live?.quarantinedCount, 1)
    await assert.rejects(mesh.relay.agents.inspectAgent('nope'), { name: 'NotFoundError' })
  })
})
