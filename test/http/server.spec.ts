import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { createAdminServer, route, v, queryInt, MAX_SSE_BUFFERED_BYTES, PROMETHEUS_CONTENT_TYPE } from '../../src/http/index.ts'
import type { AdminServer, SseStream } from '../../src/http/index.ts'
import { ConflictError, NotFoundError } from '../../src/errors.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { captureLogger, eventually, readUntil } from './helpers.ts'

const LIMIT = 64 * 1024

describe('admin server: JSON routes and errors', () => {
  const log = captureLogger()
  const agents = new Map<string, { id: string, kind: string }>()
  let server: AdminServer
  let base: string

  before(async () => {
    server = createAdminServer([
      route('GET', '/agents', () => ({ json: [...agents.values()] })),
      route('POST', '/agents', async req => {
        const body = await req.json(v.object({ id: v.string({ max: 64 }), kind: v.string(), config: v.optional(v.json()) }))
        if (agents.has(body.id)) throw new ConflictError(`agent ${body.id} exists`)
        agents.set(body.id, { id: body.id, kind: body.kind })
        return { status: 201, json: { id: body.id, kind: body.kind } }
      }),
      route('GET', '/agents/:id', req => {
        const a = agents.get(req.params.id)
        if (a === undefined) throw new NotFoundError(`no agent ${req.params.id}`)
        return { json: a }
      }),
      route('POST', '/agents/:id/migrate', async req => ({ json: { id: req.params.id, ...(await req.json(v.object({ node: v.string() }))) } })),
      route('GET', '/traces', req => ({ json: { limit: queryInt(req, 'limit', { min: 1, max: 1000, fallback: 100 }) } })),
      route('GET', '/metrics', () => ({ text: '# HELP up 1\nup 1\n', contentType: PROMETHEUS_CONTENT_TYPE })),
      route('POST', '/echo-text', async req => ({ text: await req.text() })),
      route('DELETE', '/nothing', () => ({})),
      route('GET', '/boom', () => { throw new Error('kaput') }),
      route('GET', '/two-bodies', () => ({ json: 1, text: 'x' })),
      route('GET', '/bigint', () => ({ json: { n: 1n } as unknown }))
    ], { log, maxBodyBytes: LIMIT })
    base = await server.listen({ host: '127.0.0.1', port: 0 })
  })
  after(async () => { await server.close() })

  async function call (method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number, json: any, headers: Headers }> {
    const res = await fetch(base + path, { method, body, headers: body !== undefined ? { 'content-type': 'application/json', ...headers } : headers })
    const text = await res.text()
    return { status: res.status, json: text.length > 0 ? JSON.parse(text) : undefined, headers: res.headers }
  }

  it('listens on a free port and reports its URL', () => {
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.notEqual(base, 'http://127.0.0.1:0')
    assert.equal(server.url, base)
  })

  it('serves JSON with path params, query parameters and typed bodies', async () => {
    assert.deepEqual(await call('POST', '/agents', '{"id":"c1","kind":"counter","config":{"a":[1]}}').then(r => [r.status, r.json]), [201, { id: 'c1', kind: 'counter' }])
    const got = await call('GET', '/agents/c1')
    assert.equal(got.status, 200)
    assert.equal(got.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.deepEqual(got.json, { id: 'c1', kind: 'counter' })
    assert.deepEqual((await call('GET', '/agents')).json, [{ id: 'c1', kind: 'counter' }])
    assert.deepEqual((await call('POST', '/agents/c%201/migrate', '{"node":"p2"}')).json, { id: 'c 1', node: 'p2' })
    assert.deepEqual((await call('GET', '/traces?limit=5')).json, { limit: 5 })
    assert.deepEqual((await call('GET', '/traces')).json, { limit: 100 })
    assert.equal((await call('DELETE', '/nothing')).status, 204)
  })

  it('maps typed errors to their status with {"error":{"name","message"}}', async () => {
    assert.deepEqual(await call('POST', '/agents', '{"id":"c1","kind":"counter"}').then(r => [r.status, r.json]),
      [409, { error: { name: 'ConflictError', message: 'agent c1 exists' } }])
    assert.deepEqual(await call('GET', '/agents/zz').then(r => [r.status, r.json]),
      [404, { error: { name: 'NotFoundError', message: 'no agent zz' } }])
    const q = await call('GET', '/traces?limit=0')
    assert.equal(q.status, 400)
    assert.equal(q.json.error.name, 'InvalidArgumentError')
    assert.deepEqual(await call('GET', '/boom').then(r => [r.status, r.json]), [500, { error: { name: 'Error', message: 'kaput' } }])
    assert.equal((await call('GET', '/two-bodies')).status, 500)
    assert.equal((await call('GET', '/bigint')).status, 500)
    assert.ok(log.errors.some(l => l.includes('GET /boom -> 500 Error: kaput')), log.errors.join('\n'))
    assert.ok(log.lines.some(l => l.includes('GET /agents/zz -> 404 NotFoundError')), log.lines.join('\n'))
  })

  it('answers JSON 404 for unknown paths and 405 with Allow for wrong methods', async () => {
    const nf = await call('GET', '/nope')
    assert.equal(nf.status, 404)
    assert.equal(nf.json.error.name, 'NotFoundError')
    const na = await call('DELETE', '/agents')
    assert.equal(na.status, 405)
    assert.equal(na.json.error.name, 'MethodNotAllowedError')
    assert.equal(na.headers.get('allow'), 'GET, POST')
    assert.equal((await call('GET', '/agents/%E0%A4%A')).status, 400)
  })

  it('refuses malformed or wrongly shaped bodies with 400 InvalidMessageError naming the field', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"id":', /not valid JSON/],
      ['', /empty/],
      ['[1,2]', /^body must be an object, got an array$/],
      ['{"id":"x"}', /^body\.kind must be a string/],
      ['{"id":"x","kind":"k","extra":1}', /^body has unknown field "extra"$/],
      ['{"id":"' + 'x'.repeat(65) + '","kind":"k"}', /^body\.id must be a string of 1-64 characters/]
    ]
    for (const [body, re] of cases) {
      const r = await call('POST', '/agents', body)
      assert.equal(r.status, 400, body)
      assert.equal(r.json.error.name, 'InvalidMessageError')
      assert.match(r.json.error.message, re)
    }
    const bad = await fetch(base + '/echo-text', { method: 'POST', body: new Uint8Array([0xff, 0xfe]) })
    assert.equal(bad.status, 400)
    assert.match((await bad.json()).error.message, /UTF-8/)
  })

  it('serves text such as Prometheus metrics with its content type', async () => {
    const res = await fetch(base + '/metrics')
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), PROMETHEUS_CONTENT_TYPE)
    assert.equal(await res.text(), '# HELP up 1\nup 1\n')
  })

  it('answers 413 MessageTooLargeError from Content-Length without reading the body', async () => {
    const r = await call('POST', '/agents', JSON.stringify({ id: 'big', kind: 'x'.repeat(LIMIT) }))
    assert.equal(r.status, 413)
    assert.equal(r.json.error.name, 'MessageTooLargeError')
  })

  it('stops reading a chunked body once it passes the limit, answering 413 while the client still sends', async () => {
    const { status, sentBytes, body } = await new Promise<{ status: number, sentBytes: number, body: string }>((resolve, reject) => {
      const req = httpRequest(base + '/agents', { method: 'POST', headers: { 'transfer-encoding': 'chunked' } })
      let sent = 0
      let answered = false
      const chunk = Buffer.alloc(16 * 1024, 0x20)
      req.on('response', res => {
        answered = true
        let text = ''
        res.setEncoding('utf8')
        res.on('data', d => { text += d })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, sentBytes: sent, body: text }) })
      })
      req.on('error', err => { if (!answered) reject(err) })
      const pump = (): void => {
        // a client that would send 64 MiB if nobody stopped it
        while (!answered && sent < 64 * 1024 * 1024) {
          sent += chunk.length
          if (!req.write(chunk)) { req.once('drain', pump); return }
        }
        if (!answered) req.end()
      }
      pump()
    })
    assert.equal(status, 413)
    assert.equal(JSON.parse(body).error.name, 'MessageTooLargeError')
    assert.ok(sentBytes < 64 * 1024 * 1024, `the server read everything (${sentBytes} bytes)`)
  })

  it('keeps serving after a burst of bad requests', async () => {
    const bad: Array<Promise<unknown>> = []
    for (let i = 0; i < 20; i++) {
      bad.push(call('POST', '/agents', '{"id": [' + 'x'.repeat(i)))
      bad.push(call('POST', '/agents', 'y'.repeat(LIMIT + i)))
      bad.push(call('POST', '/agents', '{"id":"a","kind":' + i + '}'))
      bad.push(fetch(base + '/agents', { method: 'POST', body: new Uint8Array([0xc3, 0x28, i]) }).then(r => r.text()))
      bad.push(call('GET', '/agents/%ZZ' + i))
      bad.push(rawHttp(base, 'GARBAGE\r\n\r\n'))
      bad.push(rawHttp(base, `GET /agents HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(20_000)}\r\n\r\n`))
      bad.push(rawHttp(base, 'POST /agents HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"id"', true))
    }
    const results = await Promise.allSettled(bad)
    assert.ok(results.every(r => r.status === 'fulfilled'), 'every bad request got an answer')
    const good = await call('POST', '/agents', '{"id":"after-burst","kind":"echo"}')
    assert.equal(good.status, 201)
    assert.deepEqual((await call('GET', '/agents/after-burst')).json, { id: 'after-burst', kind: 'echo' })
  })

  it('answers malformed HTTP with a JSON 400', async () => {
    const text = await rawHttp(base, 'NOT HTTP AT ALL\r\n\r\n')
    assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/)
    assert.match(text, /"name":"InvalidMessageError"/)
  })
})

/** writes raw bytes to the server; resolves with whatever comes back (or '' if the socket is dropped) */
async function rawHttp (base: string, data: string, hangUp = false): Promise<string> {
  const url = new URL(base)
  return await new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname)
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', d => { text += d })
    socket.on('error', () => { resolve(text) })
    socket.on('close', () => { resolve(text) })
    socket.write(data, () => { if (hangUp) socket.destroy() })
  })
}

describe('admin server: Server-Sent Events and lifecycle', () => {
  it('streams events with heartbeats, and unsubscribes when the client goes away', async () => {
    const clock = new ManualClock()
    const subscribers = new Set<SseStream>()
    const server = createAdminServer([
      route('GET', '/topics/:topic/events', req => ({
        sse: stream => {
          subscribers.add(stream)
          stream.send({ topic: req.params.topic, hello: true }, { event: 'ready', id: '0' })
          return () => { subscribers.delete(stream) }
        }
      }))
    ], { clock, sseHeartbeatMs: 1000, log: captureLogger() })
    const base = await server.listen({ host: '127.0.0.1', port: 0 })
    try {
      const ac = new AbortController()
      const res = await fetch(base + '/topics/news/events', { signal: ac.signal })
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8')
      const reader = res.body!.getReader()
      let text = await readUntil(reader, t => t.includes('\n\nevent: ready'.slice(2)) && t.endsWith('\n\n') && t.includes('data: '))
      assert.match(text, /^retry: \d+\n\nevent: ready\nid: 0\ndata: \{"topic":"news","hello":true\}\n\n$/)
      assert.equal(subscribers.size, 1)
      for (const s of subscribers) s.send('line one\nline two')
      text = await readUntil(reader, t => t.includes('data: line two\n\n'), text)
      assert.ok(text.includes('data: line one\ndata: line two\n\n'))
      clock.advance(1000)
      text = await readUntil(reader, t => t.endsWith(':\n\n'), text)
      ac.abort()
      await eventually(() => subscribers.size === 0, 5000, 'the SSE cleanup after client disconnect')
    } finally {
      await server.close()
    }
  })

  it('close() ends open event streams and aborts in-flight requests, then frees the port', async () => {
    const cleanups: string[] = []
    let handlerSawAbort = false
    let entered!: () => void
    const inHandler = new Promise<void>(resolve => { entered = resolve })
    const server = createAdminServer([
      route('GET', '/events', () => ({ sse: () => () => { cleanups.push('events') } })),
      route('GET', '/slow', async req => {
        entered()
        await new Promise<void>(resolve => { req.signal.addEventListener('abort', () => { handlerSawAbort = true; resolve() }) })
        throw req.signal.reason
      })
    ], { log: captureLogger() })
    const base = await server.listen({ host: '127.0.0.1', port: 0 })
    const res = await fetch(base + '/events')
    const reader = res.body!.getReader()
    await readUntil(reader, t => t.startsWith('retry:') && t.endsWith('\n\n'))
    const slow = fetch(base + '/slow').then(async r => ({ status: r.status, body: await r.json() }), err => ({ status: 0, body: String(err) }))
    await inHandler

    await server.close()
    assert.deepEqual(cleanups, ['events'])
    assert.ok(handlerSawAbort)
    const ended = await reader.read()
    assert.equal(ended.done, true)
    const s = await slow
    assert.deepEqual(s, { status: 503, body: { error: { name: 'NotStartedError', message: 'admin server is stopping' } } })
    await assert.rejects(fetch(base + '/events'))
    await server.close() // idempotent

    // the port is free again
    const port = Number(new URL(base).port)
    const again = createAdminServer([route('GET', '/x', () => ({ json: 1 }))])
    assert.equal(await again.listen({ host: '127.0.0.1', port }), base)
    await again.close()
  })

  it('answers 504 TimeoutError when a handler outlives its deadline, even if it ignores req.signal', async () => {
    const clock = new ManualClock()
    let entered!: () => void
    const inHandler = new Promise<void>(resolve => { entered = resolve })
    let sawAbort = ''
    const server = createAdminServer([route('GET', '/stuck', async req => {
      req.signal.addEventListener('abort', () => { sawAbort = (req.signal.reason as Error).name })
      entered()
      return await new Promise<never>(() => {})
    })], { clock, handlerTimeoutMs: 1000, log: captureLogger() })
    const base = await server.listen({ host: '127.0.0.1', port: 0 })
    try {
      const pending = fetch(base + '/stuck').then(async r => [r.status, await r.json()])
      await inHandler
      clock.advance(999)
      clock.advance(1)
      assert.deepEqual(await pending, [504, { error: { name: 'TimeoutError', message: 'request not answered within 1000 ms' } }])
      assert.equal(sawAbort, 'TimeoutError')
    } finally {
      await server.close()
    }
  })

  it('ends a body read with the abort reason when the server closes mid-body', async () => {
    let entered!: () => void
    const inHandler = new Promise<void>(resolve => { entered = resolve })
    let readFailed: Promise<string> | undefined
    const server = createAdminServer([route('POST', '/upload', async req => {
      readFailed = req.json().then(() => 'read', (err: Error) => `${err.name}: ${err.message}`)
      entered()
      await readFailed
      return { json: 1 }
    })], { log: captureLogger() })
    const base = await server.listen({ host: '127.0.0.1', port: 0 })
    // a client that sends the start of a chunked body and then nothing
    const client = httpRequest(base + '/upload', { method: 'POST', headers: { 'transfer-encoding': 'chunked', 'content-type': 'application/json' } })
    const answer = new Promise<number>(resolve => {
      client.on('response', res => { res.resume(); resolve(res.statusCode ?? 0) })
      client.on('error', () => { resolve(0) })
    })
    client.write('{"a":')
    await inHandler
    await server.close()
    assert.equal(await readFailed, 'NotStartedError: admin server is stopping')
    assert.ok([0, 503].includes(await answer))
    client.destroy()
  })

  it('hands a handler that reads req.signal after the abort a signal already aborted with the reason', async () => {
    const clock = new ManualClock()
    let entered!: () => void
    const inHandler = new Promise<void>(resolve => { entered = resolve })
    let release!: () => void
    const released = new Promise<void>(resolve => { release = resolve })
    let seen: { aborted: boolean, reason: string } | undefined
    const server = createAdminServer([route('GET', '/late', async req => {
      entered()
      await released
      seen = { aborted: req.signal.aborted, reason: (req.signal.reason as Error).name }
      return { json: 1 }
    })], { clock, handlerTimeoutMs: 1000, log: captureLogger() })
    const base = await server.listen({ host: '127.0.0.1', port: 0 })
    try {
      const pending = fetch(base + '/late').then(r => r.status)
      await inHandler
      clock.advance(1000)
      assert.equal(await pending, 504)
      release()
      await eventually(() => seen !== undefined)
      assert.deepEqual(seen, { aborted: true, reason: 'TimeoutError' })
    } finally {
      await server.close()
    }
  })

  it('refuses a taken port with ConflictError and a second listen', async () => {
    const a = createAdminServer([])
    const base = await a.listen({ host: '127.0.0.1', port: 0 })
    try {
      const b = createAdminServer([])
      await assert.rejects(b.listen({ host: '127.0.0.1', port: Number(new URL(base).port) }), { name: 'ConflictError', message: /already in use/ })
      await b.close()
      await assert.rejects(a.listen({ host: '127.0.0.1', port: 0 }), { name: 'ConflictError' })
    } finally {
      await a.close()
    }
    await assert.rejects(a.listen({ host: '127.0.0.1', port: 0 }), { name: 'NotStartedError' })
  })

  it('cuts off an event stream that falls more than MAX_SSE_BUFFERED_BYTES behind instead of buffering', async () => {
    const log = captureLogger()
    let sent = 0
    let closedByLimit = false
    const server = createAdminServer([route('GET', '/flood', () => ({
      sse: stream => {
        const chunk = 'z'.repeat(16 * 1024)
        // far more than the limit, written faster than any socket drains
        while (sent < 64 * 1024 * 1024 && stream.send(chunk)) sent += chunk.length
        closedByLimit = stream.closed
      }
    }))], { log })
    const base = await server.listen({ host: '127.0.0.1', port: 0 })
    try {
      const res = await fetch(base + '/flood')
      const body = await res.text()
      assert.ok(closedByLimit)
      assert.ok(sent <= MAX_SSE_BUFFERED_BYTES + 64 * 1024, `sent ${sent}`)
      assert.ok(body.length < 2 * MAX_SSE_BUFFERED_BYTES)
      assert.ok(log.lines.some(l => l.includes('behind')), log.lines.join('\n'))
    } finally {
      await server.close()
    }
  })

  it('limits concurrent event streams', async () => {
    const server = createAdminServer([route('GET', '/e', () => ({ sse: () => undefined }))], { maxSseStreams: 1, log: captureLogger() })
    const base = await server.listen({ host: '127.0.0.1', port: 0 })
    try {
      const first = await fetch(base + '/e')
      assert.equal(first.status, 200)
      const second = await fetch(base + '/e')
      assert.equal(second.status, 507)
      assert.equal((await second.json()).error.name, 'CapacityError')
      await first.body!.cancel()
    } finally {
      await server.close()
    }
  })
})
