/**
 * `POST /agents/:id/send` on a peer whose wall clock is the mesh's outlier: nothing is accepted
 * (503 ClockSkewError; the client sends through another peer), since the others refuse its
 * stamps and an accepted message would wait until its clock is set right and real time caught up.
 * The verdict is the network's (NetworkManager.clockSkewStatus); here it is set by hand.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createNode, type MeshNode } from '../../src/node.ts'
import { createAdminServer } from '../../src/http/index.ts'
import { adminRoutes } from '../../src/admin/index.ts'

describe('admin POST /agents/:id/send', () => {
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
  })
  after(async () => {
    await server?.close()
    await node?.stop()
  })

  const send = async (key: string): Promise<{ status: number, json: any }> => {
    const res = await fetch(`${base}/agents/inbox/send`, { method: 'POST', body: JSON.stringify({ message: { op: 'record', key } }), headers: { 'content-type': 'application/json' } })
    return { status: res.status, json: await res.json() }
  }

  it('is refused with 503 while this peer is the clock outlier, and accepted (202) again after', async () => {
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
})
