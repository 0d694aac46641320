/**
 * Every POST/PUT route of the admin API fed random JSON, random bytes and oversized bodies: each
 * answer is a JSON error with a 4xx status (or a success for a body that happens to be valid);
 * never a 500 (an untyped error), and the server keeps serving. AGENTMESH_HTTP_FUZZ_RUNS requests
 * per route (default 2,000: each is a real HTTP round trip through a real peer).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNode, type MeshNode } from '../../src/node.ts'
import { createAdminServer, MAX_JSON_BODY_BYTES } from '../../src/http/index.ts'
import { adminRoutes } from '../../src/admin/index.ts'

const RUNS = Number(process.env.AGENTMESH_HTTP_FUZZ_RUNS ?? 2000)
const seed = process.env.AGENTMESH_FUZZ_SEED != null ? Number(process.env.AGENTMESH_FUZZ_SEED) : undefined
const params = { numRuns: RUNS, ...(seed != null ? { seed } : {}) }
const SECRET = 'fuzz-secret-0123456789'

const ROUTES: Array<{ method: string, path: string, auth?: boolean }> = [
  { method: 'POST', path: '/agents' },
  { method: 'POST', path: '/agents/fz/migrate' },
  { method: 'POST', path: '/agents/fz/messages' },
  { method: 'PUT', path: '/kv/fuzz/key' },
  { method: 'PUT', path: '/docs/fuzz/key' },
  { method: 'POST', path: '/topics/fuzz' },
  { method: 'POST', path: '/credentials', auth: true }
]

/** bodies: JSON (valid or not), shapes close to the real ones, random bytes, and now and then an oversized one */
const bodyArb: fc.Arbitrary<Uint8Array | string> = fc.oneof(
  { weight: 4, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 3, arbitrary: fc.record({ id: fc.string(), kind: fc.constantFrom('counter', 'echo', 'nope'), node: fc.string(), message: fc.jsonValue({ maxDepth: 2 }), value: fc.jsonValue({ maxDepth: 2 }), timeoutMs: fc.integer({ min: -5, max: 50 }), peerId: fc.string(), ttlMs: fc.integer() }, { requiredKeys: [] }).map(x => JSON.stringify(x)) },
  { weight: 2, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(MAX_JSON_BODY_BYTES + 10), `{"value":"${'y'.repeat(MAX_JSON_BODY_BYTES)}"}`) }
)

describe('admin API bodies under fuzz', { timeout: 30 * 60_000 }, () => {
  let node: MeshNode
  let server: ReturnType<typeof createAdminServer>
  let base: string
  let requests = 0
  const statuses = new Map<number, number>()

  before(async () => {
    node = await createNode({ mesh: 'httpfuzz' })
    const admin = await generateKeyPair('Ed25519')
    server = createAdminServer(adminRoutes(node, { credentialIssuer: { adminKey: admin, secret: SECRET } }))
    base = await server.listen({ host: '127.0.0.1', port: 0 })
  })

  after(async () => {
    // eslint-disable-next-line no-console
    console.log(`http fuzz: ${requests} requests; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`)
    await server?.close()
    await node?.stop()
  })

  for (const r of ROUTES) {
    it(`${r.method} ${r.path}: ${RUNS} random bodies answer 4xx JSON (or success), never 500`, async () => {
      await fc.assert(fc.asyncProperty(bodyArb, fc.boolean(), async (body, json) => {
        requests++
        const res = await fetch(base + r.path, {
          method: r.method,
          body: body as BodyInit,
          headers: { ...(json ? { 'content-type': 'application/json' } : {}), ...(r.auth === true ? { authorization: `Bearer ${SECRET}` } : {}) },
          signal: AbortSignal.timeout(10_000)
        })
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        const text = await res.text()
        assert.notEqual(res.status, 500, `500 for ${String(body).slice(0, 80)}: ${text.slice(0, 200)}`)
        if (res.status >= 400) {
          const parsed = JSON.parse(text) as { error?: { name?: unknown, message?: unknown } }
          assert.equal(typeof parsed.error?.name, 'string', text.slice(0, 200))
          assert.ok(res.status < 500 || [503, 504].includes(res.status), `status ${res.status}: ${text.slice(0, 200)}`)
        }
        return true
      }), params)
      const health = await fetch(base + '/health', { signal: AbortSignal.timeout(5000) })
      assert.ok([200, 503].includes(health.status), 'still serving')
      await health.text()
    })
  }
})
