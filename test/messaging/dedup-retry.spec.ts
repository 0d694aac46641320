import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DedupWindow } from '../../src/messaging/dedup.ts'
import { backoffCapMs, backoffDelayMs, retry, retryPolicy, sleep } from '../../src/messaging/retry.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { seededRng } from '../../src/util/prng.ts'
import { TimeoutError, UnreachableError, InvalidArgumentError } from '../../src/errors.ts'

describe('DedupWindow', () => {
  it('drops repeats by id and by per-sender sequence, and lets new ones through', () => {
    const d = new DedupWindow(new ManualClock(0))
    assert.equal(d.observe({ id: 'm1', stream: 'a', seq: 1 }), true)
    assert.equal(d.observe({ id: 'm1', stream: 'a', seq: 1 }), false)
    assert.equal(d.observe({ id: 'm3', stream: 'a', seq: 3 }), true)
    assert.equal(d.highWater('a'), 1)
    assert.equal(d.observe({ id: 'm2', stream: 'a', seq: 2 }), true)
    assert.equal(d.highWater('a'), 3)
    // a resend under the same seq is caught by the high-water mark even after the id expired
    assert.equal(d.observe({ id: 'other', stream: 'a', seq: 2 }), false)
    assert.equal(d.observe({ id: 'm2', stream: 'b', seq: 2 }), false) // same id from elsewhere
    assert.equal(d.observe({ id: 'ack1', stream: 'a' }), true)
    assert.equal(d.observe({ id: 'ack1', stream: 'a' }), false)
  })

  it('forgets ids by age and by count', () => {
    const clock = new ManualClock(0)
    const d = new DedupWindow(clock, { windowMs: 1000, maxIds: 3 })
    d.observe({ id: 'x', stream: 's' })
    clock.advance(1001)
    assert.equal(d.isDuplicate({ id: 'x', stream: 's' }), false)
    for (const id of ['a', 'b', 'c', 'd']) d.observe({ id, stream: 's' })
    assert.equal(d.size, 3)
    assert.equal(d.isDuplicate({ id: 'a', stream: 's' }), false)
    assert.equal(d.isDuplicate({ id: 'd', stream: 's' }), true)
  })

  it('bounds the seqs kept above a hole by folding the oldest into the high-water mark', () => {
    const d = new DedupWindow(new ManualClock(0), { maxSeqsPerStream: 8, maxIds: 1 })
    for (let s = 2; s <= 20; s++) d.observe({ id: `m${s}`, stream: 'a', seq: s })
    assert.ok(d.highWater('a') >= 12)
    for (let s = 2; s <= 20; s++) assert.equal(d.isDuplicate({ id: `r${s}`, stream: 'a', seq: s }), true)
    assert.equal(d.isDuplicate({ id: 'n', stream: 'a', seq: 21 }), false)
  })
})

describe('retry', () => {
  it('computes capped exponential delays with full jitter from the injected rng', () => {
    const p = retryPolicy({ initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, maxAttempts: 10 })
    assert.deepEqual([1, 2, 3, 4, 5, 6].map(n => backoffCapMs(p, n)), [100, 200, 400, 800, 1000, 1000])
    const rng = seededRng(3)
    for (let n = 1; n < 50; n++) {
      const d = backoffDelayMs(p, n, rng)
      assert.ok(d >= 0 && d < backoffCapMs(p, n))
    }
    assert.equal(backoffDelayMs(p, 3, seededRng(9)), backoffDelayMs(p, 3, seededRng(9)))
    assert.throws(() => retryPolicy({ maxAttempts: 0 }), InvalidArgumentError)
  })

  it('retries until success, waiting on the injected clock', async () => {
    const clock = new ManualClock(0)
    let calls = 0
    const waits: number[] = []
    const p = retry(async () => {
      calls++
      if (calls < 3) throw new UnreachableError('down')
      return 'ok'
    }, { clock, rng: seededRng(1), policy: retryPolicy({ initialDelayMs: 100, maxAttempts: 5 }), onRetry: (_e, _n, d) => waits.push(d) })
    for (let i = 0; i < 50 && calls < 3; i++) { await new Promise(r => setImmediate(r)); clock.advance(1000) }
    assert.equal(await p, 'ok')
    assert.equal(waits.length, 2)
  })

  it('gives up after maxAttempts with the last error, and at once on a non-retryable one', async () => {
    const clock = new ManualClock(0)
    let calls = 0
    const p = retry(async () => { calls++; throw new UnreachableError(`try ${calls}`) },
      { clock, rng: seededRng(1), policy: retryPolicy({ initialDelayMs: 10, maxAttempts: 3 }) })
    const settled = p.catch(e => e)
    for (let i = 0; i < 20 && calls < 3; i++) { await new Promise(r => setImmediate(r)); clock.advance(100) }
    const err = await settled
    assert.equal(err.message, 'try 3')
    assert.equal(calls, 3)
    let n = 0
    await assert.rejects(retry(async () => { n++; throw new InvalidArgumentError('bad') },
      { clock, rng: seededRng(1), isRetryable: e => !(e instanceof InvalidArgumentError) }), { name: 'InvalidArgumentError' })
    assert.equal(n, 1)
  })

  it('stops waiting when the signal fires and leaves no timer', async () => {
    const clock = new ManualClock(0)
    const ac = new AbortController()
    const p = sleep(clock, 10_000, { signal: ac.signal })
    ac.abort()
    await assert.rejects(p, { name: 'AbortError' })
    const t = sleep(clock, 10_000, { signal: AbortSignal.abort(new TimeoutError('late')) })
    await assert.rejects(t, { name: 'TimeoutError' })
    assert.equal((clock as any).timers.size, 0)
  })
})

describe('DedupWindow.forget', () => {
  it('lets a refused message through again', () => {
    const d = new DedupWindow(new ManualClock(0))
    for (let s = 1; s <= 5; s++) d.observe({ id: `m${s}`, stream: 'a', seq: s })
    d.forget({ id: 'm3', stream: 'a', seq: 3 })
    assert.equal(d.observe({ id: 'm3', stream: 'a', seq: 3 }), true)
    assert.equal(d.observe({ id: 'm4', stream: 'a', seq: 4 }), false)
    assert.equal(d.highWater('a'), 5)
  })
})
