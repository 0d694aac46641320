/**
 * Reply records and sequence marks (reply-records.ts): a durable send is kept from running twice
 * by its sender's mark however many turns come after it; requests by their bounded records.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ReplyRecords, liveReplyRecords } from '../../src/agents/reply-records.ts'
import { DEDUP_WINDOW_MS, SEQ_MARK_RETENTION_MS } from '../../src/agents/constants.ts'
import { ManualClock } from '../../src/util/clock.ts'
import type { AgentState } from '../../src/agents/types.ts'

/** an agent state map over a plain Map (what the records need of a Y.Map) */
function mapState (): AgentState & { size: () => number } {
  const m = new Map<string, unknown>()
  return {
    get: k => m.get(k),
    set: (k, v) => { m.set(k, v) },
    delete: k => { m.delete(k) },
    has: k => m.has(k),
    entries: () => m.entries(),
    toJSON: () => Object.fromEntries(m),
    size: () => m.size
  }
}

describe('reply records', () => {
  it('a sender\'s mark answers every seq at or below it, for that sender only', () => {
    const records = new ReplyRecords(mapState(), new ManualClock(1000))
    records.record('m-5', { value: 5 }, { sender: 'peerA', seq: 5 })
    assert.deepEqual(records.get('m-5', { sender: 'peerA', seq: 5 }), { reply: null })
    assert.deepEqual(records.get('m-3', { sender: 'peerA', seq: 3 }), { reply: null }, 'an earlier seq of the same channel')
    assert.equal(records.get('m-6', { sender: 'peerA', seq: 6 }), undefined, 'the next seq is new')
    assert.equal(records.get('m-5', { sender: 'peerB', seq: 5 }), undefined, 'another sender\'s seqs are its own')
    assert.equal(records.get('m-5'), undefined, 'a sequenced delivery leaves no record by id')
    // a mark never goes down (a late copy of an older delivery raising it again)
    records.record('m-2', null, { sender: 'peerA', seq: 2 })
    assert.deepEqual(records.get('m-4', { sender: 'peerA', seq: 4 }), { reply: null })
  })

  it('marks outlast any number of later turns; records by id are pruned oldest first', () => {
    const clock = new ManualClock(1000)
    const state = mapState()
    const records = new ReplyRecords(state, clock, { max: 16 })
    records.record('durable-1', null, { sender: 'peerA', seq: 1 })
    records.record('req-0', { value: 0 })
    for (let i = 1; i <= 5000; i++) {
      clock.advance(1)
      records.record(`req-${i}`, { value: i })
      if (i % 10 === 0) records.record(`durable-${i}`, null, { sender: 'peerB', seq: i })
    }
    assert.deepEqual(records.get('durable-1', { sender: 'peerA', seq: 1 }), { reply: null }, 'the first durable send is still known')
    assert.equal(records.get('req-0'), undefined, 'the first request\'s record was pruned')
    assert.deepEqual(records.get('req-5000'), { reply: { value: 5000 } })
    assert.ok(state.size() <= 16 + 2, `records and marks stay bounded (${state.size()})`)
  })

  it('keeps at most maxMarks senders, dropping the least recently raised', () => {
    const clock = new ManualClock(1000)
    const state = mapState()
    const records = new ReplyRecords(state, clock, { maxMarks: 8 })
    for (let s = 0; s < 20; s++) { clock.advance(1); records.record(`m-${s}`, null, { sender: `peer${s}`, seq: 1 }) }
    assert.ok(state.size() <= 8, `${state.size()} marks`)
    assert.deepEqual(records.get('x', { sender: 'peer19', seq: 1 }), { reply: null }, 'the latest sender is kept')
    assert.equal(records.get('x', { sender: 'peer0', seq: 1 }), undefined, 'the oldest went')
    // a new ReplyRecords over the same map (the next owner) counts what is there
    const next = new ReplyRecords(state, clock, { maxMarks: 8 })
    next.record('m-n', null, { sender: 'peerNew', seq: 1 })
    assert.ok(state.size() <= 8)
  })

  it('a compacted generation keeps marks for their retention and records for the dedup window', () => {
    const clock = new ManualClock(1000)
    const state = mapState()
    const records = new ReplyRecords(state, clock)
    records.record('old-req', { v: 1 })
    records.record('old-send', null, { sender: 'peerOld', seq: 9 })
    clock.advance(DEDUP_WINDOW_MS + 1)
    records.record('new-send', null, { sender: 'peerNew', seq: 3 })
    let kept = new Map(liveReplyRecords(state, clock.now(), DEDUP_WINDOW_MS))
    assert.equal(kept.size, 2, 'the expired request record is dropped, both marks kept')
    const carried = mapState()
    for (const [k, v] of kept) carried.set(k, v)
    assert.deepEqual(new ReplyRecords(carried, clock).get('old-send', { sender: 'peerOld', seq: 9 }), { reply: null })
    clock.advance(SEQ_MARK_RETENTION_MS)
    kept = new Map(liveReplyRecords(state, clock.now(), DEDUP_WINDOW_MS))
    assert.equal(kept.size, 1, 'a mark not raised within its retention goes')
  })
})
