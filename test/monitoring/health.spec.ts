import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MonitoringSystem } from '../../src/monitoring/index.ts'
import type { HealthResult } from '../../src/monitoring/index.ts'
import { ManualClock } from '../../src/util/clock.ts'

describe('health', () => {
  it('goes degraded, down and back to ok as components do', async () => {
    const clock = new ManualClock(1_000)
    const m = new MonitoringSystem({ peerId: 'p', clock, eventLoop: false })
    let network: HealthResult = { status: 'ok' }
    let storage: HealthResult = { status: 'ok' }
    let cache: HealthResult = { status: 'ok' }
    m.registerHealthCheck('network', () => network)
    m.registerHealthCheck('storage', async () => storage)
    m.registerHealthCheck('cache', () => cache, { critical: false })

    let report = await m.checkHealth()
    assert.equal(report.status, 'ok')
    assert.deepEqual(Object.keys(report.components).sort(), ['cache', 'network', 'storage'])
    assert.equal(report.time, 1_000)

    network = { status: 'degraded', detail: 'only 1 peer' }
    report = await m.checkHealth()
    assert.equal(report.status, 'degraded')
    assert.equal(report.components.network.detail, 'only 1 peer')

    network = { status: 'ok' }
    cache = { status: 'down', detail: 'evicted' }
    assert.equal((await m.checkHealth()).status, 'degraded', 'a non-critical component down only degrades')

    storage = { status: 'down', detail: 'disk full' }
    report = await m.checkHealth()
    assert.equal(report.status, 'down')
    assert.equal(report.components.storage.critical, true)
    assert.equal((await m.checkHealth('storage')).detail, 'disk full')

    storage = { status: 'ok' }
    cache = { status: 'ok' }
    assert.equal((await m.checkHealth()).status, 'ok')
    await m.stop()
  })

  it('a check that throws or returns garbage is down, with the error as detail', async () => {
    const m = new MonitoringSystem({ peerId: 'p', eventLoop: false })
    m.registerHealthCheck('raft', () => { throw new RangeError('no log') })
    m.registerHealthCheck('weird', () => ({ status: 'fine' }) as unknown as HealthResult)
    const report = await m.checkHealth()
    assert.equal(report.status, 'down')
    assert.equal(report.components.raft.status, 'down')
    assert.match(report.components.raft.detail ?? '', /RangeError: no log/)
    assert.equal(report.components.weird.status, 'down')
    await m.stop()
  })

  it('a check slower than 1 s is down (time driven by the clock)', async () => {
    const clock = new ManualClock(0)
    const m = new MonitoringSystem({ peerId: 'p', clock, eventLoop: false })
    m.registerHealthCheck('slow', async () => await new Promise<HealthResult>(() => {}))
    const pending = m.checkHealth('slow')
    clock.advance(999)
    let settled = false
    void pending.then(() => { settled = true })
    await Promise.resolve()
    assert.equal(settled, false)
    clock.advance(2)
    const result = await pending
    assert.equal(result.status, 'down')
    assert.match(result.detail ?? '', /timed out/)
    await m.stop()
  })

  it('unknown components and bad names are typed errors', async () => {
    const m = new MonitoringSystem({ peerId: 'p', eventLoop: false })
    await assert.rejects(m.checkHealth('nope'), { name: 'NotFoundError' })
    assert.throws(() => { m.registerHealthCheck('has space', () => ({ status: 'ok' })) }, { name: 'InvalidArgumentError' })
    m.registerHealthCheck('x', () => ({ status: 'down' }))
    m.unregisterHealthCheck('x')
    assert.equal((await m.checkHealth()).status, 'ok')
    await m.stop()
  })

  it('honours an abort signal', async () => {
    const m = new MonitoringSystem({ peerId: 'p', eventLoop: false })
    m.registerHealthCheck('slow', async () => await new Promise<HealthResult>(() => {}))
    const ac = new AbortController()
    const pending = m.checkHealth(undefined, { signal: ac.signal })
    ac.abort()
    await assert.rejects(pending, { name: 'AbortError' })
    await m.stop()
  })
})
