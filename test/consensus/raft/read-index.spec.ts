/**
 * ReadIndex rounds on the leader: which requests confirm themselves (a voter's own read, asked in
 * the leader's term) and which still need heartbeat acks, and the follower's side (the answer
 * brings the commit index; an answer from a term it has left is dropped).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EntryType, MessageType } from '../../../src/consensus/raft/index.ts'
import type { Message } from '../../../src/consensus/raft/index.ts'
import { newMessage } from '../../../src/consensus/raft/messages.ts'
import { RawGroup } from './raw-group.ts'

const enc = new TextEncoder()
const dec = new TextDecoder()

function readRequest (from: string, to: string, ctx: string, askedInTerm: number): Message {
  const m = newMessage(MessageType.ReadIndex, to, from, 0)
  m.logTerm = askedInTerm
  m.entries = [{ term: 0, index: 0, type: EntryType.Normal, data: enc.encode(ctx) }]
  return m
}

describe('ReadIndex confirmation', () => {
  it('a follower of a group of three gets its read point without a heartbeat round', () => {
    const g = new RawGroup(['a', 'b', 'c'])
    g.elect('a')
    g.peer('c').raw.readIndex(enc.encode('r1'))
    g.pump()
    assert.deepEqual(g.heartbeatsWith('r1'), [], 'the request and the leader are a quorum')
    assert.deepEqual(g.peer('c').reads, [{ index: g.peer('a').raw.status().commit, ctx: 'r1' }])
  })

  it('the answer brings the commit index the read waits for, when the commit notice was lost', () => {
    const g = new RawGroup(['a', 'b', 'c'])
    g.elect('a')
    g.peer('a').raw.propose(enc.encode('x'))
    // c stores the entry, but the append that tells it the new commit index is lost
    let commitNotices = 0
    g.pump(m => !(m.to === 'c' && m.type === MessageType.App && m.entries.length === 0 && ++commitNotices > 0))
    const committed = g.peer('a').raw.status().commit
    assert.ok(commitNotices > 0)
    assert.ok(g.peer('c').raw.status().commit < committed, 'c does not know the entry is committed')
    g.peer('c').raw.readIndex(enc.encode('r2'))
    g.pump()
    assert.deepEqual(g.peer('c').reads, [{ index: committed, ctx: 'r2' }])
    assert.equal(g.peer('c').raw.status().commit, committed, 'c can apply up to its read point')
  })

  it('in a group of five the request counts as one ack: one more heartbeat ack confirms it', () => {
    const g = new RawGroup(['a', 'b', 'c', 'd', 'e'])
    g.elect('a')
    g.sent = []
    g.peer('c').raw.readIndex(enc.encode('r3'))
    // only d answers the round: a, c (by its request) and d are three of five
    g.pump(m => !(m.type === MessageType.Heartbeat && m.to !== 'd'))
    assert.equal(g.heartbeatsWith('r3').length, 4, 'a quorum is not reached without the round')
    assert.deepEqual(g.peer('c').reads.map(r => r.ctx), ['r3'])
  })

  it('a read asked in an earlier term, a learner\'s read and the leader\'s own read wait for heartbeat acks', () => {
    const g = new RawGroup(['a', 'b', 'c'], ['l'])
    g.elect('a')
    const a = g.peer('a').raw
    const term = a.status().term
    g.sent = []
    // c asked while it still followed an earlier leader: its request proves nothing of this term
    a.step(readRequest('c', 'a', 'stale', term - 1))
    a.step(readRequest('l', 'a', 'learner', term))
    a.readIndex(enc.encode('own'))
    // nothing answers the rounds: none of the three may be answered
    g.pump(m => m.type !== MessageType.HeartbeatResp)
    assert.equal(g.heartbeatsWith('stale').length, 3)
    assert.equal(g.heartbeatsWith('learner').length, 3)
    assert.equal(g.heartbeatsWith('own').length, 3)
    assert.deepEqual(g.sent.filter(m => m.type === MessageType.ReadIndexResp), [])
    assert.deepEqual(g.peer('a').reads, [])
  })

  it('a follower passing on another peer\'s read does not vouch for it', () => {
    const g = new RawGroup(['a', 'b', 'c'])
    g.elect('a')
    g.sent = []
    const b = g.peer('b').raw
    b.step(readRequest('x', 'b', 'theirs', b.status().term))
    b.readIndex(enc.encode('mine'))
    g.flush()
    const forwarded = g.sent.filter(m => m.type === MessageType.ReadIndex)
    assert.deepEqual(forwarded.map(m => [m.from, m.to, m.logTerm, dec.decode(m.entries[0].data)]), [
      ['x', 'a', 0, 'theirs'],
      ['b', 'a', b.status().term, 'mine']
    ])
  })

  it('a follower that moved to a later term drops the answer of the earlier one', () => {
    const g = new RawGroup(['a', 'b', 'c'])
    g.elect('a')
    const term = g.peer('a').raw.status().term
    g.peer('c').raw.readIndex(enc.encode('r4'))
    g.flush()
    // the request reaches the leader, which answers it at once
    for (const m of g.inFlight.splice(0)) g.peer(m.to).raw.step(m)
    g.flush()
    const answer = g.inFlight.splice(0).find(m => m.type === MessageType.ReadIndexResp)
    assert.ok(answer !== undefined)
    assert.equal(answer.term, term)
    // before the answer arrives, c follows a leader of a later term
    const later = newMessage(MessageType.Heartbeat, 'c', 'b', term + 1)
    g.peer('c').raw.step(later)
    g.peer('c').raw.step(answer)
    g.flush()
    assert.equal(g.peer('c').raw.status().term, term + 1)
    assert.deepEqual(g.peer('c').reads, [], 'c could have voted in the later term: the answer proves nothing now')
  })
})
