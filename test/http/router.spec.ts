import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Router, route, v } from '../../src/http/index.ts'
import type { Infer } from '../../src/http/index.ts'
import { InvalidArgumentError, InvalidMessageError } from '../../src/errors.ts'

const ok = (): { json: unknown } => ({ json: 1 })

describe('Router', () => {
  const router = new Router([
    route('GET', '/agents', ok),
    route('POST', '/agents', ok),
    route('GET', '/agents/:id', ok),
    route('POST', '/agents/:id/migrate', ok),
    route('GET', '/agents/stats', ok),
    route('GET', '/kv/*key', ok),
    route('PUT', '/kv/*key', ok),
    route('GET', '/', ok)
  ])

  function found (method: string, path: string): { path: string, params: Record<string, string> } {
    const m = router.match(method, path)
    assert.equal(m.kind, 'found', `${method} ${path}`)
    if (m.kind !== 'found') throw new Error('unreachable')
    return { path: m.route.path, params: m.params }
  }

  it('matches static paths, params and trailing slashes', () => {
    assert.deepEqual(found('GET', '/agents'), { path: '/agents', params: {} })
    assert.deepEqual(found('GET', '/agents/'), { path: '/agents', params: {} })
    assert.deepEqual(found('GET', '/'), { path: '/', params: {} })
    assert.deepEqual(found('POST', '/agents/c1/migrate'), { path: '/agents/:id/migrate', params: { id: 'c1' } })
  })

  it('prefers static segments over params regardless of registration order', () => {
    assert.deepEqual(found('GET', '/agents/stats'), { path: '/agents/stats', params: {} })
    assert.deepEqual(found('GET', '/agents/stat'), { path: '/agents/:id', params: { id: 'stat' } })
  })

  it('decodes percent-encoded segments; *rest takes the remaining path', () => {
    assert.deepEqual(found('GET', '/agents/a%20b%2Fc'), { path: '/agents/:id', params: { id: 'a b/c' } })
    assert.deepEqual(found('GET', '/kv/config/x'), { path: '/kv/*key', params: { key: 'config/x' } })
    assert.deepEqual(found('PUT', '/kv/config%2Fx'), { path: '/kv/*key', params: { key: 'config/x' } })
    assert.throws(() => router.match('GET', '/agents/%E0%A4%A'), InvalidMessageError)
  })

  it('tells not-found from method-not-allowed', () => {
    assert.deepEqual(router.match('DELETE', '/agents'), { kind: 'method-not-allowed', allowed: ['GET', 'POST'] })
    assert.deepEqual(router.match('GET', '/agents/c1/migrate'), { kind: 'method-not-allowed', allowed: ['POST'] })
    for (const p of ['/nope', '/agents/c1/x', '/agents//migrate', '/kv', '/kv/', '/kv/a//b', '//agents']) {
      assert.deepEqual(router.match('GET', p), { kind: 'not-found' }, p)
    }
  })

  it('refuses bad and duplicate patterns', () => {
    assert.throws(() => new Router([route('GET', 'agents', ok)]), InvalidArgumentError)
    assert.throws(() => new Router([route('GET', '/a/*rest/b', ok)]), InvalidArgumentError)
    assert.throws(() => new Router([route('GET', '/a/:id/:id', ok)]), InvalidArgumentError)
    assert.throws(() => new Router([route('GET', '/a/:__proto__', ok)]), InvalidArgumentError)
    assert.throws(() => new Router([route('GET', '/a//b', ok)]), InvalidArgumentError)
    assert.throws(() => new Router([route('GET', '/a/:x', ok), route('GET', '/a/:y', ok)]), /duplicates/)
    assert.throws(() => new Router([{ method: 'TRACE' as 'GET', path: '/', handler: ok }]), InvalidArgumentError)
    // a duplicate added later leaves the table as it was
    const r = new Router([route('GET', '/a', ok)])
    assert.throws(() => { r.add([route('GET', '/b', ok), route('GET', '/a', ok)]) })
    assert.deepEqual(r.routes.map(x => x.path), ['/a'])
  })
})

describe('schema v', () => {
  const Deploy = v.object({
    id: v.string({ max: 8, pattern: /^[a-z0-9-]+$/ }),
    kind: v.literal('counter', 'echo'),
    node: v.optional(v.string()),
    replicas: v.optional(v.integer({ min: 0, max: 5 })),
    weight: v.optional(v.number({ min: 0 })),
    pinned: v.optional(v.boolean()),
    tags: v.optional(v.array(v.string(), { max: 2 })),
    config: v.optional(v.json())
  })

  it('returns the typed value, without absent optional fields', () => {
    const body: Infer<typeof Deploy> = Deploy.parse({ id: 'c1', kind: 'counter', config: null, tags: ['a'] })
    assert.deepEqual(body, { id: 'c1', kind: 'counter', tags: ['a'], config: null })
    const n: string | undefined = body.node
    assert.equal(n, undefined)
  })

  it('names the offending field', () => {
    const bad: Array<[unknown, RegExp]> = [
      [null, /^body must be an object, got null$/],
      [[], /^body must be an object, got an array$/],
      [{ kind: 'counter' }, /^body\.id must be a string of 1-8 characters/],
      [{ id: 'UPPER', kind: 'counter' }, /^body\.id must be .* matching/],
      [{ id: 'c1', kind: 'llm' }, /^body\.kind must be one of "counter", "echo", got "llm"$/],
      [{ id: 'c1', kind: 'echo', replicas: 1.5 }, /^body\.replicas must be an integer >= 0 <= 5, got 1.5$/],
      [{ id: 'c1', kind: 'echo', weight: -1 }, /^body\.weight must be a number >= 0/],
      [{ id: 'c1', kind: 'echo', pinned: 'yes' }, /^body\.pinned must be a boolean/],
      [{ id: 'c1', kind: 'echo', tags: ['a', 'b', 'c'] }, /^body\.tags must be an array of 0-2 items/],
      [{ id: 'c1', kind: 'echo', tags: [1] }, /^body\.tags\[0\] must be a string/],
      [{ id: 'c1', kind: 'echo', nod: 'x' }, /^body has unknown field "nod"$/]
    ]
    for (const [value, re] of bad) {
      assert.throws(() => Deploy.parse(value, 'body'), (err: Error) => err instanceof InvalidMessageError && re.test(err.message), String(re))
    }
    assert.throws(() => v.object({ message: v.json() }).parse({}, 'body'), /body\.message must be a JSON value/)
  })

  it('strips unknown fields when asked', () => {
    assert.deepEqual(v.object({ a: v.integer() }, { unknownKeys: 'strip' }).parse({ a: 1, b: 2 }), { a: 1 })
  })
})
