/**
 * YKeyValue's index (key -> live entry and its element id, kept from each transaction's own
 * changes instead of re-reading the array): after remote deletes, remote rewrites, concurrent
 * writes and deletes, what a map reads must be what a map freshly opened over the same array
 * reads, every key must have exactly one live element, and a local write after any of these must
 * delete the element that is live now (a stale id would leave a duplicate or delete nothing).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { HybridLogicalClock, YKeyValue, decodeKvEntry, type StoredKvEntry } from '../../../src/consensus/crdt/index.ts'
import { ManualClock } from '../../../src/util/clock.ts'
import { seededRng } from '../../../src/util/prng.ts'

type Policy = 'crdt' | 'lww'

interface Peer { doc: Y.Doc, kv: YKeyValue<number>, clock: ManualClock }

function peer (client: number, policy: Policy = 'crdt'): Peer {
  const doc = new Y.Doc()
  doc.clientID = client
  const clock = new ManualClock(1_000_000)
  const kv = policy === 'crdt'
    ? new YKeyValue<number>(doc.getArray<StoredKvEntry>('kv'))
    : new YKeyValue<number>(doc.getArray<StoredKvEntry>('kv'), { policy: 'lww', hlc: new HybridLogicalClock(clock), peer: `p${client}` })
  return { doc, kv, clock }
}

/** exchanges updates until neither side has anything new (a merge can make the reader delete losers) */
function exchange (a: Y.Doc, b: Y.Doc): void {
  for (let round = 0; round < 10; round++) {
    const toB = Y.encodeStateAsUpdate(a, Y.encodeStateVector(b))
    const toA = Y.encodeStateAsUpdate(b, Y.encodeStateVector(a))
    Y.applyUpdate(b, toB)
    Y.applyUpdate(a, toA)
    if (sameState(a, b)) return
  }
  assert.fail('docs did not settle after 10 exchanges')
}

function sameState (a: Y.Doc, b: Y.Doc): boolean {
  return Buffer.from(Y.encodeStateVector(a)).equals(Buffer.from(Y.encodeStateVector(b))) &&
    Buffer.from(Y.encodeStateAsUpdate(a)).equals(Buffer.from(Y.encodeStateAsUpdate(b)))
}

/** the live array elements by key (undecodable ones under '?') */
function liveByKey (doc: Y.Doc): Map<string, number> {
  const out = new Map<string, number>()
  for (const stored of doc.getArray<StoredKvEntry>('kv').toArray()) {
    const k = decodeKvEntry(stored)?.k ?? '?'
    out.set(k, (out.get(k) ?? 0) + 1)
  }
  return out
}

/** what a map opened now over a copy of the doc reads: the truth the index must match */
function reread (doc: Y.Doc, policy: Policy): Record<string, number> {
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  const kv = policy === 'crdt'
    ? new YKeyValue<number>(copy.getArray<StoredKvEntry>('kv'))
    : new YKeyValue<number>(copy.getArray<StoredKvEntry>('kv'), { policy: 'lww', hlc: new HybridLogicalClock(new ManualClock(1_000_000)), peer: 'reader' })
  const out = kv.toJSON()
  kv.destroy()
  return out
}

/** the index agrees with the array, and (once settled) holds one live element per key */
function assertConsistent (p: Peer, policy: Policy, what: string): void {
  assert.deepEqual(p.kv.toJSON(), reread(p.doc, policy), `${what}: the index reads what the array holds`)
  for (const [k, n] of liveByKey(p.doc)) assert.equal(n, 1, `${what}: key ${k} has ${n} live elements`)
}

describe('YKeyValue index bookkeeping', () => {
  it('a remote delete drops the key from the index, and writing it again leaves one entry on both sides', () => {
    const a = peer(1); const b = peer(2)
    a.kv.set('x', 1); a.kv.set('y', 2)
    exchange(a.doc, b.doc)
    assert.equal(b.kv.get('x'), 1)
    a.kv.delete('x')
    exchange(a.doc, b.doc)
    assert.equal(b.kv.has('x'), false)
    assert.deepEqual(b.kv.toJSON(), { y: 2 })
    b.kv.set('x', 3)
    exchange(a.doc, b.doc)
    for (const p of [a, b]) { assert.equal(p.kv.get('x'), 3); assertConsistent(p, 'crdt', `peer ${p.doc.clientID}`) }
    assert.equal(a.doc.getArray('kv').length, 2)
  })

  it('after a remote rewrite, a local write replaces the remote entry (not the one it replaced)', () => {
    const a = peer(1); const b = peer(2)
    a.kv.set('x', 1)
    exchange(a.doc, b.doc)
    b.kv.set('x', 2)
    exchange(a.doc, b.doc)
    assert.equal(a.kv.get('x'), 2)
    // a's index must now point at b's element: its write deletes that one
    a.kv.set('x', 3)
    assert.deepEqual([...liveByKey(a.doc)], [['x', 1]])
    exchange(a.doc, b.doc)
    for (const p of [a, b]) { assert.equal(p.kv.get('x'), 3); assertConsistent(p, 'crdt', `peer ${p.doc.clientID}`) }
    a.kv.delete('x')
    exchange(a.doc, b.doc)
    for (const p of [a, b]) { assert.equal(p.doc.getArray('kv').length, 0); assert.equal(p.kv.size, 0) }
  })

  it('concurrent writes of a key: both sides keep the same one, delete the other, and write on from it', () => {
    for (const policy of ['crdt', 'lww'] as const) {
      const a = peer(7, policy); const b = peer(3, policy)
      a.kv.set('x', 0)
      exchange(a.doc, b.doc)
      a.kv.set('x', 1)
      b.clock.advance(5)
      b.kv.set('x', 2)
      exchange(a.doc, b.doc)
      assert.equal(a.kv.get('x'), b.kv.get('x'), policy)
      if (policy === 'lww') assert.equal(a.kv.get('x'), 2, 'lww: the later stamp wins')
      for (const p of [a, b]) assertConsistent(p, policy, `${policy}, peer ${p.doc.clientID}`)
      // the loser is gone: whichever side writes next replaces the winner and nothing else
      a.clock.advance(10)
      a.kv.set('x', 9)
      exchange(a.doc, b.doc)
      for (const p of [a, b]) { assert.equal(p.kv.get('x'), 9); assertConsistent(p, policy, `${policy} after the next write`) }
    }
  })

  it('a delete concurrent with a rewrite: the rewrite survives on both sides (crdt)', () => {
    const a = peer(1); const b = peer(2)
    a.kv.set('x', 1)
    exchange(a.doc, b.doc)
    a.kv.delete('x')
    b.kv.set('x', 2)
    exchange(a.doc, b.doc)
    for (const p of [a, b]) { assert.equal(p.kv.get('x'), 2); assertConsistent(p, 'crdt', `peer ${p.doc.clientID}`) }
  })

  it('a remote transaction that deletes and writes many keys at once, received in one update', () => {
    const a = peer(1); const b = peer(2)
    for (let i = 0; i < 50; i++) a.kv.set(`k${i}`, i)
    exchange(a.doc, b.doc)
    a.doc.transact(() => {
      for (let i = 0; i < 50; i += 2) a.kv.delete(`k${i}`)
      for (let i = 1; i < 50; i += 2) a.kv.set(`k${i}`, i * 10)
      a.kv.set('new', 1)
    })
    exchange(a.doc, b.doc)
    assert.equal(b.kv.size, 26)
    assert.equal(b.kv.get('k1'), 10)
    assert.equal(b.kv.has('k0'), false)
    for (const p of [a, b]) assertConsistent(p, 'crdt', `peer ${p.doc.clientID}`)
    // and b writes on from what it received
    for (let i = 1; i < 50; i += 2) b.kv.set(`k${i}`, -i)
    exchange(a.doc, b.doc)
    for (const p of [a, b]) { assert.equal(p.kv.get('k49'), -49); assertConsistent(p, 'crdt', `peer ${p.doc.clientID}`) }
  })

  for (const policy of ['crdt', 'lww'] as const) {
    it(`random sets, deletes and partial syncs among three peers agree with a fresh read at every step (${policy}, seeded)`, () => {
      for (const seed of [11, 12, 13]) {
        const rng = seededRng(seed)
        const pick = (n: number): number => Math.floor(rng.next() * n)
        const peers = [peer(101, policy), peer(202, policy), peer(303, policy)]
        for (let step = 0; step < 300; step++) {
          const p = peers[pick(3)]
          p.clock.advance(1 + pick(3))
          const roll = rng.next()
          const key = `k${pick(12)}`
          if (roll < 0.55) p.kv.set(key, step)
          else if (roll < 0.75) p.kv.delete(key)
          else {
            const q = peers[pick(3)]
            if (q !== p) exchange(p.doc, q.doc)
          }
          if (step % 10 === 0) {
            for (const x of peers) assert.deepEqual(x.kv.toJSON(), reread(x.doc, policy), `seed ${seed} step ${step}: index of ${x.doc.clientID} differs from a fresh read`)
          }
        }
        exchange(peers[0].doc, peers[1].doc)
        exchange(peers[1].doc, peers[2].doc)
        exchange(peers[0].doc, peers[1].doc)
        for (const x of peers) {
          assert.deepEqual(x.kv.toJSON(), peers[0].kv.toJSON(), `seed ${seed}: peers converged`)
          assertConsistent(x, policy, `seed ${seed}, peer ${x.doc.clientID}`)
        }
      }
    })
  }
})
