/**
 * The CRDT write gate (membership credentials) over the simulated network: A holds `host` and
 * `publisher`, B only `publisher`, C nothing. Agent state docs (`agent/...`) need `host`, other
 * docs `publisher`. Each test fails without one part of the gate: gossip updates, sync content,
 * hold requests, replica placement.
 */
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { DocReplicator, SimNetwork } from '../../src/consensus/crdt/index.ts'
import { agentDocRoles, docWriteGate } from '../../src/security/index.ts'
import type { GateRole, MeshRole, RoleGate } from '../../src/security/index.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { seededRng } from '../../src/util/prng.ts'
import { MemoryStore } from '../../src/storage/memory.ts'

const ROLES: Record<string, MeshRole[]> = { A: ['host', 'publisher'], B: ['publisher'], C: [] }

interface Refusal { peer: string, role: GateRole, what: string }

class FakeRoles implements RoleGate {
  readonly refusals: Refusal[] = []
  allows (peer: string, role: GateRole): boolean {
    const roles = ROLES[peer] ?? []
    return role === 'member' ? roles.length > 0 : roles.includes(role)
  }

  refuse (peer: string, role: GateRole, what: string): void {
    this.refusals.push({ peer, role, what })
  }
}

interface Peer { id: string, replicator: DocReplicator, roles: FakeRoles }

let peers: Peer[] = []
afterEach(async () => {
  for (const p of peers) await p.replicator.stop()
  peers = []
})

async function mesh (): Promise<{ net: SimNetwork, a: Peer, b: Peer, c: Peer }> {
  const net = new SimNetwork({ rng: seededRng(7) })
  const clock = new ManualClock(1_700_000_000_000)
  for (const [i, id] of ['A', 'B', 'C'].entries()) {
    const roles = new FakeRoles()
    const replicator = new DocReplicator(
      { transport: net.connect(id), store: new MemoryStore(), clock, rng: seededRng(i + 1), writeGate: docWriteGate(roles, { roleFor: agentDocRoles('agent/') }) },
      { mesh: 'test', antiEntropyIntervalMs: 60_000, syncCooldownMs: 0 }
    )
    await replicator.start()
    peers.push({ id, replicator, roles })
  }
  await net.settle()
  return { net, a: peers[0], b: peers[1], c: peers[2] }
}

const text = (d: Y.Doc): string => d.getText('t').toString()

describe('CRDT write gate', () => {
  it('refuses gossip updates from a peer without the role the doc needs; the doc is unchanged', async () => {
    const { net, a, b, c } = await mesh()
    const docs = new Map<string, Y.Doc>()
    for (const p of [a, b, c]) {
      for (const id of ['agent/x', 'notes']) docs.set(`${p.id}:${id}`, await p.replicator.replicateState(id, { replicas: 0 }))
    }
    await net.settle()
    docs.get('C:agent/x')!.getText('t').insert(0, 'from C ')
    docs.get('C:notes')!.getText('t').insert(0, 'from C ')
    docs.get('B:agent/x')!.getText('t').insert(0, 'from B ')
    docs.get('B:notes')!.getText('t').insert(0, 'from B ')
    await net.settle()
    assert.equal(text(docs.get('A:notes')!), 'from B ', 'a publisher writes user docs; a peer without credential does not')
    assert.equal(text(docs.get('A:agent/x')!), '', 'only hosts write agent state docs')
    assert.ok(a.roles.refusals.some(r => r.peer === 'C' && r.role === 'host' && r.what.includes('agent/x')))
    assert.ok(a.roles.refusals.some(r => r.peer === 'C' && r.role === 'publisher' && r.what.includes('notes')))
    assert.ok(a.roles.refusals.some(r => r.peer === 'B' && r.role === 'host' && r.what.includes('agent/x')))
    assert.ok(!a.roles.refusals.some(r => r.peer === 'B' && r.what.includes('notes')))
  })

  it('lets a peer without credential read by sync, and refuses what it sends only when it would change the doc', async () => {
    const { net, a, c } = await mesh()
    const da = await a.replicator.replicateState('agent/y', { replicas: 0 })
    da.getText('t').insert(0, 'state')
    da.getText('t').delete(0, 1)
    const dc = await c.replicator.replicateState('agent/y', { replicas: 0, syncFrom: [a.id] })
    await net.settle()
    assert.equal(text(dc), 'tate', 'C caught up from A')
    assert.equal(a.roles.refusals.length, 0, 'what C sent back held nothing new: nothing refused')

    dc.getText('t').insert(0, 'evil ')
    await assert.rejects(c.replicator.syncWith(dc, a.id), { name: 'UnauthorizedError' })
    await net.settle()
    assert.equal(text(da), 'tate', "A's doc unchanged")
    assert.ok(a.roles.refusals.some(r => r.peer === 'C' && r.what.includes('sync')))
    // and the other way round: A pulling from C refuses C's content too
    await assert.rejects(a.replicator.syncWith(da, c.id), { name: 'UnauthorizedError' })
    assert.equal(text(da), 'tate')
  })

  it('refuses to hold a doc at the request of a peer without the role', async () => {
    const { net, a, b, c } = await mesh()
    const dc = await c.replicator.replicateState('agent/z', { replicas: 0 })
    dc.getText('t').insert(0, 'x')
    await assert.rejects(c.replicator.syncWith(dc, a.id, { hold: true }), { name: 'UnauthorizedError' })
    await net.settle()
    assert.ok(!a.replicator.docIds().includes('agent/z'), 'A holds no replica for C')
    // a publisher may have a user doc held, not an agent doc
    const db = await b.replicator.replicateState('notes-b', { replicas: 0 })
    db.getText('t').insert(0, 'y')
    await b.replicator.syncWith(db, a.id, { hold: true })
    assert.equal(text(a.replicator.getDoc('notes-b')), 'y')
  })

  it('recruits replica holders only among peers that may write the doc', async () => {
    const { net, a, b, c } = await mesh()
    const da = await a.replicator.replicateState('shared', { replicas: 2 })
    da.getText('t').insert(0, 'z')
    await net.settle()
    assert.ok(b.replicator.docIds().includes('shared'), 'B (publisher) holds a replica')
    assert.ok(!c.replicator.docIds().includes('shared'), 'C (no credential) is not recruited')
  })
})
