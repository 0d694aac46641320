import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ConfChangeType, EntryType, MemoryRaftStorage, MessageType, ProposalDroppedError, RawNode
} from '../../../src/consensus/raft/index.ts'
import type { Message, RaftConfig, Ready } from '../../../src/consensus/raft/index.ts'
import { seededRng } from '../../../src/util/prng.ts'

const silent = { info: () => {}, warn: () => {} }
const enc = new TextEncoder()

function node (id: string, storage: MemoryRaftStorage, extra: Partial<RaftConfig> = {}): RawNode {
  return new RawNode({ id, storage, rng: seededRng(1), logger: silent, ...extra })
}

/** persists and applies every pending Ready; returns them */
function drain (n: RawNode, storage: MemoryRaftStorage): Ready[] {
  const out: Ready[] = []
  while (n.hasReady()) {
    const rd = n.ready()
    if (rd.snapshot !== undefined) storage.applySnapshot(rd.snapshot)
    storage.append(rd.entries)
    if (rd.hardState !== undefined) storage.setHardState(rd.hardState)
    out.push(rd)
    n.advance()
  }
  return out
}

describe('RawNode', () => {
  it('a single voter elects itself and commits proposals at once', () => {
    const s = MemoryRaftStorage.bootstrap({ voters: ['a'], learners: [] })
    const n = node('a', s)
    n.campaign()
    drain(n, s)
    assert.equal(n.status().role, 'leader')
    n.propose(enc.encode('x'))
    const rds = drain(n, s)
    const committed = rds.flatMap(r => r.committedEntries).filter(e => e.data.length > 0)
    assert.deepEqual(committed.map(e => new TextDecoder().decode(e.data)), ['x'])
    assert.equal(rds[0].mustSync, true)
  })

  it('drops proposals and reads when there is no leader', () => {
    const s = MemoryRaftStorage.bootstrap({ voters: ['a', 'b', 'c'], learners: [] })
    const n = node('a', s)
    assert.throws(() => { n.propose(enc.encode('x')) }, ProposalDroppedError)
    assert.throws(() => { n.readIndex(enc.encode('r')) }, ProposalDroppedError)
  })

  it('campaigns by itself after an election timeout, with pre-vote first', () => {
    const s = MemoryRaftStorage.bootstrap({ voters: ['a', 'b', 'c'], learners: [] })
    const n = node('a', s)
    for (let i = 0; i < 20 && !n.hasReady(); i++) n.tick()
    const rd = n.ready()
    assert.equal(rd.softState?.role, 'pre-candidate')
    assert.deepEqual(rd.messages.map(m => [m.type, m.to, m.term]), [[MessageType.PreVote, 'b', 1], [MessageType.PreVote, 'c', 1]])
    assert.equal(rd.hardState, undefined, 'a pre-vote changes no persistent state')
  })

  it('a learner never campaigns', () => {
    const s = MemoryRaftStorage.bootstrap({ voters: ['a'], learners: ['b'] })
    const n = node('b', s)
    for (let i = 0; i < 100; i++) n.tick()
    n.campaign()
    assert.equal(n.status().role, 'follower')
  })

  it('refuses local-only message types from the network', () => {
    const s = MemoryRaftStorage.bootstrap({ voters: ['a', 'b'], learners: [] })
    const n = node('a', s)
    const m: Message = { type: MessageType.Hup, to: 'a', from: 'b', term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 }
    assert.throws(() => { n.step(m) }, { name: 'InvalidMessageError' })
  })

  it('refuses malformed messages with InvalidMessageError and leaves its log untouched', () => {
    const s = MemoryRaftStorage.bootstrap({ voters: ['a', 'b'], learners: [] })
    const n = node('a', s)
    const base: Message = { type: MessageType.App, to: 'a', from: 'b', term: 2, logTerm: 1, index: 1, entries: [], commit: 0, reject: false, rejectHint: 0 }
    const e = (index: number, term: number) => ({ index, term, type: EntryType.Normal, data: new Uint8Array() })
    const bad: Array<Partial<Message> | Record<string, unknown>> = [
      { entries: [e(2, 2), e(4, 2)] }, // gap
      { entries: [e(2, 3)] }, // entry from a term after the sender's
      { entries: [e(2, 2), e(3, 1)] }, // terms going back
      { to: 'c' },
      { from: '' },
      { term: -1 },
      { index: 1.5 },
      { type: 99 },
      { type: MessageType.Snap },
      { snapshot: { metadata: { index: 3, term: 1, confState: { voters: ['a'], learners: [] } }, data: new Uint8Array() } },
      { type: MessageType.ReadIndex, entries: [] },
      { entries: [{ index: 2, term: 2, type: 5, data: new Uint8Array() }] },
      { entries: 'x' }
    ]
    for (const patch of bad) {
      assert.throws(() => { n.step({ ...base, ...patch } as Message) }, { name: 'InvalidMessageError' }, JSON.stringify(patch))
    }
    assert.equal(n.status().lastIndex, 1)
    assert.equal(n.status().term, 0)
    n.step({ ...base, entries: [e(2, 2), e(3, 2)] })
    assert.equal(n.status().lastIndex, 3)
  })

  it('restarts from storage with its term, vote and commit', () => {
    const s = MemoryRaftStorage.bootstrap({ voters: ['a'], learners: [] })
    const n = node('a', s)
    n.campaign()
    n.propose(enc.encode('x'))
    drain(n, s)
    const before = n.status()
    const again = node('a', s, { applied: before.applied })
    const after = again.status()
    assert.equal(after.term, before.term)
    assert.equal(after.vote, 'a')
    assert.equal(after.commit, before.commit)
    assert.equal(after.lastIndex, before.lastIndex)
    assert.equal(after.role, 'follower')
  })

  it('bounds the messages in flight to a follower (maxInflightMsgs) until it acknowledges', () => {
    const s = MemoryRaftStorage.bootstrap({ voters: ['a', 'b'], learners: [] })
    const n = node('a', s, { maxInflightMsgs: 2, maxSizePerMsg: 1 })
    n.campaign()
    let rd = n.ready()
    const preVote = rd.messages[0]
    n.advance()
    n.step({ ...preVote, type: MessageType.PreVoteResp, from: 'b', to: 'a' })
    rd = n.ready()
    n.advance()
    n.step({ ...rd.messages[0], type: MessageType.VoteResp, from: 'b', to: 'a' })
    drain(n, s)
    // b acknowledges the leader's empty entry: the progress goes to replicate
    n.step({ type: MessageType.AppResp, from: 'b', to: 'a', term: n.status().term, logTerm: 0, index: 2, entries: [], commit: 0, reject: false, rejectHint: 0 })
    drain(n, s)
    for (let i = 0; i < 5; i++) n.propose(enc.encode(`p${i}`))
    const apps = drain(n, s).flatMap(r => r.messages).filter(m => m.type === MessageType.App && m.entries.length > 0)
    assert.equal(apps.length, 2)
    assert.equal(n.status().progress.b.inflight, 2)
    assert.equal(n.status().progress.b.paused, true)
    // an acknowledgement frees the window and the next appends go out
    n.step({ type: MessageType.AppResp, from: 'b', to: 'a', term: n.status().term, logTerm: 0, index: apps[1].entries[0].index, entries: [], commit: 0, reject: false, rejectHint: 0 })
    const more = drain(n, s).flatMap(r => r.messages).filter(m => m.type === MessageType.App && m.entries.length > 0)
    assert.equal(more.length, 2)
    // reportUnreachable drops the follower back to probing
    n.reportUnreachable('b')
    assert.equal(n.status().progress.b.state, 'StateProbe')
  })

  it('drops proposals once the uncommitted budget is used up', () => {
    const s = MemoryRaftStorage.bootstrap({ voters: ['a', 'b', 'c'], learners: [] })
    const n = node('a', s, { maxUncommittedEntriesSize: 10 })
    n.campaign()
    drain(n, s)
    for (const from of ['b', 'c']) n.step({ type: MessageType.PreVoteResp, from, to: 'a', term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 })
    for (const from of ['b', 'c']) n.step({ type: MessageType.VoteResp, from, to: 'a', term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 })
    assert.equal(n.status().role, 'leader')
    n.propose(new Uint8Array(8))
    assert.throws(() => { n.propose(new Uint8Array(8)) }, ProposalDroppedError)
  })

  it('answers a read at once on a single voter, and applies conf changes it commits', () => {
    const s = MemoryRaftStorage.bootstrap({ voters: ['a'], learners: [] })
    const n = node('a', s)
    n.campaign()
    drain(n, s)
    n.readIndex(enc.encode('r1'))
    const rd = drain(n, s)
    assert.deepEqual(rd.flatMap(r => r.readStates).map(r => r.index), [2])
    n.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 'b' })
    const cc = drain(n, s).flatMap(r => r.committedEntries).find(e => e.type === EntryType.ConfChange)
    assert.ok(cc !== undefined)
    assert.deepEqual(n.applyConfChange({ type: ConfChangeType.AddLearner, nodeId: 'b' }), { voters: ['a'], learners: ['b'] })
    assert.equal(n.status().progress.b.isLearner, true)
  })

  it('validates its config', () => {
    const s = new MemoryRaftStorage()
    assert.throws(() => node('', s), { name: 'InvalidArgumentError' })
    assert.throws(() => node('a', s, { electionTick: 1, heartbeatTick: 1 }), { name: 'InvalidArgumentError' })
    assert.throws(() => node('a', s, { maxInflightMsgs: 0 }), { name: 'InvalidArgumentError' })
  })
})
