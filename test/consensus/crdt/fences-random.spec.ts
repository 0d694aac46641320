/**
 * Writer fences under random histories: four docs, owners taking over one after another (each
 * fencing the doc under the next epoch), deposed owners that go on writing, and updates pushed
 * between docs in random directions and orders. Two properties, checked after every step:
 *
 * - the current owner reads exactly what it took over plus its own writes since: nothing a
 *   deposed owner writes later, nor a fence it never saw, changes its state under it;
 * - once every doc has every update, all of them read that same state (the rule depends on the
 *   doc's contents only), through a map kept open all along and through a new one.
 *
 * Now and then the owner settles (`collapse`) what every doc has from it, as it does once the turn
 * fence released a turn: deleting in place what can never be read again changes neither.
 *
 * Fixed seeds; a failure prints its seed, `SEED=n` replays one.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { YKeyValue, fenceDoc, type StoredKvEntry } from '../../../src/consensus/crdt/index.ts'
import { seededRng } from '../../../src/util/prng.ts'

const DOCS = 4
const KEYS = ['a', 'b', 'c', 'd', 'e', 'f']
const STEPS = 60
const SEEDS = process.env.SEED != null ? [Number(process.env.SEED)] : Array.from({ length: 150 }, (_, i) => 1 + i)

/** entries deleted in place by the owners' settles, over all seeds */
let collapsed = 0

function push (from: Y.Doc, to: Y.Doc): void {
  Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)))
}

function run (seed: number): void {
  const rng = seededRng(seed)
  const docs = Array.from({ length: DOCS }, (_, i) => {
    const doc = new Y.Doc()
    doc.clientID = 1 + rng.int(1_000_000) * DOCS + i // distinct, random order
    return doc
  })
  const maps = docs.map(d => new YKeyValue<number>(d.getArray<StoredKvEntry>('state')))
  let owner = 0
  let epoch = 1
  fenceDoc(docs[0], epoch)
  maps[0].writerEpoch = epoch
  /** what the owner must read: its view when it took over, then its own writes */
  let model: Record<string, number> = {}
  const check = (step: string): void => {
    assert.deepEqual(maps[owner].toJSON(), model, `seed ${seed}, ${step}: the owner's state changed under it`)
  }
  for (let step = 0; step < STEPS; step++) {
    const op = rng.int(10)
    if (op < 4) {
      // a write by any doc that ever owned (deposed ones included), under its own epoch
      const candidates = maps.map((m, i) => [m, i] as const).filter(([m]) => m.writerEpoch !== undefined)
      const [m, i] = candidates[rng.int(candidates.length)]
      const key = KEYS[rng.int(KEYS.length)]
      if (rng.int(5) === 0) {
        m.delete(key)
        if (i === owner) delete model[key]
      } else {
        const v = step * 10 + i
        m.set(key, v)
        if (i === owner) model[key] = v
      }
    } else if (op === 8 && rng.int(2) === 0) {
      // the owner's turn was released under a held lease: everything it held is in every later
      // owner's view (modelled: pushed to every doc), so what that made unreadable goes in place
      for (let i = 0; i < DOCS; i++) if (i !== owner) push(docs[owner], docs[i])
      collapsed += maps[owner].collapse(maps[owner].stateVector())
    } else if (op < 9) {
      const from = rng.int(DOCS)
      const to = (from + 1 + rng.int(DOCS - 1)) % DOCS
      push(docs[from], docs[to])
    } else {
      // another doc takes over under the next epoch, from what it holds now
      const next = (owner + 1 + rng.int(DOCS - 1)) % DOCS
      epoch++
      fenceDoc(docs[next], epoch)
      maps[next].writerEpoch = epoch
      owner = next
      model = maps[next].toJSON()
    }
    check(`step ${step} (op ${op})`)
  }
  for (let round = 0; round < 2; round++) for (const a of docs) for (const b of docs) if (a !== b) push(a, b)
  check('after the full exchange')
  for (let i = 0; i < DOCS; i++) {
    assert.deepEqual(maps[i].toJSON(), model, `seed ${seed}: doc ${i} (open map) differs from the owner's state`)
    const fresh = new YKeyValue<number>(docs[i].getArray<StoredKvEntry>('state'))
    assert.deepEqual(fresh.toJSON(), model, `seed ${seed}: doc ${i} (new map) differs from the owner's state`)
    assert.equal(fresh.size, Object.keys(model).length)
    fresh.destroy()
  }
}

describe('writer fences, random histories', () => {
  it(`the owner's state never changes under it, and every doc converges on it (${SEEDS.length} seeds x ${STEPS} steps)`, () => {
    for (const seed of SEEDS) run(seed)
    if (process.env.SEED == null) assert.ok(collapsed > 100, `settles deleted ${collapsed} entries in place`)
  })
})
