/**
 * The leader's own copy of an entry counts towards the commit quorum only once it is durable
 * (after the driver persisted the Ready that held it), as a follower's counts only once the
 * follower acknowledged it. Raft thesis 10.2.1: the leader may send before it writes, and a
 * majority of followers that wrote an entry commit it without the leader's copy.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MemoryRaftStorage, MessageType, RawNode } from '../../../src/consensus/raft/index.ts'
import type { Message, Ready } from '../../../src/consensus/raft/index.ts'
import { seededRng } from '../../../src/util/prng.ts'

const silent = { info: () => {}, warn: () => {} }
const enc = new TextEncoder()

function group (ids: string[]): Map<string, { raw: RawNode, storage: MemoryRaftStorage }> {
  const out = new Map<string, { raw: RawNode, storage: MemoryRaftStorage }>()
  for (const id of ids) {
    const storage = MemoryRaftStorage.bootstrap({ voters: ids, learners: [] })
    out.set(id, { raw: new RawNode({ id, storage, rng: seededRng(id.charCodeAt(0)), logger: silent }), storage })
  }
  return out
}

/** persists and advances one Ready; returns its messages */
function persist (p: { raw: RawNode, storage: MemoryRaftStorage }, rd: Ready): Message[] {
  p.storage.append(rd.entries)
  if (rd.hardState !== undefined) p.storage.setHardState(rd.hardState)
  p.raw.advance()
  return rd.messages
}

/** runs every peer's Readys and delivers every message until nothing is left */
function settle (g: ReturnType<typeof group>): void {
  for (let round = 0; round < 50; round++) {
    const msgs: Message[] = []
    for (const p of g.values()) while (p.raw.hasReady()) msgs.push(...persist(p, p.raw.ready()))
    if (msgs.length === 0) return
    for (const m of msgs) g.get(m.to)?.raw.step(m)
  }
}

/** a group of three with `a` leading and every entry applied everywhere */
function elected (): ReturnType<typeof group> {
  const g = group(['a', 'b', 'c'])
  g.get('a')!.raw.campaign()
  settle(g)
  assert.equal(g.get('a')!.raw.status().role, 'leader')
  return g
}

/** `to` stores the appends in `msgs` and answers them */
function followerAcks (g: ReturnType<typeof group>, to: string, msgs: Message[]): Message[] {
  const f = g.get(to)!
  for (const m of msgs) if (m.to === to) f.raw.step(m)
  const out: Message[] = []
  while (f.raw.hasReady()) out.push(...persist(f, f.raw.ready()))
  return out.filter(m => m.type === MessageType.AppResp)
}

describe('the leader\'s own copy counts once it is durable', () => {
  it('a follower\'s ack of an entry the leader has not persisted does not commit it', () => {
    const g = elected()
    const a = g.get('a')!
    const before = a.raw.status().commit
    a.raw.propose(enc.encode('x'))
    // the leader sends first and persists in parallel: its Ready is out, not yet written
    const rd = a.raw.ready()
    const x = rd.entries[rd.entries.length - 1].index
    for (const m of followerAcks(g, 'b', rd.messages)) a.raw.step(m)
    assert.equal(a.raw.status().commit, before, 'one durable copy (b\'s) is not a majority')
    // the leader's write ends: its copy and b's commit x, and the followers are told
    persist(a, rd)
    assert.equal(a.raw.status().commit, x)
    const next = a.raw.ready()
    assert.deepEqual(next.committedEntries.map(e => e.index), [x])
    assert.ok(next.messages.some(m => m.type === MessageType.App && m.to === 'b' && m.commit === x), 'b learns the commit index')
  })

  it('two followers that wrote an entry commit it before the leader\'s own write ends', () => {
    const g = elected()
    const a = g.get('a')!
    a.raw.propose(enc.encode('y'))
    const rd = a.raw.ready()
    const y = rd.entries[rd.entries.length - 1].index
    for (const f of ['b', 'c']) for (const m of followerAcks(g, f, rd.messages)) a.raw.step(m)
    assert.equal(a.raw.status().commit, y, 'b and c are a durable majority')
  })

  it('a single voter commits its proposal once it has persisted it', () => {
    const storage = MemoryRaftStorage.bootstrap({ voters: ['s'], learners: [] })
    const raw = new RawNode({ id: 's', storage, rng: seededRng(1), logger: silent })
    raw.campaign()
    while (raw.hasReady()) persist({ raw, storage }, raw.ready())
    raw.propose(enc.encode('z'))
    const rd = raw.ready()
    assert.deepEqual(rd.committedEntries, [], 'not committed while only in memory')
    persist({ raw, storage }, rd)
    const next = raw.ready()
    assert.deepEqual(next.committedEntries.map(e => new TextDecoder().decode(e.data)), ['z'])
  })
})
