import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { MonitoringSystem, MeshView, decodeSnapshot, encodeSnapshot, monitoringConstants } from '../../src/monitoring/index.ts'
import type { MeshSnapshot } from '../../src/monitoring/index.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { parsePromText, sampleValue } from './prom-text.ts'

const encoder = new TextEncoder()

function sample (peerId = 'peer-1', extra: Partial<MeshSnapshot> = {}): MeshSnapshot {
  return {
    v: 1,
    peerId,
    time: 1_700_000_000_000,
    seq: 3,
    health: { status: 'degraded', components: { network: 'ok', 'event-loop': 'degraded' } },
    metrics: { agentmesh_process_heap_used_bytes: 1234, 'agentmesh_rpc_latency_seconds:p99': 0.25 },
    alerts: [{ name: 'sync_lag_high', severity: 'warning', message: 'lag 30 s', labels: { doc: 'notes' }, firedAt: 1_699_999_990_000, value: 30 }],
    ext: { agents: [{ id: 'c1', kind: 'counter' }], raft: { role: 'follower', term: 4 } },
    ...extra
  }
}

describe('mesh snapshot', () => {
  it('buildSnapshot summarises health, key metrics, active alerts and provider extensions', async () => {
    const clock = new ManualClock(5_000)
    const m = new MonitoringSystem({ peerId: 'peer-a', clock, eventLoop: false, snapshotMetrics: ['agentmesh_test_agents_hosted'] })
    m.metrics.gauge('agentmesh_test_agents_hosted', { help: 'agents', labelNames: ['kind'] }).set(3, { kind: 'echo' })
    m.metrics.gauge('agentmesh_test_agents_hosted', { help: 'agents', labelNames: ['kind'] }).set(2, { kind: 'counter' })
    const rpc = m.metrics.histogram('agentmesh_test_rpc_seconds', { help: 'rpc', buckets: [0.1, 1] })
    rpc.observe(0.05); rpc.observe(0.5)
    m.addSnapshotMetric('agentmesh_test_rpc_seconds')
    m.metrics.gauge('agentmesh_test_not_chosen', { help: 'x' }).set(1)
    m.registerHealthCheck('storage', () => ({ status: 'degraded', detail: 'slow fsync' }))
    m.generateAlert('disk_slow', 'fsync p99 80 ms', { severity: 'warning' })
    m.registerSnapshotProvider('raft', () => ({ role: 'leader', term: 7 }))
    m.registerSnapshotProvider('links', async () => [{ to: 'peer-b', transport: 'webrtc' }])
    m.registerSnapshotProvider('broken', () => { throw new Error('not ready') })

    const snap = await m.buildSnapshot()
    assert.equal(snap.v, 1)
    assert.equal(snap.peerId, 'peer-a')
    assert.equal(snap.time, 5_000)
    assert.deepEqual(snap.health, { status: 'degraded', components: { storage: 'degraded' } })
    assert.equal(snap.metrics.agentmesh_test_agents_hosted, 5)
    assert.equal(snap.metrics['agentmesh_test_rpc_seconds:count'], 2)
    assert.ok(snap.metrics['agentmesh_test_rpc_seconds:p99'] > 0.1)
    assert.equal(snap.metrics.agentmesh_test_not_chosen, undefined)
    assert.deepEqual(snap.alerts.map(a => a.name), ['disk_slow'])
    assert.deepEqual(snap.ext, { raft: { role: 'leader', term: 7 }, links: [{ to: 'peer-b', transport: 'webrtc' }] })
    const next = await m.buildSnapshot()
    assert.ok(next.seq > snap.seq)
    await m.stop()
  })

  it('a snapshot always encodes: odd alert labels are left out, bad provider names refused', async () => {
    const m = new MonitoringSystem({ peerId: 'peer-a', eventLoop: false })
    m.generateAlert('odd', 'labels the wire cannot carry', { labels: { 'has space': 'x', ok: 'y'.repeat(5000), __proto__x: 1 } })
    const snap = await m.buildSnapshot()
    assert.deepEqual(Object.keys(snap.alerts[0].labels).sort(), ['__proto__x', 'ok'])
    assert.equal(snap.alerts[0].labels.ok.length, monitoringConstants.MAX_SNAPSHOT_STRING_CHARS)
    assert.deepEqual(decodeSnapshot(encodeSnapshot(snap)), snap)
    assert.throws(() => { m.registerSnapshotProvider('bad name', () => 1) }, { name: 'InvalidArgumentError' })
    assert.throws(() => { m.registerSnapshotProvider('__proto__', () => 1) }, { name: 'InvalidArgumentError' })
    assert.throws(() => { m.addSnapshotMetric('not-a-metric') }, { name: 'InvalidArgumentError' })
    await m.stop()
  })

  it('drops the largest extension when a snapshot would exceed the wire limit', async () => {
    const m = new MonitoringSystem({ peerId: 'peer-a', eventLoop: false })
    m.registerSnapshotProvider('huge', () => 'x'.repeat(monitoringConstants.MAX_SNAPSHOT_BYTES))
    m.registerSnapshotProvider('small', () => ({ ok: true }))
    const snap = await m.buildSnapshot()
    assert.deepEqual(snap.ext, { small: { ok: true } })
    assert.ok(encodeSnapshot(snap).byteLength <= monitoringConstants.MAX_SNAPSHOT_BYTES)
    await m.stop()
  })

  it('encodes and decodes round trip; unknown fields are ignored', () => {
    const snap = sample()
    assert.deepEqual(decodeSnapshot(encodeSnapshot(snap)), snap)
    const withExtra = encoder.encode(JSON.stringify({ ...snap, futureField: { a: 1 } }))
    assert.deepEqual(decodeSnapshot(withExtra), snap)
  })

  it('refuses malformed, oversized and other-version input with typed errors', () => {
    const enc = (v: unknown): Uint8Array => encoder.encode(JSON.stringify(v))
    const invalid: Array<[string, Uint8Array]> = [
      ['not json', encoder.encode('{nope')],
      ['bad utf-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
      ['array', enc([1, 2])],
      ['no version', enc({ ...sample(), v: undefined })],
      ['empty peer', enc(sample(''))],
      ['bad health', enc({ ...sample(), health: { status: 'great', components: {} } })],
      ['bad component status', enc({ ...sample(), health: { status: 'ok', components: { x: 'meh' } } })],
      ['string metric', enc({ ...sample(), metrics: { a: '1' } })],
      ['bad metric key', enc({ ...sample(), metrics: { 'a b': 1 } })],
      ['negative seq', enc({ ...sample(), seq: -1 })],
      ['alerts not array', enc({ ...sample(), alerts: {} })],
      ['bad severity', enc({ ...sample(), alerts: [{ ...sample().alerts[0], severity: 'loud' }] })],
      ['too many alerts', enc({ ...sample(), alerts: Array.from({ length: monitoringConstants.MAX_SNAPSHOT_ALERTS + 1 }, () => sample().alerts[0]) })],
      ['too many metrics', enc({ ...sample(), metrics: Object.fromEntries(Array.from({ length: monitoringConstants.MAX_SNAPSHOT_METRICS + 1 }, (_, i) => [`m${i}`, i])) })],
      ['long peer id', enc(sample('p'.repeat(500)))],
      ['prototype key', encoder.encode(JSON.stringify(sample()).replace('"ext":{', '"ext":{"__proto__":{"polluted":true},'))]
    ]
    for (const [what, bytes] of invalid) assert.throws(() => decodeSnapshot(bytes), { name: 'InvalidMessageError' }, what)
    assert.throws(() => decodeSnapshot(enc({ ...sample(), v: 2 })), { name: 'UnsupportedVersionError' })
    const big = enc(sample('peer-1', { ext: { blob: 'x'.repeat(monitoringConstants.MAX_SNAPSHOT_BYTES) } }))
    assert.throws(() => decodeSnapshot(big), { name: 'MessageTooLargeError' })
    assert.throws(() => encodeSnapshot(sample('peer-1', { ext: { blob: 'x'.repeat(monitoringConstants.MAX_SNAPSHOT_BYTES) } })), { name: 'MessageTooLargeError' })
    assert.throws(() => decodeSnapshot(encodeSnapshot(sample()), { maxBytes: 100 }), { name: 'MessageTooLargeError' })
    assert.throws(() => decodeSnapshot('{}' as unknown as Uint8Array), { name: 'InvalidMessageError' })
  })

  it('never crashes on arbitrary bytes or JSON: only typed errors', () => {
    const typed = new Set(['InvalidMessageError', 'MessageTooLargeError', 'UnsupportedVersionError'])
    const check = (bytes: Uint8Array): void => {
      try {
        decodeSnapshot(bytes)
      } catch (err) {
        assert.ok(typed.has((err as Error).name), `untyped error ${(err as Error).name}: ${(err as Error).message}`)
      }
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), check), { numRuns: 300, seed: 7 })
    fc.assert(fc.property(fc.jsonValue(), (v) => { check(encoder.encode(JSON.stringify(v))) }), { numRuns: 300, seed: 7 })
    // mutations of a valid snapshot
    fc.assert(fc.property(fc.constantFrom(...Object.keys(sample())), fc.jsonValue(), (key, value) => {
      check(encoder.encode(JSON.stringify({ ...sample(), [key]: value })))
    }), { numRuns: 300, seed: 7 })
  })
})

describe('MeshView', () => {
  it('merges snapshots by peer, keeps the newest, and expires stale peers', () => {
    const clock = new ManualClock(0)
    const view = new MeshView({ clock, ttlMs: 10_000 })
    const updated: string[] = []
    const expired: string[] = []
    view.addEventListener('snapshot:updated', (e) => { updated.push(`${e.detail.peerId}#${e.detail.seq}`) })
    view.addEventListener('snapshot:expired', (e) => { expired.push(e.detail) })

    assert.equal(view.ingest(encodeSnapshot(sample('b', { seq: 1, time: 100 }))), true)
    assert.equal(view.ingest(sample('a', { seq: 1, time: 100 }), { from: 'a' }), true)
    assert.equal(view.ingest(encodeSnapshot(sample('b', { seq: 2, time: 200 }))), true)
    assert.equal(view.ingest(encodeSnapshot(sample('b', { seq: 1, time: 100 }))), false, 'an older snapshot does not replace a newer one')
    assert.deepEqual(view.snapshots().map(s => `${s.peerId}#${s.seq}`), ['a#1', 'b#2'])
    assert.deepEqual(updated, ['b#1', 'a#1', 'b#2'])

    clock.advance(6_000)
    view.ingest(encodeSnapshot(sample('a', { seq: 2, time: 6_100 })))
    clock.advance(5_000) // b last heard 11 s ago, a 5 s ago
    assert.equal(view.get('b'), undefined)
    assert.equal(view.get('a')?.seq, 2)
    assert.equal(view.size, 1)
    assert.deepEqual(view.prune(), ['b'])
    assert.deepEqual(expired, ['b'])

    assert.throws(() => view.ingest(encodeSnapshot(sample('c')), { from: 'mallory' }), { name: 'InvalidMessageError' })
    assert.throws(() => view.ingest(encoder.encode('garbage')), { name: 'InvalidMessageError' })
    assert.equal(view.get('c'), undefined)
  })

  it('accepts a restarted peer (sequence reset) once its old snapshot expired, and bounds the peer count', () => {
    const clock = new ManualClock(0)
    const view = new MeshView({ clock, ttlMs: 1_000, maxPeers: 2 })
    view.ingest(sample('a', { seq: 50, time: 1_000 }))
    clock.advance(1_500)
    assert.equal(view.ingest(sample('a', { seq: 1, time: 900 })), true)
    view.ingest(sample('b'))
    view.ingest(sample('c'))
    assert.deepEqual(view.snapshots().map(s => s.peerId), ['b', 'c'])
  })

  it('sweeps expired peers on its timer once started, and stops cleanly', () => {
    const clock = new ManualClock(0)
    const view = new MeshView({ clock, ttlMs: 2_000 })
    const expired: string[] = []
    view.addEventListener('snapshot:expired', (e) => { expired.push(e.detail) })
    view.start()
    view.ingest(sample('a'))
    clock.advance(3_000)
    assert.deepEqual(expired, ['a'])
    view.stop()
    view.ingest(sample('b'))
    clock.advance(10_000)
    assert.deepEqual(expired, ['a'], 'no sweeping after stop()')
  })
})

describe('startPublishing', () => {
  it('publishes an encoded snapshot now and every interval, counts failures, and stops', async () => {
    const clock = new ManualClock(0)
    const m = new MonitoringSystem({ peerId: 'pub', clock, eventLoop: false })
    const received: MeshSnapshot[] = []
    let fail = false
    let waiter: (() => void) | undefined
    const published = async (n: number): Promise<void> => {
      const deadline = Date.now() + 5_000
      while (received.length < n && Date.now() < deadline) await new Promise<void>(resolve => { waiter = resolve; setTimeout(resolve, 50) })
    }
    m.startPublishing(async (bytes) => {
      if (fail) throw new Error('no peers subscribed')
      received.push(decodeSnapshot(bytes))
      waiter?.()
    }, 1_000)
    await published(1)
    assert.equal(received.length, 1)
    clock.advance(1_000)
    await published(2)
    clock.advance(1_000)
    await published(3)
    assert.deepEqual(received.map(s => s.peerId), ['pub', 'pub', 'pub'])
    assert.ok(received[2].seq > received[1].seq && received[1].seq > received[0].seq)

    fail = true
    const errorsCounted = async (): Promise<number | undefined> => sampleValue(parsePromText(await m.metricsText()), 'agentmesh_monitoring_snapshots_published_total', { result: 'error' })
    clock.advance(1_000)
    const deadline = Date.now() + 5_000
    while ((await errorsCounted()) !== 1 && Date.now() < deadline) await new Promise<void>(resolve => { setTimeout(resolve, 10) })
    assert.equal(await errorsCounted(), 1)

    fail = false
    m.stopPublishing()
    clock.advance(5_000)
    await new Promise<void>(resolve => { setTimeout(resolve, 20) })
    assert.equal(received.length, 3)
    await m.stop()
  })
})
