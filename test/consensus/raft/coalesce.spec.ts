/**
 * coalesceMessages: the messages of one Ready for one peer, merged where Raft allows it. A merged
 * append must leave the follower exactly where the separate appends would have.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EntryType, MemoryRaftStorage, MessageType, RawNode, coalesceMessages, newMessage } from '../../../src/consensus/raft/index.ts'
import type { Entry, Message } from '../../../src/consensus/raft/index.ts'
import { seededRng } from '../../../src/util/prng.ts'

const ent = (index: number, term: number, size = 1): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(size).fill(index & 0xff) })

function app (prev: number, prevTerm: number, entries: Entry[], commit: number, term = 2): Message {
  const m = newMessage(MessageType.App, 'f', 'l', term)
  m.index = prev
  m.logTerm = prevTerm
  m.entries = entries
  m.commit = commit
  return m
}

function appResp (index: number, reject = false, term = 2): Message {
  const m = newMessage(MessageType.AppResp, 'l', 'f', term)
  m.index = index
  m.reject = reject
  return m
}

describe('coalesceMessages', () => {
  it('merges appends that continue each other into one with every entry and the highest commit', () => {
    const a = app(4, 1, [ent(5, 2), ent(6, 2)], 4)
    const b = app(6, 2, [ent(7, 2)], 5)
    const c = app(7, 2, [], 7) // a commit update at the end
    const out = coalesceMessages([a, b, c], 1 << 20)
    assert.equal(out.length, 1)
    assert.deepEqual(out[0].entries.map(e => e.index), [5, 6, 7])
    assert.equal(out[0].index, 4)
    assert.equal(out[0].logTerm, 1)
    assert.equal(out[0].commit, 7)
    assert.deepEqual(a.entries.map(e => e.index), [5, 6], 'inputs are not modified')
  })

  it('an empty append with the same previous entry is absorbed by the append that follows', () => {
    const out = coalesceMessages([app(6, 2, [], 5), app(6, 2, [ent(7, 2)], 6)], 1 << 20)
    assert.equal(out.length, 1)
    assert.deepEqual(out[0].entries.map(e => e.index), [7])
    assert.equal(out[0].commit, 6)
  })

  it('keeps apart what cannot be one append: a gap, another term, anything in between, the size bound', () => {
    assert.equal(coalesceMessages([app(4, 1, [ent(5, 2)], 4), app(6, 2, [ent(7, 2)], 4)], 1 << 20).length, 2, 'gap')
    assert.equal(coalesceMessages([app(4, 1, [ent(5, 2)], 4), app(5, 2, [ent(6, 3)], 4, 3)], 1 << 20).length, 2, 'term')
    const hb = newMessage(MessageType.Heartbeat, 'f', 'l', 2)
    assert.deepEqual(coalesceMessages([app(4, 1, [ent(5, 2)], 4), hb, app(5, 2, [ent(6, 2)], 4)], 1 << 20).map(m => m.type), [MessageType.App, MessageType.Heartbeat, MessageType.App])
    assert.equal(coalesceMessages([app(4, 1, [ent(5, 2, 600)], 4), app(5, 2, [ent(6, 2, 600)], 4)], 1000).length, 2, 'size bound')
  })

  it('collapses accepted append responses to the highest; rejections stay as they are', () => {
    assert.deepEqual(coalesceMessages([appResp(5), appResp(7), appResp(6)], 1 << 20).map(m => m.index), [7])
    const out = coalesceMessages([appResp(5), appResp(3, true), appResp(8)], 1 << 20)
    assert.deepEqual(out.map(m => [m.index, m.reject]), [[5, false], [3, true], [8, false]])
  })

  it('a follower that steps the merged append ends where the separate appends take it', () => {
    const follower = (): RawNode => {
      const storage = MemoryRaftStorage.bootstrap({ voters: ['l', 'f'], learners: [] })
      return new RawNode({ id: 'f', storage, rng: seededRng(1) })
    }
    const msgs = [app(1, 1, [ent(2, 2), ent(3, 2)], 1), app(3, 2, [ent(4, 2)], 3), app(4, 2, [], 4)]
    const separate = follower()
    for (const m of msgs) separate.step(m)
    const merged = follower()
    for (const m of coalesceMessages(msgs, 1 << 20)) merged.step(m)
    const view = (n: RawNode): unknown => ({ last: n.raft.raftLog.lastIndex(), commit: n.raft.raftLog.committed, term: n.raft.term, lead: n.raft.lead })
    assert.deepEqual(view(merged), view(separate))
    assert.deepEqual(view(merged), { last: 4, commit: 4, term: 2, lead: 'l' })
    const acks = (n: RawNode): number[] => n.ready().messages.filter(m => m.type === MessageType.AppResp && !m.reject).map(m => m.index)
    assert.equal(Math.max(...acks(separate)), Math.max(...acks(merged)), 'the same highest acknowledgement')
  })
})
