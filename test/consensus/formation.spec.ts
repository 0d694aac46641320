/**
 * Group formation without a two-voter window: a mesh born with three voter candidates founds its
 * group with all three as voters (no membership with exactly two voters is ever committed), so it
 * survives the loss of any one founder right after formation; only the lowest candidate a peer sees
 * may found a group, so peers whose views differ still form one. Deterministic: ConsensusManagers
 * on one ManualClock over an in-memory network (mem-mesh.ts), seeded Rngs.
 */
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BOOTSTRAP_SETTLE_MS } from '../../src/consensus/constants.ts'
import { MemMesh } from './mem-mesh.ts'
import type { MemPeer } from './mem-mesh.ts'

let mesh: MemMesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

/** every voter set any peer's membership ever held */
function voterSetsSeen (m: MemMesh): string[][] {
  return [...m.peers.values()].flatMap(p => p.voterSets)
}

function formed (m: MemMesh, peers: MemPeer[], voters: number): boolean {
  if (m.leader() === undefined) return false
  return peers.every(p => p.consensus.status().voters.length === voters && p.consensus.status().role !== 'none')
}

async function threeFounders (seed: number): Promise<MemMesh> {
  const m = new MemMesh()
  for (const [i, id] of ['p1', 'p2', 'p3'].entries()) await m.add(id, seed * 10 + i)
  await m.runUntil(() => formed(m, m.live(), 3), 15_000, 'a group of three voters with a leader')
  return m
}

describe('group formation: three voters at birth', () => {
  it('three candidates found one group of three voters; no peer ever holds a membership of two voters', async () => {
    mesh = await threeFounders(1)
    const m = mesh
    const groups = new Set(m.live().map(p => p.consensus.status().group))
    assert.equal(groups.size, 1, `one group: ${[...groups].join(', ')}`)
    assert.match([...groups][0], /^p1-/, 'founded by the lowest id')
    for (const p of m.live()) assert.deepEqual(p.consensus.status().voters, ['p1', 'p2', 'p3'])
    // let the autopilot run a while: nothing to add, nothing removed
    await m.advance(5_000)
    const sets = voterSetsSeen(m)
    assert.ok(sets.length >= 3, 'every peer saw its membership')
    assert.deepEqual(sets.filter(s => s.length !== 3), [], 'only memberships of three voters')
  })

  for (const victim of [0, 1, 2]) {
    it(`the mesh survives the loss of founder ${victim + 1} of 3 right after formation`, async () => {
      mesh = await threeFounders(2 + victim)
      const m = mesh
      const before = m.leader()!
      const dead = m.live()[victim]
      const leaderDied = dead.id === before
      m.crash(dead.id)
      const rest = m.live()
      await m.runUntil(() => m.leader() !== undefined, 10_000, 'a leader among the two founders left')
      if (leaderDied) assert.notEqual(m.leader(), dead.id)
      const { revision } = await m.settle(rest[0].consensus.kv.put('after/loss', { victim }), 10_000, 'a put after the loss')
      assert.ok(revision > 0)
      const got = await m.settle(rest[1].consensus.kv.get('after/loss'), 10_000, 'a read after the loss')
      assert.deepEqual(got?.value, { victim })
      assert.deepEqual(voterSetsSeen(m).filter(s => s.length === 2), [], 'no membership of two voters')
    })
  }

  it('a founder lost before the others hold its snapshot: they found a group of their own once they see it failed', async () => {
    const m = mesh = new MemMesh()
    for (const [i, id] of ['p1', 'p2', 'p3'].entries()) await m.add(id, 50 + i)
    const p1 = m.peers.get('p1')!
    // p1 dies the moment it has founded the group (its campaign never reaches anyone)
    p1.consensus.addEventListener('membership:changed', () => { m.crash('p1') }, { once: true })
    await m.runUntil(() => p1.down, 10_000, 'p1 to found the group')
    assert.deepEqual(p1.consensus.status().voters, ['p1', 'p2', 'p3'])
    const rest = m.live()
    assert.ok(rest.every(p => p.consensus.status().group === ''), 'the others never heard of it')
    await m.runUntil(() => m.leader() !== undefined && rest.every(p => p.consensus.status().group !== '' && p.consensus.status().role !== 'none'), 15_000, 'p2 and p3 in a group with a leader')
    assert.match(rest[0].consensus.status().group, /^p2-/)
    const { revision } = await m.settle(rest[1].consensus.kv.put('reborn', 1), 10_000, 'a put in the new group')
    assert.equal((await m.settle(rest[0].consensus.kv.get('reborn'), 10_000, 'a read'))?.revision, revision)
  })

  it('with four candidates the three lowest found the group and the fourth joins as a learner', async () => {
    const m = mesh = new MemMesh()
    for (const [i, id] of ['p1', 'p2', 'p3', 'p4'].entries()) await m.add(id, 60 + i)
    await m.runUntil(() => formed(m, m.live(), 3) && m.peers.get('p4')!.consensus.status().role === 'learner', 20_000, 'three voters and a learner')
    assert.deepEqual(m.peers.get('p1')!.consensus.status().voters, ['p1', 'p2', 'p3'])
    assert.deepEqual(m.peers.get('p1')!.consensus.status().learners, ['p4'])
    assert.deepEqual(voterSetsSeen(m).filter(s => s.length !== 3), [])
  })

  it('peers that see different candidates form one group: only the lowest a peer sees may found one', async () => {
    const m = mesh = new MemMesh()
    // p4 does not see p1 in its membership, and p1 is not seen by anyone during the first second
    for (const [i, id] of ['p2', 'p3', 'p4'].entries()) await m.add(id, 70 + i)
    m.hide('p4', 'p1')
    // the whole settle window: p2, the lowest of three, founds only once its set held that long
    await m.advance(BOOTSTRAP_SETTLE_MS)
    assert.equal(m.live().filter(p => p.consensus.status().group !== '').length, 0, 'nobody founded a group within the settle window')
    await m.add('p1', 69)
    await m.runUntil(() => formed(m, m.live().filter(p => p.id !== 'p4'), 3) && m.peers.get('p4')!.consensus.status().group !== '', 20_000, 'one group')
    const groups = new Set(m.live().map(p => p.consensus.status().group))
    assert.equal(groups.size, 1, `one group: ${[...groups].join(', ')}`)
    assert.match([...groups][0], /^p1-/)
    assert.deepEqual(m.peers.get('p1')!.consensus.status().voters, ['p1', 'p2', 'p3'])
    assert.deepEqual(voterSetsSeen(m).filter(s => s.length === 2), [])
    // p1 alone founded: every peer's first membership is its group's, p4 (which never saw p1, and
    // saw p2 lower than itself) included
    for (const p of m.live()) assert.deepEqual(p.voterSets[0], ['p1', 'p2', 'p3'], `${p.id}'s first membership`)
  })

  it('a group founded alone grows 1 -> 3 back to back: it never rests at two voters', async () => {
    const m = mesh = new MemMesh()
    const p1 = await m.add('p1', 90)
    const changes: Array<{ at: number, voters: number }> = []
    p1.consensus.addEventListener('membership:changed', e => { changes.push({ at: m.clock.monotonic(), voters: e.detail.voters.length }) })
    await m.runUntil(() => p1.consensus.status().leader === 'p1', 10_000, 'p1 to found a group alone')
    await m.add('p2', 91)
    await m.runUntil(() => p1.consensus.status().learners.includes('p2'), 10_000, 'p2 to join as a learner')
    // p2 is caught up and stable long before p3 comes: the group stays at one voter meanwhile
    await m.advance(6_000)
    assert.deepEqual(p1.consensus.status().voters, ['p1'], 'not promoted while it would make two voters')
    await m.add('p3', 92)
    await m.runUntil(() => formed(m, m.live(), 3), 15_000, 'three voters')
    const two = changes.findIndex(c => c.voters === 2)
    assert.ok(two >= 0 && changes[two + 1]?.voters === 3, JSON.stringify(changes))
    assert.ok(changes[two + 1].at - changes[two].at <= 100, `two voters for ${changes[two + 1].at - changes[two].at} simulated ms (the second promotion waits for no autopilot round)`)
  })

  it('with two candidates the lowest founds the group alone (never a group of two at birth)', async () => {
    const m = mesh = new MemMesh()
    for (const [i, id] of ['p1', 'p2'].entries()) await m.add(id, 80 + i)
    await m.runUntil(() => m.peers.get('p1')!.consensus.status().group !== '', 10_000, 'p1 to found a group')
    assert.deepEqual(m.peers.get('p1')!.voterSets[0], ['p1'])
  })
})
