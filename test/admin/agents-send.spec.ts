/**
 * The admin API on a peer whose wall clock is the mesh's outlier refuses what it could not carry
 * out, with 503 ClockSkewError (the client goes through another peer), since the others refuse
 * its stamps: `POST /agents/:id/send` accepts nothing (an accepted message would wait until its
 * clock is set right and real time caught up), and `POST /agents` deploys nothing (the deploy's
 * requests would be refused). The network's verdict (NetworkManager.clockSkewStatus, and the
 * `network:clock-skew` / `network:clock-synced` events the agent layer acts on) is set by hand.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createNode, type MeshNode } from '../../src/node.ts'
import { createAdminServer } from '../../src/http/index.ts'
import { adminRoutes } from '../../src/admin/index.ts'
import type { ClockSkewStatus } from '../../src/network/index.ts'
import { waitFor } from '../network/harness.ts'

describe('admin API on a clock-outlier peer', () => {
  let node: MeshNode
  let server: ReturnType<typeof createAdminServer>
  let base: string
  let outlier = false

  before(async () => {
    node = await createNode({ mesh: 'admin-send' })
    const real = node.network.clockSkewStatus.bind(node.network)
    node.network.clockSkewStatus = () => outlier ? { outlier: true, offsetMs: 90_000, peers: 2, farPeers: 2 } : real()
    server = createAdminServer(adminRoutes(node))
    base = await server.listen({ host: '127.0.0.1', port: 0 })
    // this peer holds its node lease (it advertises its kinds): a deploy here can succeed
    await waitFor(() => (node.network.localRecord().ext.kinds as string[] | undefined)?.includes('echo') === true, 30_000, 'the peer to hold its node lease')
  })
  after(async () => {
    await server?.close()
    await node?.stop()
  })

  const post = async (path: string, body: unknown): Promise<{ status: number, json: any }> => {
    const res = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
    return { status: res.status, json: await res.json() }
  }

  const send = async (key: string): Promise<{ status: number, json: any }> => await post('/agents/inbox/send', { message: { op: 'record', key } })

  it('POST /agents/:id/send is refused with 503 while this peer is the clock outlier, and accepted (202) again after', async () => {
    outlier = true
    const refused = await send('k1')
    assert.equal(refused.status, 503)
    assert.equal(refused.json.error.name, 'ClockSkewError')
    assert.match(refused.json.error.message, /clock is the mesh's outlier/)
    outlier = false
    const accepted = await send('k2')
    assert.equal(accepted.status, 202)
    assert.equal(typeof accepted.json.id, 'string')
    assert.equal(accepted.json.seq, 1, 'the refused send took no sequence number')
  })

  it('POST /agents is refused with 503 ClockSkewError while this peer is the clock outlier, and deploys (201) again after', async () => {
    const skew: ClockSkewStatus = { outlier: true, offsetMs: 90_000, peers: 2, farPeers: 2 }
    node.network.safeDispatchEvent('network:clock-skew', { detail: skew })
    const refused = await post('/agents', { id: 'skew-deploy', kind: 'echo' })
    assert.equal(refused.status, 503)
    assert.equal(refused.json.error.name, 'ClockSkewError')
    assert.match(refused.json.error.message, /deploy through another peer/)
    await assert.rejects(node.agents.deployAgent('skew-deploy', { kind: 'echo' }), { name: 'ClockSkewError' })
    await assert.rejects(node.agents.getAgent('skew-deploy'), { name: 'NotFoundError' }, 'nothing was placed')

    node.network.safeDispatchEvent('network:clock-synced', { detail: { ...skew, outlier: false, offsetMs: 0, farPeers: 0 } })
    await waitFor(() => (node.network.localRecord().ext.kinds as string[] | undefined)?.includes('echo') === true, 15_000, 'the peer to advertise its kinds again')
    const deployed = await post('/agents', { id: 'skew-deploy', kind: 'echo' })
    assert.equal(deployed.status, 201, JSON.stringify(deployed.json))
    assert.equal(deployed.json.node, node.peerId)
  })
})
