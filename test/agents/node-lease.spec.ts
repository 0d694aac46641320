/**
 * The node lease under slow commits and throttled timers (issue 8: a tab's renewals took 3-18 s to
 * commit on a loaded machine, and a background tab's timers fire late).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { NodeLease, type LeaseKv } from '../../src/agents/index.ts'
import { ManualClock, type Clock } from '../../src/util/clock.ts'
import { componentLogger } from '../../src/util/logger.ts'

interface LeaseAnswer { id: number, ttlMs: number, expiresAtMs: number }

/** a KV whose every lease call commits `delayMs` (by the clock) after it was made */
function slowKv (clock: Clock, delayMs: number): LeaseKv & { calls: string[] } {
  const calls: string[] = []
  const call = async (what: string, signal?: AbortSignal): Promise<LeaseAnswer> => {
    calls.push(what)
    return await new Promise((resolve, reject) => {
      const timer = clock.setTimeout(() => { resolve({ id: 7, ttlMs: 0, expiresAtMs: 0 }) }, delayMs)
      signal?.addEventListener('abort', () => { clock.clearTimeout(timer); reject(signal.reason) }, { once: true })
    })
  }
  return {
    calls,
    grantLease: async (_ttl, options) => await call('grant', options?.signal),
    keepAlive: async (_lease, options) => await call('keepAlive', options?.signal),
    revoke: async () => { calls.push('revoke') }
  }
}

const settle = async (): Promise<void> => { for (let i = 0; i < 10; i++) await Promise.resolve() }

describe('NodeLease under load', () => {
  it('stays valid while every renewal takes 7 s to commit (10 s ttl, renewed every second)', async () => {
    const clock = new ManualClock(0)
    const kv = slowKv(clock, 7000)
    const lease = new NodeLease({ kv, clock, log: componentLogger('test:lease'), ttlMs: 10_000, renewMs: 1000, safetyMs: 1000 })
    const lapses: number[] = []
    lease.addEventListener('lease:lapsed', () => { lapses.push(clock.monotonic()) })
    lease.start()
    // the grant (sent at 0) commits at 7 s; the first renewal can only go out after it, so the
    // lease is valid 7-9 s, then again from 15 s (that renewal, sent at 8 s, commits)
    for (let t = 0; t < 16_000; t += 100) { clock.advance(100); await settle() }
    assert.equal(lease.valid(), true, 'valid once the first renewal committed')
    const invalidAt: number[] = []
    for (let t = 16_000; t < 60_000; t += 100) {
      clock.advance(100)
      await settle()
      if (!lease.valid()) invalidAt.push(clock.monotonic())
    }
    assert.deepEqual(invalidAt, [], 'no gap in the steady state: enough renewals overlap')
    assert.equal(lapses.filter(at => at >= 16_000).length, 0)
    await lease.stop()
    assert.equal(clock.pendingTimers, 0, 'stop leaves no timer behind')
  })

  it('a renewal that commits after the validity it brings has ended extends nothing', async () => {
    const clock = new ManualClock(0)
    const kv = slowKv(clock, 1900) // past ttl - safety = 1800
    const lease = new NodeLease({ kv, clock, log: componentLogger('test:lease'), ttlMs: 2000, renewMs: 400, safetyMs: 200 })
    const renewed: number[] = []
    const lapses: number[] = []
    lease.addEventListener('lease:renewed', () => { renewed.push(clock.monotonic()) })
    lease.addEventListener('lease:lapsed', () => { lapses.push(clock.monotonic()) })
    lease.start()
    for (let t = 0; t < 6000; t += 50) {
      clock.advance(50)
      await settle()
      assert.equal(lease.valid(), false, `never valid (at ${clock.monotonic()} ms)`)
    }
    assert.equal(lease.id, 7, 'granted all the same')
    assert.deepEqual(renewed, [], 'no renewal is announced')
    assert.equal(lapses.length, 1, 'the late grant is announced as lapsed, once')
    await lease.stop()
  })

  it('a lapse is announced when valid() finds it, even while the timers are throttled', async () => {
    // timers from this clock fire only when the test says (a background tab's fire late);
    // monotonic time runs on regardless
    const timers = new ManualClock(0)
    let now = 0
    const clock: Clock = {
      now: () => now,
      monotonic: () => now,
      setTimeout: (fn, ms) => timers.setTimeout(fn, ms),
      clearTimeout: (h) => { timers.clearTimeout(h) },
      setInterval: (fn, ms) => timers.setInterval(fn, ms),
      clearInterval: (h) => { timers.clearInterval(h) }
    }
    const kv = slowKv(timers, 10)
    const lease = new NodeLease({ kv, clock, log: componentLogger('test:lease'), ttlMs: 2000, renewMs: 400, safetyMs: 200 })
    const lapses: number[] = []
    lease.addEventListener('lease:lapsed', () => { lapses.push(now) })
    lease.start()
    timers.advance(10) // the grant commits at 10 (sent at 0): valid until 1800
    await settle()
    assert.equal(lease.valid(), true)
    now = 5000 // five seconds pass without a timer firing
    assert.equal(lease.valid(), false)
    assert.deepEqual(lapses, [], 'announced after the caller\'s turn, not inside valid()')
    await settle()
    assert.deepEqual(lapses, [5000], 'announced without the lapse timer')
    assert.equal(lease.valid(), false)
    await settle()
    assert.deepEqual(lapses, [5000], 'announced once')
    await lease.stop()
  })

  it('a late "not found" for a lease already replaced leaves the new lease alone, and one grant is out at a time', async () => {
    const clock = new ManualClock(0)
    const calls: Array<{ what: string, lease?: number, resolve: (v: LeaseAnswer) => void, reject: (e: Error) => void }> = []
    const call = async (what: string, lease?: number): Promise<LeaseAnswer> => await new Promise((resolve, reject) => { calls.push({ what, lease, resolve, reject }) })
    const gone = (): Error => Object.assign(new Error('lease not found'), { name: 'NotFoundError' })
    const kv: LeaseKv = {
      grantLease: async () => await call('grant'),
      keepAlive: async (lease) => await call('keepAlive', lease),
      revoke: async () => {}
    }
    const lease = new NodeLease({ kv, clock, log: componentLogger('test:lease'), ttlMs: 10_000, renewMs: 1000, safetyMs: 1000 })
    const lost: number[] = []
    lease.addEventListener('lease:lost', (e) => { lost.push(e.detail.lease) })
    lease.start()
    calls[0].resolve({ id: 7, ttlMs: 10_000, expiresAtMs: 0 })
    await settle()
    clock.advance(1000)
    clock.advance(1000)
    clock.advance(1000)
    assert.deepEqual(calls.map(c => `${c.what}${c.lease ?? ''}`), ['grant', 'keepAlive7', 'keepAlive7', 'keepAlive7'])
    calls[1].reject(gone()) // lease 7 expired in the store: lost, and a new grant goes out
    await settle()
    assert.deepEqual(lost, [7])
    assert.equal(calls[4].what, 'grant')
    calls[2].reject(gone()) // a keepalive of lease 7 ends while the grant is out
    await settle()
    clock.advance(1000)
    assert.equal(calls.filter(c => c.what === 'grant').length, 2, 'no second grant while one is out')
    calls[4].resolve({ id: 9, ttlMs: 10_000, expiresAtMs: 0 })
    await settle()
    assert.equal(lease.id, 9)
    assert.equal(lease.valid(), true)
    calls[3].reject(gone()) // the last keepalive of lease 7, answered after lease 9 was granted
    await settle()
    assert.deepEqual(lost, [7], 'lease 9 is not taken for lost')
    assert.equal(lease.id, 9)
    assert.equal(lease.valid(), true)
    await lease.stop()
  })
})
