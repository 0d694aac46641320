import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { createLlmClient, resolveLlmConfig, LlmResponseError, parseRetryAfter } from '../../src/agents/index.ts'
import type { ChatChunk } from '../../src/agents/index.ts'
import { startLlmServer } from './llm-server.ts'
import type { LlmTestServer } from './llm-server.ts'

async function waitFor (cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

describe('LLM client against a local chat-completions server', () => {
  let server: LlmTestServer
  before(async () => { server = await startLlmServer() })
  after(async () => { await server.close() })

  const client = (extra = {}) => createLlmClient({ baseUrl: server.url, model: 'tiny', apiKey: 'k1', retryBaseMs: 5, retryMaxMs: 20, env: {}, ...extra })

  it('sends model, messages, temperature, max_tokens and the key; returns the text', async () => {
    server.script.push({ type: 'reply', text: 'hello there' })
    const before = server.requests.length
    const r = await client().chat([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }], { temperature: 0.2, maxTokens: 16 })
    assert.equal(r.text, 'hello there')
    assert.equal(r.finishReason, 'stop')
    assert.deepEqual(r.usage, { promptTokens: 5, completionTokens: 3, totalTokens: 8 })
    const req = server.requests[before]
    assert.equal(req.path, '/v1/chat/completions')
    assert.equal(req.headers.authorization, 'Bearer k1')
    assert.deepEqual(req.body, { model: 'tiny', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }], temperature: 0.2, max_tokens: 16 })
  })

  it('streams SSE chunks in order and ends at [DONE]', async () => {
    server.script.push({ type: 'stream', parts: ['Hel', 'lo', ', world'] })
    const chunks: ChatChunk[] = []
    for await (const c of client().chatStream([{ role: 'user', content: 'hi' }])) chunks.push(c)
    assert.equal(chunks.map(c => c.delta).join(''), 'Hello, world')
    assert.equal(chunks.at(-1)?.finishReason, 'stop')
    assert.equal(server.requests.at(-1)?.body.stream, true)
  })

  it('retries a 500 and then succeeds', async () => {
    server.script.push({ type: 'error', status: 500, body: '{"error":{"message":"overloaded"}}' })
    server.script.push({ type: 'error', status: 429, body: 'slow down', retryAfter: '0' })
    server.script.push({ type: 'reply', text: 'third time' })
    const before = server.requests.length
    const r = await client().chat([{ role: 'user', content: 'x' }])
    assert.equal(r.text, 'third time')
    assert.equal(server.requests.length - before, 3)
  })

  it('gives up after maxRetries with the server status and message', async () => {
    for (let i = 0; i < 3; i++) server.script.push({ type: 'error', status: 503, body: '{"error":{"message":"down for maintenance"}}' })
    await assert.rejects(client({ maxRetries: 2 }).chat([{ role: 'user', content: 'x' }]), (err: any) => {
      assert.equal(err.name, 'LlmResponseError')
      assert.equal(err.serverStatus, 503)
      assert.equal(err.serverMessage, 'down for maintenance')
      return true
    })
  })

  it('does not retry a 400; the error carries the server message', async () => {
    server.script.push({ type: 'error', status: 400, body: '{"error":{"message":"model not found","type":"invalid_request_error"}}' })
    const before = server.requests.length
    await assert.rejects(client().chat([{ role: 'user', content: 'x' }]), (err: unknown) => {
      assert.ok(err instanceof LlmResponseError)
      assert.equal(err.serverStatus, 400)
      assert.equal(err.serverMessage, 'model not found')
      assert.equal(err.retryable, false)
      return true
    })
    assert.equal(server.requests.length - before, 1)
  })

  it('times out a hanging server with TimeoutError', async () => {
    server.script.push({ type: 'hang' })
    await assert.rejects(client({ timeoutMs: 200 }).chat([{ role: 'user', content: 'x' }]), { name: 'TimeoutError' })
  })

  it('stops when the caller aborts', async () => {
    server.script.push({ type: 'hang' })
    const ac = new AbortController()
    const before = server.requests.length
    const p = client().chat([{ role: 'user', content: 'x' }], { signal: ac.signal })
    await waitFor(() => server.requests.length > before)
    ac.abort()
    await assert.rejects(p, { name: 'AbortError' })
  })

  it('refuses a malformed completion with InvalidMessageError', async () => {
    server.script.push({ type: 'error', status: 200, body: '{"choices":"nope"}' })
    await assert.rejects(client().chat([{ role: 'user', content: 'x' }]), { name: 'InvalidMessageError' })
  })

  it('refuses bad arguments before calling', async () => {
    await assert.rejects(client().chat([]), { name: 'InvalidArgumentError' })
    await assert.rejects(client().chat([{ role: 'user', content: 'x' }], { temperature: 7 }), { name: 'InvalidArgumentError' })
  })
})

describe('LLM client configuration and reachability', () => {
  it('reads AGENTMESH_LLM_* from the environment; options win', () => {
    const env = { AGENTMESH_LLM_URL: 'http://127.0.0.1:1234/v1/', AGENTMESH_LLM_MODEL: 'm-env', AGENTMESH_LLM_KEY: 'secret' }
    assert.deepEqual(resolveLlmConfig({ env }), { baseUrl: 'http://127.0.0.1:1234/v1', model: 'm-env', apiKey: 'secret' })
    assert.equal(resolveLlmConfig({ env, model: 'm-opt' }).model, 'm-opt')
    assert.throws(() => resolveLlmConfig({ env: { AGENTMESH_LLM_URL: 'ftp://x' } }), { name: 'InvalidArgumentError' })
  })

  it('parses Retry-After seconds and dates', () => {
    assert.equal(parseRetryAfter('2'), 2000)
    assert.equal(parseRetryAfter(null), undefined)
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000)
  })

  it('reports a server that drops every connection as UnreachableError after retrying', async () => {
    // a listener that hangs up at once: a network failure without racing for a free port
    let connections = 0
    const dropper = createServer((socket) => { connections++; socket.destroy() })
    await new Promise<void>((resolve) => dropper.listen(0, '127.0.0.1', resolve))
    const port = (dropper.address() as AddressInfo).port
    try {
      const c = createLlmClient({ baseUrl: `http://127.0.0.1:${port}/v1`, env: {}, maxRetries: 2, retryBaseMs: 1, retryMaxMs: 2 })
      await assert.rejects(c.chat([{ role: 'user', content: 'x' }]), { name: 'UnreachableError' })
      assert.equal(connections, 3, 'the first try and two retries')
    } finally {
      await new Promise<void>((resolve) => dropper.close(() => resolve()))
    }
  })
})

describe('SSE decoding', () => {
  it('yields the same events however the bytes are split', async () => {
    const { SseDataDecoder } = await import('../../src/agents/llm-sse.ts')
    const fc = (await import('fast-check')).default
    const text = ': hi\n\ndata: {"a":"é😀"}\r\n\r\nevent: x\ndata: line1\ndata: line2\n\ndata:[DONE]\n\n'
    const bytes = new TextEncoder().encode(text)
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 8 }), (cuts) => {
      const points = [0, ...cuts.sort((a, b) => a - b), bytes.length]
      const d = new SseDataDecoder()
      const events: string[] = []
      for (let i = 0; i + 1 < points.length; i++) events.push(...d.push(bytes.subarray(points[i], points[i + 1])))
      events.push(...d.end())
      assert.deepEqual(events, ['{"a":"é😀"}', 'line1\nline2', '[DONE]'])
    }))
  })

  it('refuses a line longer than its limit', async () => {
    const { SseDataDecoder } = await import('../../src/agents/llm-sse.ts')
    const d = new SseDataDecoder(16)
    assert.throws(() => d.push(new TextEncoder().encode(`data: ${'x'.repeat(40)}`)), { name: 'MessageTooLargeError' })
  })
})
