/**
 * YKeyValue's per-key bookkeeping on a doc it does not write (a replica holder): an agent turn
 * writes a reply record under the owner's writer epoch, a later turn deletes it and the owner's
 * `collapse` deletes the key's last entry in place. Every holder must then forget the key, as the
 * owner does: a replica kept an empty entry list (and a crowded mark) per such key until the
 * generation copy, about 160 bytes per turn on every holder. What a key that comes back reads, and
 * whether it is kept again, must not change.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { YKeyValue, decodeKvEntry, fenceDoc, type StoredKvEntry } from '../../../src/consensus/crdt/index.ts'

const REMOTE = Symbol('remote')

function docWithClient (client: number): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = client
  return doc
}

/** forwards every local update of each doc to the other at once (as a connected holder applies them) */
function link (a: Y.Doc, b: Y.Doc): () => void {
  const toB = (u: Uint8Array, origin: unknown): void => { if (origin !== REMOTE) Y.applyUpdate(b, u, REMOTE) }
  const toA = (u: Uint8Array, origin: unknown): void => { if (origin !== REMOTE) Y.applyUpdate(a, u, REMOTE) }
  a.on('update', toB)
  b.on('update', toA)
  return () => { a.off('update', toB); b.off('update', toA) }
}

function push (from: Y.Doc, to: Y.Doc): void {
  Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)))
}

function kv (doc: Y.Doc, epoch?: number): YKeyValue<unknown> {
  const m = new YKeyValue<unknown>(doc.getArray<StoredKvEntry>('state'))
  if (epoch !== undefined) m.writerEpoch = epoch
  return m
}

/** live array elements per key */
function elementsByKey (doc: Y.Doc): Record<string, number> {
  const out: Record<string, number> = {}
  for (const stored of doc.getArray<StoredKvEntry>('state').toArray()) {
    const k = decodeKvEntry(stored)?.k ?? '?'
    out[k] = (out[k] ?? 0) + 1
  }
  return out
}

interface Mesh { owner: Y.Doc, replica: Y.Doc, ownerKv: YKeyValue<unknown>, replicaKv: YKeyValue<unknown>, unlink: () => void }

function mesh (fenced: boolean): Mesh {
  const owner = docWithClient(101)
  const replica = docWithClient(202)
  const unlink = link(owner, replica)
  const replicaKv = kv(replica)
  if (fenced) fenceDoc(owner, 1)
  const ownerKv = kv(owner, 1)
  return { owner, replica, ownerKv, replicaKv, unlink }
}

/** one counter turn: the value rewritten and a reply recorded; the previous reply deleted; settled */
function turn (m: Mesh, i: number): void {
  m.owner.transact(() => {
    m.ownerKv.set('value', i)
    m.ownerKv.set(`r${i}`, { ok: true, value: i })
    if (i > 0) m.ownerKv.delete(`r${i - 1}`)
  })
  m.ownerKv.collapse(m.ownerKv.stateVector())
}

describe('YKeyValue retention on a replica holder', () => {
  for (const fenced of [true, false]) {
    const label = fenced ? 'under a writer epoch and a fence' : 'under a writer epoch without a fence'

    it(`${label}: a replica holds no more per-key state after 300 turns than after 10, as much as the owner`, () => {
      const m = mesh(fenced)
      for (let i = 0; i < 10; i++) turn(m, i)
      const after10 = m.replicaKv.retention()
      for (let i = 10; i < 300; i++) turn(m, i)
      const after300 = m.replicaKv.retention()
      assert.deepEqual(after300, after10, 'replica per-key state after 300 turns against 10')
      assert.deepEqual(after300, m.ownerKv.retention(), 'the replica holds what the owner holds')
      // what is left: 'value' and the last reply, one entry each, nothing for collapse to do
      assert.deepEqual(after300, { indexedKeys: 2, keptKeys: 2, keptEntries: 2, crowdedKeys: 0 })
      assert.deepEqual(m.replicaKv.toJSON(), { value: 299, r299: { ok: true, value: 299 } })
      assert.deepEqual(elementsByKey(m.replica), { value: 1, r299: 1 })
      const fresh = kv(m.replica)
      assert.deepEqual(fresh.toJSON(), m.replicaKv.toJSON(), 'a map opened now reads what the open one reads')
      fresh.destroy()
      m.unlink()
    })
  }

  it('a reply key collapsed away and written again under a writer epoch is kept again and beats a lower epoch', () => {
    const m = mesh(false)
    turn(m, 0)
    turn(m, 1) // r0 deleted and collapsed: no entry of it left anywhere
    assert.equal(m.replicaKv.has('r0'), false)
    const before = m.replicaKv.retention()
    // a deposed owner (epoch 0) cut off since before r0 was ever written writes it late
    const deposed = docWithClient(303)
    const deposedKv = kv(deposed, 0)
    deposedKv.set('r0', 'late')
    // the owner writes r0 again under its epoch, then the cut heals
    m.ownerKv.set('r0', 'again')
    assert.deepEqual(m.replicaKv.retention(), { ...before, indexedKeys: before.indexedKeys + 1, keptKeys: before.keptKeys + 1, keptEntries: before.keptEntries + 1 })
    push(deposed, m.replica)
    push(m.owner, deposed)
    assert.equal(m.replicaKv.get('r0'), 'again', 'the higher epoch wins on the replica')
    assert.equal(m.ownerKv.get('r0'), 'again', 'and on the owner')
    assert.equal(deposedKv.get('r0'), 'again', 'and on the deposed owner')
    assert.equal(elementsByKey(m.replica).r0, 2, 'the kept key keeps the losing entry')
    m.unlink()
  })

  it('a key collapsed away on a doc without fences and rewritten without an epoch is a plain key again, alike on both', () => {
    const m = mesh(false)
    turn(m, 0)
    turn(m, 1)
    const plain = kv(m.replica) // a writer with no epoch: its rewrites delete what they replace
    plain.set('r0', 'a')
    plain.set('r0', 'b')
    assert.equal(m.ownerKv.get('r0'), 'b')
    assert.equal(m.replicaKv.get('r0'), 'b')
    assert.equal(elementsByKey(m.owner).r0, 1, 'one element of r0 left on the owner')
    assert.equal(elementsByKey(m.replica).r0, 1, 'and on the replica')
    assert.deepEqual(m.replicaKv.retention(), m.ownerKv.retention(), 'replica and owner hold the same per-key state')
    plain.destroy()
    m.unlink()
  })
})
