/**
 * Clock-skew outlier detection: the verdict over peers' offsets (only a majority off the same way
 * makes this peer the outlier), the detector's settle time and hysteresis over a manual clock, and
 * real peers in-process where one peer's wall clock (its injected Clock) runs 90 s behind: that
 * peer, and only that one, reports `network:clock-skew` and a degraded `clock` health component,
 * and `network:clock-synced` once its clock is set right.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { assessClockSkew, ClockSkewDetector, clockSkewHealth } from '../../src/network/index.ts'
import type { ClockSkewStatus } from '../../src/network/index.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { OffsetClock } from '../helpers/offset-clock.ts'
import { relayAddr, startPeer, waitFor, type TestPeer } from './harness.ts'

describe('assessClockSkew', () => {
  it('calls this peer the outlier only when a strict majority is off the same way', () => {
    assert.equal(assessClockSkew([90_000, 91_000]).outlier, true, 'both others 90 s ahead')
    assert.equal(assessClockSkew([-90_000, -88_000, -91_000, 200]).outlier, true, 'three of four behind')
    assert.equal(assessClockSkew([90_000]).outlier, false, 'one other peer: either clock could be wrong')
    assert.equal(assessClockSkew([0, 90_000]).outlier, false, 'one of two off: that one is the outlier')
    assert.equal(assessClockSkew([90_000, -90_000]).outlier, false, 'off both ways: no majority either way')
    assert.equal(assessClockSkew([90_000, 90_000, -90_000, -90_000]).outlier, false)
    assert.equal(assessClockSkew([54_000, 54_000, 54_000]).outlier, false, 'within the bound')
    assert.equal(assessClockSkew([]).outlier, false)
    assert.deepEqual(assessClockSkew([-90_000, -80_000, 100]), { outlier: true, offsetMs: -80_000, peers: 3, farPeers: 2 })
  })
})

describe('ClockSkewDetector', () => {
  it('reports a verdict once it has held for the settle time, and back with hysteresis', () => {
    const clock = new ManualClock(1_700_000_000_000)
    const changes: ClockSkewStatus[] = []
    const d = new ClockSkewDetector({ clock, onChange: (s) => { changes.push(s) }, outlierMs: 55_000, hysteresisMs: 5_000, settleMs: 2000, checkIntervalMs: 500 })
    d.start()
    const beat = (offsetMs: number): void => {
      for (const p of ['a', 'b', 'c']) d.observe(p, clock.now() + offsetMs)
      clock.advance(500)
    }
    for (let i = 0; i < 6; i++) beat(1000)
    assert.equal(changes.length, 0)
    beat(70_000)
    assert.equal(changes.length, 0, 'not before the settle time')
    for (let i = 0; i < 6; i++) beat(70_000)
    assert.equal(changes.length, 1)
    assert.equal(changes[0].outlier, true)
    assert.equal(clockSkewHealth(d.status()).status, 'degraded')
    // 52 s off is inside the bound but not inside the hysteresis: still the outlier
    for (let i = 0; i < 10; i++) beat(52_000)
    assert.equal(changes.length, 1)
    for (let i = 0; i < 10; i++) beat(3_000)
    assert.equal(changes.length, 2)
    assert.equal(changes[1].outlier, false)
    assert.equal(clockSkewHealth(d.status()).status, 'ok')
    // stamps stop (the peers went quiet): old ones age out, no verdict either way
    d.forget('a')
    clock.advance(60_000)
    assert.equal(d.assess().peers, 0)
    d.stop()
    assert.equal(clock.pendingTimers, 0, 'stop leaves no timer')
  })

  it('after a clock that ran ahead is set right, stays the outlier until real time catches up with its stamps', () => {
    const manual = new ManualClock(1_700_000_000_000)
    const clock = new OffsetClock(manual)
    clock.offsetMs = 90_000
    const changes: ClockSkewStatus[] = []
    const d = new ClockSkewDetector({ clock, onChange: (s) => { changes.push(s) }, outlierMs: 55_000, hysteresisMs: 5_000, settleMs: 2000, checkIntervalMs: 500 })
    d.start()
    /** the peers' clocks are right: they stamp true time */
    const beat = (): void => {
      for (const p of ['a', 'b', 'c']) d.observe(p, manual.now())
      manual.advance(500)
    }
    for (let i = 0; i < 8; i++) beat()
    assert.equal(changes.length, 1)
    assert.equal(changes[0].outlier, true)
    assert.ok(changes[0].offsetMs < -85_000, `the others are ~90 s behind (${changes[0].offsetMs})`)
    clock.offsetMs = 0 // set right: its HLC stamps are still ~90 s ahead, for another ~90 s
    for (let i = 0; i < 60; i++) beat() // 30 s on: the stamps still lead by ~60 s
    assert.equal(changes.length, 1, 'still the outlier while its stamps would be refused')
    assert.ok(d.status().offsetMs < -55_000, `the lead counts in the offset (${d.status().offsetMs})`)
    for (let i = 0; i < 30; i++) beat() // 45 s on: the lead (~45 s) is within the bound less hysteresis
    assert.equal(changes.length, 2)
    assert.equal(changes[1].outlier, false)
    d.stop()
  })
})

describe('clock-skew outlier among real peers', () => {
  let relay: TestPeer
  const peers: TestPeer[] = []
  const skewed = new OffsetClock()

  before(async () => {
    relay = await startPeer({ role: 'relay' }, 'clock-skew')
    peers.push(await startPeer({ bootstrap: [relayAddr(relay)] }, 'clock-skew', { clock: skewed }))
    for (let i = 0; i < 2; i++) peers.push(await startPeer({ bootstrap: [relayAddr(relay)] }, 'clock-skew'))
    await waitFor(() => [relay, ...peers].every(p => p.network.aliveMembers().length === 3), 20_000, 'membership')
  })

  after(async () => {
    await Promise.all([relay, ...peers].map(async p => { await p.stop().catch(() => {}) }))
  })

  it('the peer 90 s behind reports itself the outlier, the others do not; it recovers when its clock is set right', async () => {
    const events: Array<[string, ClockSkewStatus]> = []
    const outlier = peers[0].network
    outlier.addEventListener('network:clock-skew', (e) => { events.push(['skew', e.detail]) })
    outlier.addEventListener('network:clock-synced', (e) => { events.push(['synced', e.detail]) })
    const othersEvents: string[] = []
    for (const p of [relay, ...peers.slice(1)]) p.network.addEventListener('network:clock-skew', () => { othersEvents.push(p.network.peerId) })

    skewed.offsetMs = -90_000
    await waitFor(() => events.length > 0, 20_000, 'the clock-skew event')
    assert.equal(events[0][0], 'skew')
    assert.equal(events[0][1].outlier, true)
    assert.ok(events[0][1].offsetMs > 80_000, `the others run ~90 s ahead of this peer (median ${events[0][1].offsetMs} ms)`)
    assert.equal(outlier.clockSkewStatus().outlier, true)
    // the others each hear one far peer among three: not the outlier themselves
    for (const p of [relay, ...peers.slice(1)]) assert.equal(p.network.clockSkewStatus().outlier, false)

    skewed.offsetMs = 0
    await waitFor(() => events.length > 1, 20_000, 'the clock-synced event')
    assert.equal(events[1][0], 'synced')
    assert.equal(outlier.clockSkewStatus().outlier, false)
    assert.deepEqual(othersEvents, [], 'no other peer called itself the outlier')
  })
})
