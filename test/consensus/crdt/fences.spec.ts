/**
 * Writer fences (fences.ts): a new owner records in the doc what it took over; a deposed owner's
 * later writes are hidden on every replica, whichever keys they touch. The writer-epoch rule alone
 * decides per key, so a late write of a key the next owner never wrote (an appended item, a reply
 * record, a delete) survived the merge: the effect of a turn that was never acknowledged, re-sent
 * to the new owner and applied there again.
 *
 * Three docs with fixed client ids: the deposed owner (epoch 5), the next owner (epoch 6) and a
 * replica; every scenario runs for several client-id orders and both merge orders.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { FENCE_MAP, YKeyValue, decodeKvEntry, fenceDoc, readFences, type StoredKvEntry } from '../../../src/consensus/crdt/index.ts'

/** brings `to` up to date with `from` (one direction) */
function push (from: Y.Doc, to: Y.Doc): void {
  Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)))
}

function exchangeAll (docs: Y.Doc[]): void {
  for (const a of docs) for (const b of docs) if (a !== b) push(a, b)
}

function docWithClient (client: number): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = client
  return doc
}

function kv (doc: Y.Doc, epoch?: number): YKeyValue<unknown> {
  const m = new YKeyValue<unknown>(doc.getArray<StoredKvEntry>('state'))
  if (epoch !== undefined) m.writerEpoch = epoch
  return m
}

/** what a reader of `doc` sees: entries, size and keys, from a map made now and one kept open */
function seen (doc: Y.Doc, open?: YKeyValue<unknown>): unknown {
  const now = kv(doc)
  const view = { json: now.toJSON(), size: now.size, keys: now.keys().sort() }
  if (open != null) assert.deepEqual({ json: open.toJSON(), size: open.size, keys: open.keys().sort() }, view, 'a map open through the merge reads what a new one reads')
  now.destroy()
  return view
}

const CLIENT_SETS = [[11, 22, 33], [33, 22, 11], [22, 33, 11], [1_000_003, 7, 500_000]] as const
const ORDERS = ['late-write-first', 'fence-first'] as const

interface Run { old: Y.Doc, next: Y.Doc, replica: Y.Doc, oldKv: YKeyValue<unknown>, nextKv: YKeyValue<unknown>, replicaKv: YKeyValue<unknown> }

/**
 * the acknowledged state (value 3, other 'x') is on all three; the next owner takes over under
 * epoch 6 (fenced when `fence`); the deposed owner, cut off, rewrites `value`, appends
 * `item-late`, deletes `other`; then the cut heals in `order`
 */
function deposedLateTurn ([oc, nc, rc]: readonly number[], order: typeof ORDERS[number], fence: boolean, nextWrites?: (m: YKeyValue<unknown>) => void): Run {
  const old = docWithClient(oc)
  const next = docWithClient(nc)
  const replica = docWithClient(rc)
  const oldKv = kv(old, 5)
  const replicaKv = kv(replica)
  oldKv.set('value', 3)
  oldKv.set('other', 'x')
  exchangeAll([old, next, replica])
  if (fence) fenceDoc(next, 6)
  const nextKv = kv(next, 6)
  nextWrites?.(nextKv)
  oldKv.set('value', 4)
  oldKv.set('item-late', true)
  oldKv.delete('other')
  if (order === 'late-write-first') { push(old, replica); push(next, replica) } else { push(next, replica); push(old, replica) }
  exchangeAll([old, next, replica])
  return { old, next, replica, oldKv, nextKv, replicaKv }
}

describe('writer fences', () => {
  it('the deposed owner\'s late writes of keys the next owner never wrote are hidden on every replica, for both merge orders', () => {
    for (const clients of CLIENT_SETS) {
      for (const order of ORDERS) {
        const r = deposedLateTurn(clients, order, true)
        const acknowledged = { json: { value: 3, other: 'x' }, size: 2, keys: ['other', 'value'] }
        const where = `clients ${clients.join('/')}, ${order}`
        assert.deepEqual(seen(r.old, r.oldKv), acknowledged, `deposed owner, ${where}`)
        assert.deepEqual(seen(r.next, r.nextKv), acknowledged, `next owner, ${where}`)
        assert.deepEqual(seen(r.replica, r.replicaKv), acknowledged, `replica, ${where}`)
      }
    }
  })

  it('without the fence the same late turn shows after the merge (the scenario reaches the gap)', () => {
    for (const order of ORDERS) {
      const r = deposedLateTurn(CLIENT_SETS[0], order, false)
      assert.deepEqual(seen(r.replica), { json: { value: 4, 'item-late': true }, size: 2, keys: ['item-late', 'value'] }, order)
    }
  })

  it('what the next owner writes after its fence still wins, and its own new keys show', () => {
    for (const clients of CLIENT_SETS) {
      for (const order of ORDERS) {
        const r = deposedLateTurn(clients, order, true, m => { m.set('value', 10); m.set('mine', 1) })
        for (const doc of [r.old, r.next, r.replica]) {
          assert.deepEqual(seen(doc), { json: { value: 10, other: 'x', mine: 1 }, size: 3, keys: ['mine', 'other', 'value'] }, `clients ${clients.join('/')}, ${order}`)
        }
      }
    }
  })

  it('a deposed owner\'s write the next owner caught up on before its fence stays', () => {
    for (const [oc, nc, rc] of CLIENT_SETS) {
      const old = docWithClient(oc)
      const next = docWithClient(nc)
      const replica = docWithClient(rc)
      const oldKv = kv(old, 5)
      oldKv.set('value', 3)
      exchangeAll([old, next, replica])
      // a one-sided cut: the deposed owner's turn reached the replica, the next owner caught up from it
      oldKv.set('value', 4)
      oldKv.set('item-seen', true)
      push(old, replica)
      push(replica, next)
      fenceDoc(next, 6)
      oldKv.set('item-unseen', true) // after the fence: hidden
      exchangeAll([old, next, replica])
      for (const doc of [old, next, replica]) {
        assert.deepEqual(seen(doc), { json: { value: 4, 'item-seen': true }, size: 2, keys: ['item-seen', 'value'] }, `clients ${oc}/${nc}/${rc}`)
      }
    }
  })

  it('fences of two successive epochs: each hides what its owner did not take over', () => {
    for (const [ac, bc, cc] of CLIENT_SETS) {
      for (const order of ORDERS) {
        const a = docWithClient(ac)
        const b = docWithClient(bc)
        const c = docWithClient(cc)
        const aKv = kv(a, 5)
        aKv.set('value', 1)
        exchangeAll([a, b, c])
        fenceDoc(b, 6) // b takes over from value 1
        const bKv = kv(b, 6)
        bKv.set('from-b', 'before c')
        aKv.set('late-a', true) // a, deposed, cut off from b
        // c takes over under 7 from everything a and b wrote so far, b's fence included
        if (order === 'late-write-first') { push(a, c); push(b, c) } else { push(b, c); push(a, c) }
        fenceDoc(c, 7)
        bKv.set('late-b', true) // b, deposed in its turn
        aKv.set('later-a', true)
        exchangeAll([a, b, c])
        const expected = { json: { value: 1, 'from-b': 'before c' }, size: 2, keys: ['from-b', 'value'] }
        for (const doc of [a, b, c]) assert.deepEqual(seen(doc), expected, `clients ${ac}/${bc}/${cc}, ${order}`)
      }
    }
  })

  it('an owner that claims the agent back keeps its own late writes: a fence it never saw does not count', () => {
    for (const [ac, bc, rc] of CLIENT_SETS) {
      const a = docWithClient(ac)
      const b = docWithClient(bc)
      const r = docWithClient(rc)
      const aKv = kv(a, 5)
      aKv.set('value', 1)
      exchangeAll([a, b, r])
      fenceDoc(b, 6) // b was placed, acknowledged nothing, and is gone before its fence left it
      kv(b, 6).set('from-b', true)
      aKv.set('late-a', true)
      push(a, r)
      fenceDoc(a, 7) // a claims the agent back from its own doc, late write included
      aKv.writerEpoch = 7
      aKv.set('value', 2)
      for (const order of [[b, a, r], [a, b, r]]) exchangeAll(order)
      for (const doc of [a, b, r]) assert.deepEqual(seen(doc), { json: { value: 2, 'late-a': true }, size: 2, keys: ['late-a', 'value'] }, `clients ${ac}/${bc}/${rc}`)
      assert.deepEqual(readFences(r).fences.map(f => f.epoch), [7], 'b\'s fence does not count')
    }
  })

  it('a key whose only entries are hidden is absent, and a delete of it by the next owner is a no-op', () => {
    const r = deposedLateTurn(CLIENT_SETS[0], 'fence-first', true)
    assert.equal(r.nextKv.has('item-late'), false)
    assert.equal(r.nextKv.get('item-late'), undefined)
    r.nextKv.delete('item-late')
    assert.deepEqual([...r.nextKv.entries()].map(([k]) => k).sort(), ['other', 'value'])
  })

  it('a writer without an epoch counts as the lowest: after a fence its writes and deletes are hidden, alike on every replica', () => {
    const a = docWithClient(1)
    const b = docWithClient(2)
    const plain = kv(a)
    plain.set('x', 1)
    fenceDoc(a, 1)
    plain.delete('x')
    plain.set('y', 2)
    push(a, b)
    assert.deepEqual([plain.toJSON(), kv(a).toJSON(), kv(b).toJSON()], [{ x: 1 }, { x: 1 }, { x: 1 }])
  })

  it('a fence set earlier in the same transaction already keeps the entries a rewrite replaces', () => {
    const a = docWithClient(3)
    const m = kv(a)
    m.set('k', 0)
    a.transact(() => {
      fenceDoc(a, 1)
      m.set('k', 1) // no epoch, after the fence: hidden, so the entry it replaced must still be there
    })
    assert.deepEqual([m.toJSON(), kv(a).toJSON()], [{ k: 0 }, { k: 0 }])
  })

  it('malformed fences are ignored, not thrown', () => {
    const doc = docWithClient(5)
    const m = kv(doc, 1)
    m.set('a', 1)
    const fences = doc.getMap<unknown>(FENCE_MAP)
    fences.set('not-a-fence', new Uint8Array([1]))
    fences.set('9:1', 'text')
    fences.set('8:1', new Uint8Array([0xff, 0xff, 0xff]))
    assert.equal(readFences(doc).size, 0)
    assert.deepEqual(m.toJSON(), { a: 1 })
    assert.equal(fenceDoc(doc, 2), true)
    assert.equal(fenceDoc(doc, 2), false, 'a client fences an epoch once')
    assert.throws(() => fenceDoc(doc, -1), { name: 'InvalidArgumentError' })
    m.set('b', 2) // still under epoch 1, after the epoch-2 fence: hidden at once
    assert.deepEqual([m.toJSON(), kv(doc).toJSON()], [{ a: 1 }, { a: 1 }])
    m.writerEpoch = 2
    m.set('b', 3)
    assert.deepEqual([m.toJSON(), kv(doc).toJSON()], [{ a: 1, b: 3 }, { a: 1, b: 3 }])
  })

  it('hidden entries stay in the array (the doc is compacted by copying what is visible)', () => {
    const r = deposedLateTurn(CLIENT_SETS[0], 'fence-first', true)
    const stored = r.replica.getArray<StoredKvEntry>('state').toArray().map(e => decodeKvEntry(e)?.k)
    assert.ok(stored.includes('item-late'), 'the late entry is held (Yjs keeps every struct), only not read')
    const copy = docWithClient(99)
    const copyKv = kv(copy, 6)
    for (const [k, v] of kv(r.replica).entries()) copyKv.set(k, v)
    assert.deepEqual(copy.getArray<StoredKvEntry>('state').toArray().map(e => decodeKvEntry(e)?.k).sort(), ['other', 'value'])
  })
})
