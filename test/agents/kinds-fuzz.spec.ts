import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { LocalAgentMesh, builtinKinds, createLlmClient } from '../../src/agents/index.ts'
import type { JsonValue } from '../../src/agents/index.ts'
import { AgentMeshError } from '../../src/errors.ts'

// whatever a client sends, a built-in kind answers or refuses with a typed error; it never breaks
describe('built-in kinds under arbitrary messages', () => {
  let mesh: LocalAgentMesh
  before(async () => {
    mesh = new LocalAgentMesh({
      kinds: builtinKinds,
      // nothing listens on port 9: llm calls fail fast as UnreachableError
      llm: createLlmClient({ baseUrl: 'http://127.0.0.1:9/v1', env: {}, maxRetries: 0 }),
      mailbox: { backoffBaseMs: 1, backoffMaxMs: 2, maxTries: 1 }
    })
    for (const kind of ['echo', 'counter', 'llm-chat', 'worker']) await mesh.deployAgent(kind, { kind })
    await mesh.deployAgent('coord', { kind: 'coordinator', config: { workers: 1 } })
  })
  after(async () => { await mesh.stop() })

  const ops = fc.constantFrom('inc', 'get', 'chat', 'history', 'reset', 'run', 'ping', 'status', 'result', 'failed', 'start', 'zzz')
  const message: fc.Arbitrary<JsonValue> = fc.oneof(
    fc.jsonValue() as fc.Arbitrary<JsonValue>,
    fc.record({ op: ops, by: fc.jsonValue(), text: fc.jsonValue(), task: fc.jsonValue(), jobId: fc.jsonValue(), taskId: fc.jsonValue() }, { requiredKeys: ['op'] }) as fc.Arbitrary<JsonValue>,
    fc.record({ forward: fc.constantFrom('counter', 'nobody', 'echo'), message: fc.jsonValue() }) as fc.Arbitrary<JsonValue>
  )

  it('replies or refuses with one of our errors', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('echo', 'counter', 'llm-chat', 'worker', 'coord'), message, async (to, m) => {
      try {
        await mesh.call(to, m, { timeoutMs: 5_000 })
      } catch (err) {
        assert.ok(err instanceof AgentMeshError, `${to} <- ${JSON.stringify(m)} threw ${String(err)}`)
      }
    }), { numRuns: 300 })
    // and they still work
    assert.deepEqual(await mesh.call('echo', 'still here'), 'still here')
    assert.equal(typeof ((await mesh.call('counter', { op: 'get' })) as { value: number }).value, 'number')
  })
})
