/**
 * Commit notices (commit-notices.ts): the leader holds the empty appends that only move a
 * caught-up follower's commit index, sends them at once to a follower waiting for an entry it
 * forwarded, and drops them when another message carries the commit index first.
 */
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { CommitNotices } from '../../src/consensus/commit-notices.ts'
import type { CommitNoticeView } from '../../src/consensus/commit-notices.ts'
import { COMMIT_NOTICE_DELAY_MS } from '../../src/consensus/constants.ts'
import { MessageType, ProgressState, newMessage } from '../../src/consensus/raft/index.ts'
import type { Entry, Message } from '../../src/consensus/raft/index.ts'
import { MemMesh } from './mem-mesh.ts'
import type { MemPeer } from './mem-mesh.ts'

const TERM = 4
const entry = (index: number): Entry => ({ term: TERM, index, type: 0, data: new Uint8Array([1]) } as Entry)

function app (to: string, index: number, commit: number, entries: Entry[] = []): Message {
  return { ...newMessage(MessageType.App, to, 'lead', TERM), index, logTerm: TERM, commit, entries }
}

function view (lastIndex: number, states: Record<string, ProgressState> = {}, role = 'leader', term = TERM): CommitNoticeView {
  return { role, term, lastIndex, progress: (peer) => ({ state: states[peer] ?? ProgressState.Replicate }) }
}

const names = (ms: Message[]): string[] => ms.map(m => `${m.to}:${m.entries.length > 0 ? 'entries' : m.type === MessageType.App ? 'notice' : m.type}@${m.commit}`)

describe('commit notices held by the leader', () => {
  it('holds a pure notice; a later message carrying its commit index drops it, else the flush sends it', () => {
    const n = new CommitNotices()
    assert.deepEqual(names(n.filter([app('b', 5, 5), app('c', 5, 5)], view(5))), [], 'both notices held')
    assert.equal(n.pending, true)
    // b gets new entries (their append carries commit 5): b's notice is dropped; c's stays
    assert.deepEqual(names(n.filter([app('b', 5, 5, [entry(6)])], view(6))), ['b:entries@5'])
    assert.deepEqual(names(n.takeHeld(view(6))), ['c:notice@5'])
    assert.equal(n.pending, false)
    // a heartbeat with a lower commit index does not cover a held notice
    n.filter([app('c', 6, 6)], view(6))
    n.filter([{ ...newMessage(MessageType.Heartbeat, 'c', 'lead', TERM), commit: 5 }], view(6))
    assert.deepEqual(names(n.takeHeld(view(6))), ['c:notice@6'])
  })

  it('tells a follower at once when the commit index covers an entry it forwarded, and only then', () => {
    const n = new CommitNotices()
    n.noteForwarded('b', 7, TERM)
    assert.deepEqual(names(n.filter([app('b', 7, 6)], view(7))), [], 'its entry 7 is not committed yet: held')
    assert.deepEqual(names(n.filter([app('b', 7, 7), app('c', 7, 7)], view(7))), ['b:notice@7'], 'committed: b is told now, c waits')
    assert.deepEqual(names(n.filter([app('b', 8, 8)], view(8))), [], 'b forwarded nothing since: held')
  })

  it('never holds a probe, an append behind the leader\'s last index, a heartbeat, a snapshot, or another term\'s notice', () => {
    const n = new CommitNotices()
    const kept = [
      app('b', 5, 5),
      app('c', 4, 5),
      { ...newMessage(MessageType.Heartbeat, 'd', 'lead', TERM), commit: 5 },
      { ...app('e', 5, 5), snapshot: { data: new Uint8Array(0), metadata: { index: 5, term: TERM, confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } } },
      { ...app('f', 5, 5), term: TERM - 1 }
    ] as Message[]
    const out = n.filter(kept, view(5, { b: ProgressState.Probe }))
    assert.equal(out.length, kept.length)
    assert.equal(n.pending, false)
  })

  it('drops what it holds when this peer no longer leads in that term', () => {
    const n = new CommitNotices()
    n.filter([app('b', 5, 5)], view(5))
    assert.deepEqual(n.takeHeld(view(5, {}, 'leader', TERM + 1)), [])
    n.filter([app('b', 5, 5)], view(5))
    assert.deepEqual(n.filter([app('b', 5, 5)], view(5, {}, 'follower')).length, 1, 'a follower holds nothing')
    assert.equal(n.pending, false)
  })
})

let mesh: MemMesh | undefined
afterEach(async () => { mesh?.onSend !== undefined && (mesh.onSend = undefined); await mesh?.stop(); mesh = undefined })

/** flushes the event loop (the clock stopped) until `p` settles; fails after `turns` flushes */
async function withClockStopped<T> (m: MemMesh, p: Promise<T>, what: string, turns = 50): Promise<T> {
  let done = false
  p.then(() => { done = true }, () => { done = true })
  for (let i = 0; i < turns && !done; i++) await m.flush()
  if (!done) throw new Error(`${what}: not settled with the clock stopped`)
  return await p
}

describe('commit notices in a group of three', () => {
  it('a write forwarded by a follower is answered without waiting; followers learn a leader\'s own write after the delay', async () => {
    const m = mesh = new MemMesh()
    const peers: MemPeer[] = [await m.add('p1', 11), await m.add('p2', 12), await m.add('p3', 13)]
    await m.runUntil(() => m.leader() !== undefined && peers.every(p => p.consensus.status().voters.length === 3), 15_000, 'three voters and a leader')
    await m.advance(500)
    const leader = m.peers.get(m.leader()!)!
    const followers = peers.filter(p => p !== leader)
    const notices: string[] = []
    m.onSend = (from, to, msg) => { if (from === leader.id && msg.type === MessageType.App && msg.entries.length === 0) notices.push(to) }

    // through a follower: its caller is answered with the clock stopped (no flush timer, no heartbeat)
    const viaFollower = await withClockStopped(m, followers[0].consensus.kv.put('k', 'from-follower'), 'put through a follower')
    assert.ok(viaFollower.revision > 0)
    assert.ok(notices.includes(followers[0].id), 'the follower that forwarded the write was told its commit at once')
    assert.ok(!notices.includes(followers[1].id), 'the other follower was not')

    // on the leader: answered with no notice sent; the followers apply it once the delay passes
    notices.length = 0
    const own = await withClockStopped(m, leader.consensus.kv.put('k', 'from-leader'), 'put on the leader')
    await m.flush()
    assert.deepEqual(notices, [], 'no empty append went out for the leader\'s own write')
    const commit = leader.consensus.status().commitIndex
    assert.ok(followers.every(f => f.consensus.status().appliedIndex < commit), 'followers have not applied it yet')
    await m.advance(COMMIT_NOTICE_DELAY_MS, COMMIT_NOTICE_DELAY_MS)
    assert.deepEqual(notices.sort(), followers.map(f => f.id).sort(), 'the flush told both followers')
    assert.ok(followers.every(f => f.consensus.status().appliedIndex >= commit), 'both applied the leader\'s write')
    for (const f of followers) assert.equal((await m.settle(f.consensus.kv.get('k'), 5_000, 'read'))?.value, 'from-leader')
    assert.ok(own.revision > viaFollower.revision)
  })
})
