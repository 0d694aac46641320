/**
 * The CRDT write gate reads what a peer without credential sends in a catch-up exchange
 * (`updateChangesDoc`: does this update hold anything the doc lacks?). Under fast-check, with at
 * least 100,000 random byte strings and 100,000 damaged valid updates (AGENTMESH_FUZZ_RUNS to
 * change; replay with AGENTMESH_FUZZ_SEED): it never throws and never changes the doc; an update
 * the doc already holds (any of its own states) is never taken for a change, and one with content
 * the doc lacks always is.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as Y from 'yjs'
import { updateChangesDoc } from '../../src/consensus/crdt/write-gate.ts'

const RUNS = Number(process.env.AGENTMESH_FUZZ_RUNS ?? 100_000)
const seed = process.env.AGENTMESH_FUZZ_SEED != null ? Number(process.env.AGENTMESH_FUZZ_SEED) : undefined
const params = { numRuns: RUNS, ...(seed != null ? { seed } : {}) }

/** a doc with inserts and deletes from two clients, and the updates along the way */
function sampleDoc (): { doc: Y.Doc, updates: Uint8Array[] } {
  const doc = new Y.Doc({ gc: false })
  const other = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => { updates.push(u) })
  doc.getText('t').insert(0, 'hello world')
  doc.getMap('m').set('k', 1)
  other.getArray('a').push([1, 2, 3])
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(other))
  doc.getText('t').delete(0, 6)
  doc.getMap('m').delete('k')
  return { doc, updates: [...updates, Y.encodeStateAsUpdate(doc)] }
}

/** valid updates damaged: bytes flipped, cut, added or dropped (1-4 times) */
function damaged (samples: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const edit = fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom('flip', 'truncate', 'append', 'delete'))
  return fc.tuple(fc.constantFrom(...samples), fc.array(edit, { minLength: 1, maxLength: 4 })).map(([base, edits]) => {
    let b = base.slice()
    for (const [at, byte, how] of edits) {
      const i = b.length === 0 ? 0 : at % b.length
      if (how === 'flip' && b.length > 0) b[i] ^= byte === 0 ? 1 : byte
      else if (how === 'truncate') b = b.slice(0, i)
      else if (how === 'append') b = Uint8Array.from([...b, byte])
      else if (how === 'delete') b = Uint8Array.from([...b.slice(0, i), ...b.slice(i + 1)])
    }
    return b
  })
}

describe('CRDT write gate under fuzz', { timeout: 30 * 60_000 }, () => {
  const { doc, updates } = sampleDoc()
  const state = Y.encodeStateAsUpdate(doc)

  it('an update the doc holds is no change; one with content it lacks is', () => {
    for (const u of updates) assert.equal(updateChangesDoc(doc, u), false)
    assert.equal(updateChangesDoc(doc, Y.encodeStateAsUpdate(new Y.Doc())), false, 'an empty update')
    const ahead = new Y.Doc()
    Y.applyUpdate(ahead, state)
    ahead.getText('t').insert(0, '!')
    assert.equal(updateChangesDoc(doc, Y.encodeStateAsUpdate(ahead)), true, 'new content')
    const deleting = new Y.Doc()
    Y.applyUpdate(deleting, state)
    deleting.getArray('a').delete(0, 1)
    assert.equal(updateChangesDoc(doc, Y.encodeStateAsUpdate(deleting)), true, 'a deletion of held content')
  })

  it(`${RUNS} random byte strings and ${RUNS} damaged updates: a boolean, never a throw, the doc unchanged`, () => {
    const check = (b: Uint8Array): boolean => {
      const r = updateChangesDoc(doc, b)
      return typeof r === 'boolean'
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), check), params)
    fc.assert(fc.property(damaged(updates), check), params)
    assert.deepEqual(Y.encodeStateAsUpdate(doc), state)
  })
})
