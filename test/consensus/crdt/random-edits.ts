// Seeded random edits of a replicated doc and a canonical view of its content: shared by the
// simulated convergence runs (Node) and the two-tab run in the browser suite (no node: imports).
import type * as Y from 'yjs'
import type { Rng } from '../../../src/util/prng.ts'
import type { DocReplicator } from '../../../src/consensus/crdt/index.ts'

/** one random edit of `docId` on `replicator`: map, array, text or key-value, inserts and deletes */
export function randomEdit (rng: Rng, replicator: DocReplicator, docId: string): void {
  const doc = replicator.getDoc(docId)
  const kind = rng.int(7)
  const arr = doc.getArray<number>('a')
  const text = doc.getText('t')
  switch (kind) {
    case 0: doc.getMap('m').set(`k${rng.int(5)}`, rng.int(1000)); break
    case 1: doc.getMap('m').delete(`k${rng.int(5)}`); break
    case 2: arr.insert(rng.int(arr.length + 1), [rng.int(1000)]); break
    case 3: if (arr.length > 0) arr.delete(rng.int(arr.length), 1); break
    case 4: text.insert(rng.int(text.length + 1), String.fromCharCode(97 + rng.int(26)).repeat(1 + rng.int(3))); break
    case 5: if (text.length > 0) text.delete(rng.int(text.length), 1); break
    default: {
      const kv = replicator.keyValue(docId, 'state')
      if (rng.next() < 0.8) kv.set(`s${rng.int(4)}`, rng.int(100))
      else kv.delete(`s${rng.int(4)}`)
    }
  }
}

/** JSON with object keys sorted, so equal content compares equal */
export function sortedJson (value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (v != null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) {
      return Object.fromEntries(Object.keys(v).sort().map(k => [k, (v as Record<string, unknown>)[k]]))
    }
    return v
  })
}

/** the content of the root types the tests edit */
export function docContent (doc: Y.Doc): string {
  return sortedJson({
    m: doc.getMap('m').toJSON(),
    a: doc.getArray('a').toJSON(),
    t: doc.getText('t').toString(),
    kv: doc.getArray('state').toJSON(),
    log: doc.getArray('log').length
  })
}
