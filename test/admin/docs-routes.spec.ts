/**
 * The shared-document routes: a GET reads the copy this peer holds and creates nothing (no doc
 * opened, none persisted, no replica recruited); a PUT opens the doc and writes it.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createNode, type MeshNode } from '../../src/node.ts'
import { createAdminServer } from '../../src/http/index.ts'
import { adminRoutes } from '../../src/admin/index.ts'

describe('admin /docs routes', () => {
  let node: MeshNode
  let server: ReturnType<typeof createAdminServer>
  let base: string

  before(async () => {
    node = await createNode({ mesh: 'admin-docs' })
    server = createAdminServer(adminRoutes(node))
    base = await server.listen({ host: '127.0.0.1', port: 0 })
  })
  after(async () => {
    await server?.close()
    await node?.stop()
  })

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number, json: any }> => {
    const res = await fetch(base + path, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) })
    return { status: res.status, json: await res.json() }
  }

  it('GET of a document this peer does not hold is a 404 and leaves no document behind', async () => {
    const before = node.docs.docIds()
    const r = await call('GET', '/docs/never-written')
    assert.equal(r.status, 404)
    assert.equal(r.json.error.name, 'NotFoundError')
    assert.match(r.json.error.message, /not held on this peer/)
    assert.deepEqual(node.docs.docIds(), before, 'the GET opened no document')
    assert.equal((await call('GET', '/docs/never-written')).status, 404, 'still unknown after a second GET')
  })

  it('a PUT opens the document; GETs then read it', async () => {
    assert.equal((await call('PUT', '/docs/notes/a', { value: { n: 1 } })).status, 200)
    assert.ok(node.docs.docIds().includes('notes'))
    assert.deepEqual((await call('GET', '/docs/notes')).json, { a: { n: 1 } })
    assert.equal((await call('PUT', '/docs/notes/b', { value: 'two' })).status, 200)
    assert.deepEqual((await call('GET', '/docs/notes')).json, { a: { n: 1 }, b: 'two' })
  })

  it('refuses ids outside the shared-document alphabet (no agent state doc is reachable)', async () => {
    const r = await call('GET', '/docs/agent%2Fc1')
    assert.equal(r.status, 400)
    assert.equal(r.json.error.name, 'InvalidArgumentError')
  })
})
