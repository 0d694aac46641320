import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MessageOrdering, causalOrder } from '../../src/messaging/ordering.ts'
import { ManualClock } from '../../src/util/clock.ts'
import type { Sequenced } from '../../src/messaging/ordering.ts'

interface Msg extends Sequenced { body: string }
const msg = (sender: string, seq: number, wallMs = seq, logical = 0): Msg =>
  ({ sender, seq, hlc: { wallMs, logical }, body: `${sender}${seq}` })
const bodies = (ms: Msg[]): string[] => ms.map(m => m.body)

describe('MessageOrdering', () => {
  it('releases each sender FIFO, holding early arrivals until the gap fills', () => {
    const o = new MessageOrdering<Msg>(new ManualClock(0))
    assert.deepEqual(bodies(o.push(msg('a', 2)).delivered), [])
    const r = o.push(msg('a', 4))
    assert.deepEqual(r.gaps, [{ stream: 'a', fromSeq: 1, toSeq: 1 }, { stream: 'a', fromSeq: 3, toSeq: 3 }])
    assert.deepEqual(bodies(o.push(msg('a', 1)).delivered), ['a1', 'a2'])
    const last = o.push(msg('a', 3))
    assert.deepEqual(bodies(last.delivered), ['a3', 'a4'])
    assert.deepEqual(last.gaps, [])
    assert.equal(o.push(msg('a', 2)).duplicates, 1)
    assert.equal(o.nextSeq('a'), 5)
  })

  it('skips a gap explicitly after the timeout and reports what was given up', () => {
    const clock = new ManualClock(0)
    const o = new MessageOrdering<Msg>(clock, { skipGapAfterMs: 1000 })
    o.push(msg('a', 1)); o.push(msg('a', 3)); o.push(msg('a', 4))
    clock.advance(999)
    assert.deepEqual(o.expireGaps().delivered, [])
    clock.advance(1)
    const r = o.expireGaps()
    assert.deepEqual(bodies(r.delivered), ['a3', 'a4'])
    assert.deepEqual(r.skipped, [{ stream: 'a', fromSeq: 2, toSeq: 2 }])
    // the late message is now a duplicate, not delivered out of order
    assert.equal(o.push(msg('a', 2)).duplicates, 1)
  })

  it('waits forever for repair when skipping is off', () => {
    const clock = new ManualClock(0)
    const o = new MessageOrdering<Msg>(clock, { skipGapAfterMs: Infinity })
    o.push(msg('a', 2))
    clock.advance(1e9)
    assert.deepEqual(o.expireGaps().gaps, [{ stream: 'a', fromSeq: 1, toSeq: 1 }])
  })

  it('bounds the reorder buffer, dropping the furthest message which then shows up as a gap', () => {
    const o = new MessageOrdering<Msg>(new ManualClock(0), { maxBufferedPerStream: 2 })
    o.push(msg('a', 3)); o.push(msg('a', 5))
    assert.equal(o.push(msg('a', 6)).overflowed, 1)
    const r = o.push(msg('a', 4)) // evicts 5
    assert.equal(r.overflowed, 1)
    assert.equal(o.bufferedCount, 2)
    const done = o.push(msg('a', 1)); o.push(msg('a', 2))
    assert.deepEqual(bodies(done.delivered), ['a1'])
    assert.equal(o.nextSeq('a'), 5)
  })

  it('starts late joiners at the first seq seen when asked', () => {
    const o = new MessageOrdering<Msg>(new ManualClock(0), { startAtFirstSeen: true })
    assert.deepEqual(bodies(o.push(msg('a', 40)).delivered), ['a40'])
    assert.deepEqual(bodies(o.push(msg('a', 42)).delivered), [])
    assert.deepEqual(bodies(o.push(msg('a', 41)).delivered), ['a41', 'a42'])
  })

  it('forgets the least recently active stream beyond the bound', () => {
    const o = new MessageOrdering<Msg>(new ManualClock(0), { maxStreams: 2 })
    o.push(msg('a', 1)); o.push(msg('b', 1)); o.push(msg('c', 1))
    assert.equal(o.nextSeq('a'), undefined)
    assert.equal(o.nextSeq('c'), 2)
  })

  it('orders a batch FIFO per sender and causally across senders, with gaps', () => {
    const o = new MessageOrdering<Msg>(new ManualClock(0))
    // b's reply (b1) happened after a1 (its HLC is higher); a3 is early (a2 missing)
    const batch = [msg('b', 1, 10, 1), msg('a', 3, 12), msg('a', 1, 10, 0), msg('b', 2, 11)]
    const r = o.handleMessageOrdering(batch)
    assert.deepEqual(bodies(r.delivered), ['a1', 'b1', 'b2'])
    assert.deepEqual(r.gaps, [{ stream: 'a', fromSeq: 2, toSeq: 2 }])
    assert.deepEqual(bodies(o.handleMessageOrdering([msg('a', 2, 11, 5)]).delivered), ['a2', 'a3'])
  })
})

describe('causalOrder', () => {
  it('keeps a sender FIFO even when its clock went backwards', () => {
    const ms = [msg('a', 1, 100), msg('a', 2, 50), msg('b', 1, 70)]
    assert.deepEqual(bodies(causalOrder(ms)), ['b1', 'a1', 'a2'])
    assert.deepEqual(bodies(causalOrder([msg('b', 1, 5), msg('a', 1, 5)])), ['a1', 'b1'])
  })
})
