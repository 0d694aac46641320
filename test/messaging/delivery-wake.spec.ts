/**
 * A durable message whose destination was out of reach waits out a backoff that has grown while
 * it was (up to 30 s); when the network heals, `wake()` sends it again at once instead. Seen in the
 * partition faults: the outbox of a peer cut off for 8 s still waited out a multi-second backoff
 * after the heal before its first retry (docs/faults.md).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DeliveryWorker } from '../../src/messaging/delivery.ts'
import { Outbox } from '../../src/messaging/outbox.ts'
import { createMessageId, rngRandomBytes } from '../../src/messaging/message-id.ts'
import { retryPolicy, sleep } from '../../src/messaging/retry.ts'
import { ClockSkewError, UnreachableError } from '../../src/errors.ts'
import { DELIVERY_CLOCK_HOLD_MAX_MS, DELIVERY_CLOCK_HOLD_TOTAL_MAX_MS } from '../../src/messaging/constants.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { componentLogger } from '../../src/util/logger.ts'
import { seededRng } from '../../src/util/prng.ts'
import { sampleEnvelope } from './helpers.ts'
import type { Rng } from '../../src/util/prng.ts'

const ids = rngRandomBytes(seededRng(7))
const timersOf = (clock: ManualClock): number => clock.pendingTimers
/** the top of every jitter range: each backoff wait is 0.99 of its cap (10 s, 20 s, 30 s) */
const topOfRange: Rng = { next: () => 0.99, int: (n) => Math.floor(0.99 * n) }

/** a worker whose backoff starts at 10 s, on a manual clock */
function slowRetryWorker (clock: ManualClock, outbox: Outbox, deliverOnce: () => Promise<void>): DeliveryWorker {
  return new DeliveryWorker({
    outbox,
    clock,
    rng: topOfRange,
    log: componentLogger('test:delivery-wake'),
    policy: retryPolicy({ initialDelayMs: 10_000, maxDelayMs: 30_000, maxAttempts: 20 }),
    deliverOnce
  })
}

/** lets queued promise work run, without moving the manual clock */
async function settle (until: () => boolean, rounds = 500): Promise<void> {
  for (let i = 0; i < rounds && !until(); i++) await new Promise(resolve => setImmediate(resolve))
}

describe('retry sleep with a wake signal', () => {
  it('ends early when woken and leaves no timer; a wake already fired does not wait at all', async () => {
    const clock = new ManualClock(0)
    const wake = new AbortController()
    let done = false
    const p = sleep(clock, 30_000, { wake: wake.signal }).then(() => { done = true })
    await settle(() => false, 5)
    assert.equal(done, false, 'still waiting before the wake')
    wake.abort()
    await p
    assert.equal(clock.now(), 0, 'woken, not timed out')
    assert.equal(timersOf(clock), 0)
    await sleep(clock, 30_000, { wake: wake.signal })
    assert.equal(timersOf(clock), 0)
  })
})

describe('DeliveryWorker.wake', () => {
  it('retries a message waiting out a long backoff at once, keeping its attempt count', async () => {
    const clock = new ManualClock(1000)
    const outbox = await Outbox.open(new MemoryStore(), { clock })
    let reachable = false
    let attempts = 0
    const worker = slowRetryWorker(clock, outbox, async () => {
      attempts++
      if (!reachable) throw new UnreachableError('peer out of reach')
    })
    await worker.start()
    try {
      const entry = await outbox.accept('agent:inbox', seq => sampleEnvelope({ id: createMessageId(ids), seq }))
      worker.kick(entry.channel)
      await settle(() => attempts === 1)
      clock.advance(9_900) // the first wait (10 s cap): the second attempt fails too
      await settle(() => attempts === 2)
      assert.equal(attempts, 2)
      await settle(() => outbox.status(entry.id)?.attempts === 2)
      // now in a 19.8 s wait; the peer comes back and the network says so
      reachable = true
      worker.wake()
      await settle(() => outbox.status(entry.id)?.state === 'delivered')
      assert.equal(outbox.status(entry.id)?.state, 'delivered', 'delivered without waiting out the backoff')
      assert.equal(attempts, 3)
      assert.equal(clock.now(), 1000 + 9_900, 'no clock time passed after the wake')
      assert.equal(outbox.status(entry.id)?.attempts, 2, 'the failed attempts are still counted')
    } finally {
      await worker.stop()
    }
    assert.equal(timersOf(clock), 0, 'no backoff timer left behind')
  })

  it('a wake during an attempt skips the wait after it, if it fails', async () => {
    const clock = new ManualClock(1000)
    const outbox = await Outbox.open(new MemoryStore(), { clock })
    let attempts = 0
    let fail: ((err: Error) => void) | undefined
    const worker = slowRetryWorker(clock, outbox, async () => {
      attempts++
      // the first attempt hangs until told to fail (a stream that dies at the heal); the next succeeds
      if (attempts === 1) await new Promise<void>((_resolve, reject) => { fail = reject })
    })
    await worker.start()
    try {
      const entry = await outbox.accept('agent:inbox', seq => sampleEnvelope({ id: createMessageId(ids), seq }))
      worker.kick(entry.channel)
      await settle(() => fail !== undefined)
      worker.wake() // the network heals while the attempt is in flight
      fail!(new UnreachableError('rpc stream closed before the answer'))
      await settle(() => outbox.status(entry.id)?.state === 'delivered')
      assert.equal(outbox.status(entry.id)?.state, 'delivered', 'retried at once, not after a 9.9 s backoff')
      assert.equal(attempts, 2)
      assert.equal(clock.now(), 1000)
    } finally {
      await worker.stop()
    }
    assert.equal(timersOf(clock), 0)
  })

  it('does nothing before start or after stop', async () => {
    const clock = new ManualClock(0)
    const outbox = await Outbox.open(new MemoryStore(), { clock })
    const worker = new DeliveryWorker({ outbox, clock, rng: seededRng(1), log: componentLogger('test:delivery-wake'), policy: retryPolicy(), deliverOnce: async () => {} })
    worker.wake()
    await worker.start()
    await worker.stop()
    worker.wake()
    assert.equal(timersOf(clock), 0)
  })
})

describe('DeliveryWorker: deliveries refused for the clock', () => {
  it('are not counted as attempts while the waits add up to the bound, then fail instead of waiting for ever', async () => {
    const clock = new ManualClock(1000)
    const outbox = await Outbox.open(new MemoryStore(), { clock })
    let refusals = 0
    // the receiver's clock is behind: every attempt is refused for the stamp, with a 30 s retry-after
    const worker = slowRetryWorker(clock, outbox, async () => {
      refusals++
      throw new ClockSkewError('stamp ahead of the receiver\'s clock', { details: { retryAfterMs: DELIVERY_CLOCK_HOLD_MAX_MS } })
    })
    await worker.start()
    try {
      const entry = await outbox.accept('agent:inbox', seq => sampleEnvelope({ id: createMessageId(ids), seq }))
      const settled = worker.ensureDelivery(entry.id).then(() => undefined, (err: Error) => err)
      worker.kick(entry.channel)
      const rounds = DELIVERY_CLOCK_HOLD_TOTAL_MAX_MS / DELIVERY_CLOCK_HOLD_MAX_MS
      for (let i = 1; i <= rounds; i++) {
        await settle(() => refusals === i)
        assert.equal(refusals, i)
        assert.equal(outbox.status(entry.id)?.attempts, 0, 'a clock refusal is not an attempt')
        clock.advance(DELIVERY_CLOCK_HOLD_MAX_MS)
      }
      // the waits reached the bound: the next refusal fails the entry
      const err = await settled
      assert.equal(err?.name, 'UnreachableError', 'ensureDelivery reports the message undelivered')
      assert.equal(refusals, rounds + 1)
      assert.equal(outbox.status(entry.id)?.state, 'failed')
    } finally {
      await worker.stop()
    }
    assert.equal(timersOf(clock), 0)
  })
})
