/**
 * YKeyValue writer epochs: an agent's owner stamps its state writes with its placement epoch, and
 * where two writes of a key conflict the higher epoch's entry is kept. The case this protects (docs/
 * faults.md, "acknowledged increments rolled back after the heal"): the old owner, cut off, writes
 * the counter once; the new owner, under the next epoch, acknowledges increments; after the heal
 * the docs merge, and without epochs Yjs's client-id order picked the stale write for about half
 * of the client-id pairs.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { YKeyValue, decodeKvEntry, encodeKvEntry, type StoredKvEntry } from '../../../src/consensus/crdt/index.ts'

function exchange (a: Y.Doc, b: Y.Doc): void {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
}

/** a doc with a fixed client id (the merge order of concurrent writes depends on it) */
function docWithClient (client: number): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = client
  return doc
}

/**
 * old owner (epoch 56) and new owner (epoch 57) start from the same state, write concurrently,
 * then merge in `order`; returns what each side reads afterwards
 */
function splitBrain (oldClient: number, newClient: number, epochs: boolean, order: 'old-first' | 'new-first'): { old: unknown, next: unknown } {
  const oldDoc = docWithClient(oldClient)
  const newDoc = docWithClient(newClient)
  const oldKv = new YKeyValue<number>(oldDoc.getArray<StoredKvEntry>('state'))
  const newKv = new YKeyValue<number>(newDoc.getArray<StoredKvEntry>('state'))
  if (epochs) oldKv.writerEpoch = 56
  oldKv.set('value', 0)
  exchange(oldDoc, newDoc)
  // the cut: the old owner takes one more turn, the new owner (next epoch) acknowledges five
  oldKv.set('value', 1)
  if (epochs) newKv.writerEpoch = 57
  for (let v = 1; v <= 5; v++) newKv.set('value', v)
  if (order === 'old-first') exchange(oldDoc, newDoc)
  else exchange(newDoc, oldDoc)
  return { old: oldKv.get('value'), next: newKv.get('value') }
}

const PAIRS = Array.from({ length: 20 }, (_, i) => [1_000 + i * 7919, 2_000_000 - i * 104_729] as const)

describe('YKeyValue writer epochs', () => {
  it('the next owner\'s delete survives a merge with the deposed owner\'s late write of the key, for every client-id order', () => {
    for (const [a, b] of PAIRS) {
      for (const [oldClient, newClient] of [[a, b], [b, a]]) {
        for (const order of ['old-first', 'new-first'] as const) {
          const oldDoc = docWithClient(oldClient)
          const newDoc = docWithClient(newClient)
          const oldKv = new YKeyValue<number>(oldDoc.getArray<StoredKvEntry>('state'))
          const newKv = new YKeyValue<number>(newDoc.getArray<StoredKvEntry>('state'))
          oldKv.writerEpoch = 56
          oldKv.set('value', 0)
          exchange(oldDoc, newDoc)
          oldKv.set('value', 1) // the deposed owner's late write
          newKv.writerEpoch = 57
          newKv.delete('value') // the next owner's acknowledged delete
          if (order === 'old-first') exchange(oldDoc, newDoc)
          else exchange(newDoc, oldDoc)
          assert.deepEqual([oldKv.has('value'), newKv.has('value')], [false, false], `clients ${oldClient}/${newClient}, ${order}`)
        }
      }
    }
  })

  it('the next owner\'s writes survive a merge with the deposed owner\'s late write, for every client-id order', () => {
    for (const [a, b] of PAIRS) {
      for (const order of ['old-first', 'new-first'] as const) {
        const seen = splitBrain(a, b, true, order)
        assert.deepEqual(seen, { old: 5, next: 5 }, `clients ${a}/${b}, ${order}`)
        const swapped = splitBrain(b, a, true, order)
        assert.deepEqual(swapped, { old: 5, next: 5 }, `clients ${b}/${a}, ${order}`)
      }
    }
  })

  it('without epochs the same merge depends on client ids (the scenario does reach the conflict)', () => {
    const outcomes = new Set<unknown>()
    for (const [a, b] of PAIRS) {
      outcomes.add(splitBrain(a, b, false, 'old-first').next)
      outcomes.add(splitBrain(b, a, false, 'old-first').next)
    }
    assert.deepEqual([...outcomes].sort(), [1, 5])
  })

  it('an entry written under an epoch beats one written without, and both sides agree', () => {
    for (const [c1, c2] of [[10, 20], [20, 10]]) {
      const d1 = docWithClient(c1)
      const d2 = docWithClient(c2)
      const kv1 = new YKeyValue<string>(d1.getArray<StoredKvEntry>('s'))
      const kv2 = new YKeyValue<string>(d2.getArray<StoredKvEntry>('s'))
      kv1.set('k', 'no epoch')
      kv2.writerEpoch = 1
      kv2.set('k', 'epoch 1')
      exchange(d1, d2)
      assert.equal(kv1.get('k'), 'epoch 1', `clients ${c1}/${c2}`)
      assert.equal(kv2.get('k'), 'epoch 1', `clients ${c1}/${c2}`)
      // the loser is not read as a second value; it stays in the array (a key with an epoch entry
      // is kept: a fence may hide the winner later and the loser is the value again)
      assert.deepEqual([kv1.size, kv2.size, kv1.keys(), kv2.keys()], [1, 1, ['k'], ['k']])
      assert.equal(d1.getArray('s').length, 2)
    }
  })

  it('decodes an entry\'s epoch and refuses a malformed one', () => {
    assert.deepEqual(decodeKvEntry(encodeKvEntry({ k: 'a', v: 1, e: 7 })), { k: 'a', v: 1, e: 7 })
    for (const e of [-1, 1.5, Number.MAX_SAFE_INTEGER + 2]) {
      assert.equal(decodeKvEntry(encodeKvEntry({ k: 'a', v: 1, e })), undefined, `epoch ${e}`)
    }
    assert.equal(decodeKvEntry({ k: 'a', v: 1, e: '3' }), undefined)
  })
})
