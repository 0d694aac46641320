import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { MonitoringSystem, formatTraceparent, parseTraceparent, tryParseTraceparent } from '../../src/monitoring/index.ts'
import { seededRng } from '../../src/util/prng.ts'

function system (peerId: string, extra: Partial<ConstructorParameters<typeof MonitoringSystem>[0]> = {}): MonitoringSystem {
  return new MonitoringSystem({ peerId, eventLoop: false, ...extra })
}

describe('tracing', () => {
  it('one trace across two peers: the traceparent handed from A to B links B\'s span under A\'s', async () => {
    const a = system('peer-a')
    const b = system('peer-b')
    const root = a.startTrace(undefined, 'client.request', { attributes: { agent: 'c1' } })
    const send = a.startSpan('rpc.send', { parent: root, kind: 'client' })
    const wire = send.traceparent() // what the envelope carries

    const handle = b.startSpan('rpc.handle', { parent: wire, kind: 'server' })
    const inner = b.startSpan('agent.onMessage', { parent: handle })
    // and back to A in the reply
    const reply = a.startSpan('rpc.reply', { parent: inner.traceparent(), kind: 'consumer' })
    for (const s of [reply, inner, handle, send, root]) s.end()

    const spansA = a.recentSpans()
    const spansB = b.recentSpans()
    const byName = new Map([...spansA, ...spansB].map(s => [s.name, s]))
    const traceIds = new Set([...byName.values()].map(s => s.traceId))
    assert.equal(traceIds.size, 1, 'every span is in one trace')
    assert.equal(byName.get('client.request')?.parentSpanId, undefined)
    assert.equal(byName.get('rpc.send')?.parentSpanId, root.spanId)
    assert.equal(byName.get('rpc.handle')?.parentSpanId, send.spanId)
    assert.equal(byName.get('agent.onMessage')?.parentSpanId, handle.spanId)
    assert.equal(byName.get('rpc.reply')?.parentSpanId, inner.spanId)
    assert.deepEqual(spansB.map(s => s.peer), ['peer-b', 'peer-b'])
    assert.equal(byName.get('rpc.handle')?.kind, 'server')
    assert.equal(byName.get('client.request')?.attributes.agent, 'c1')
    assert.ok(byName.get('rpc.handle')!.duration >= 0)
    assert.ok(Math.abs(byName.get('rpc.handle')!.start - Date.now()) < 60_000)
    await a.stop(); await b.stop()
  })

  it('startTrace uses a given trace id and refuses an invalid one', async () => {
    const m = system('p')
    const id = 'abcdef0123456789abcdef0123456789'
    const span = m.startTrace(id, 'deploy')
    span.end()
    assert.equal(span.traceId, id)
    assert.equal(m.recentSpans()[0].traceId, id)
    assert.match(span.traceparent(), new RegExp(`^00-${id}-[0-9a-f]{16}-01$`))
    // the next root gets a fresh id again
    assert.notEqual(m.startTrace(undefined, 'other').traceId, id)
    assert.throws(() => m.startTrace('ABCDEF0123456789ABCDEF0123456789', 'x'), { name: 'InvalidArgumentError' })
    assert.throws(() => m.startTrace('0'.repeat(32), 'x'), { name: 'InvalidArgumentError' })
    assert.throws(() => m.startTrace('abc', 'x'), { name: 'InvalidArgumentError' })
    await m.stop()
  })

  it('a malformed traceparent from an envelope starts a new trace instead of failing', async () => {
    const m = system('p')
    const span = m.startSpan('handle', { parent: 'garbage' })
    span.end()
    assert.equal(m.recentSpans()[0].parentSpanId, undefined)
    assert.ok(tryParseTraceparent(span.traceparent()) != null)
    await m.stop()
  })

  it('records errors as the span status', async () => {
    const m = system('p')
    const span = m.startSpan('op')
    span.setAttribute('attempt', 2)
    span.recordError(new TypeError('boom'))
    span.end()
    const [rec] = m.recentSpans()
    assert.equal(rec.status, 'error')
    assert.match(rec.error ?? '', /TypeError: boom/)
    assert.equal(rec.attributes.attempt, 2)
    await m.stop()
  })

  it('keeps only the most recent spans in a bounded ring', async () => {
    const m = system('p', { spanRingSize: 5 })
    for (let i = 0; i < 12; i++) m.startSpan(`s${i}`).end()
    assert.deepEqual(m.recentSpans().map(s => s.name), ['s7', 's8', 's9', 's10', 's11'])
    assert.deepEqual(m.recentSpans(2).map(s => s.name), ['s10', 's11'])
    await m.stop()
  })

  it('with tracing off records nothing but still propagates the trace id', async () => {
    const on = system('on')
    const off = system('off', { tracing: false, rng: seededRng(1) })
    const root = on.startTrace(undefined, 'root')
    const child = off.startSpan('child', { parent: root.traceparent() })
    child.setAttribute('x', 1)
    child.end()
    assert.equal(child.traceId, root.traceId)
    assert.notEqual(child.spanId, root.spanId)
    assert.deepEqual(off.recentSpans(), [])
    const grandchild = on.startSpan('grandchild', { parent: child.traceparent() })
    grandchild.end()
    assert.equal(on.recentSpans()[0].traceId, root.traceId)
    assert.equal(on.recentSpans()[0].parentSpanId, child.spanId)
    // and it can be switched on at run time
    off.setTracing(true)
    off.startSpan('now-recorded').end()
    assert.deepEqual(off.recentSpans().map(s => s.name), ['now-recorded'])
    await on.stop(); await off.stop()
  })

  it('exports spans over OTLP/HTTP when an endpoint is configured', async () => {
    const bodies: Array<{ url: string, type: string, body: string }> = []
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        bodies.push({ url: req.url ?? '', type: String(req.headers['content-type']), body: Buffer.concat(chunks).toString('utf8') })
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const port = (server.address() as AddressInfo).port
      const m = system('exporter-peer', { otlpEndpoint: `http://127.0.0.1:${port}/v1/traces` })
      const span = m.startSpan('exported.operation')
      span.end()
      await m.flushTraces()
      assert.equal(bodies.length, 1)
      assert.equal(bodies[0].url, '/v1/traces')
      assert.match(bodies[0].type, /application\/json/)
      assert.match(bodies[0].body, /exported\.operation/)
      assert.match(bodies[0].body, /exporter-peer/)
      assert.ok(bodies[0].body.includes(span.traceId))
      await m.stop()
    } finally {
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  })
})

describe('traceparent', () => {
  it('formats and parses round trip', () => {
    const tp = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: 1 }
    const s = formatTraceparent(tp)
    assert.equal(s, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')
    assert.deepEqual(parseTraceparent(s), tp)
    assert.deepEqual(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00').flags, 0)
  })

  it('refuses malformed values with InvalidMessageError', () => {
    const bad = [
      '', 'nope', 42, null,
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // zero span id
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', // 00 has four fields
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', // short trace id
      'x'.repeat(10_000)
    ]
    for (const v of bad) assert.throws(() => parseTraceparent(v), { name: 'InvalidMessageError' }, String(v).slice(0, 60))
    assert.throws(() => formatTraceparent({ traceId: 'zz', spanId: '00f067aa0ba902b7', flags: 1 }), { name: 'InvalidMessageError' })
  })

  it('reads a future version by its first four fields', () => {
    assert.deepEqual(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more'), {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: 1
    })
  })
})
