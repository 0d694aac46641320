/**
 * The leader's own copy of an entry counts towards the commit quorum only once it is durable
 * (after the driver persisted the Ready that held it), as a follower's counts only once the
 * follower acknowledged it. Raft thesis 10.2.1: the leader may send before it writes, and a
 * majority of followers that wrote an entry commit it without the leader's copy.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MessageType } from '../../../src/consensus/raft/index.ts'
import type { Message } from '../../../src/consensus/raft/index.ts'
import { RawGroup } from './raw-group.ts'

const enc = new TextEncoder()

/** a group of three with `a` leading and every entry applied everywhere */
function elected (): RawGroup {
  const g = new RawGroup(['a', 'b', 'c'])
  g.elect('a')
  g.inFlight = []
  return g
}

/** `to` stores the appends among `msgs` and answers them; returns its append responses */
function followerAcks (g: RawGroup, to: string, msgs: Message[]): Message[] {
  for (const m of msgs) if (m.to === to) g.peer(to).raw.step(m)
  g.flush([to])
  return g.inFlight.splice(0).filter(m => m.type === MessageType.AppResp)
}

describe('the leader\'s own copy counts once it is durable', () => {
  it('a follower\'s ack of an entry the leader has not persisted does not commit it', () => {
    const g = elected()
    const a = g.peer('a')
    const before = a.raw.status().commit
    a.raw.propose(enc.encode('x'))
    // the leader sends first and persists in parallel: its Ready is out, not yet written
    const rd = a.raw.ready()
    const x = rd.entries[rd.entries.length - 1].index
    for (const m of followerAcks(g, 'b', rd.messages)) a.raw.step(m)
    assert.equal(a.raw.status().commit, before, 'one durable copy (b\'s) is not a majority')
    // the leader's write ends: its copy and b's commit x, and the followers are told
    g.persist('a', rd)
    assert.equal(a.raw.status().commit, x)
    const next = a.raw.ready()
    assert.deepEqual(next.committedEntries.map(e => e.index), [x])
    assert.ok(next.messages.some(m => m.type === MessageType.App && m.to === 'b' && m.commit === x), 'b learns the commit index')
  })

  it('two followers that wrote an entry commit it before the leader\'s own write ends', () => {
    const g = elected()
    const a = g.peer('a')
    a.raw.propose(enc.encode('y'))
    const rd = a.raw.ready()
    const y = rd.entries[rd.entries.length - 1].index
    for (const f of ['b', 'c']) for (const m of followerAcks(g, f, rd.messages)) a.raw.step(m)
    assert.equal(a.raw.status().commit, y, 'b and c are a durable majority')
  })

  it('a single voter commits its proposal once it has persisted it', () => {
    const g = new RawGroup(['s'])
    g.elect('s')
    const s = g.peer('s').raw
    s.propose(enc.encode('z'))
    const rd = s.ready()
    assert.deepEqual(rd.committedEntries, [], 'not committed while only in memory')
    g.persist('s', rd)
    const next = s.ready()
    assert.deepEqual(next.committedEntries.map(e => new TextDecoder().decode(e.data)), ['z'])
  })
})
