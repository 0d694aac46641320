/**
 * Which of a key's entries a YKeyValue reads: of the highest writer epoch, the rightmost ('crdt'
 * policy) or the latest stamped (lww and custom policies). Pure functions of the entries and the doc.
 */
import type * as Y from 'yjs'
import { compareHlcText } from '../../util/hlc.ts'
import { distancesFromEnd } from './array-elements.ts'
import type { KvEntry } from './kv-entry.ts'

/** a live entry and the id of its array element */
export interface Live {
  entry: KvEntry
  id: Y.ID
}

/** the writer's epoch of a live entry; one written without (or before epochs) counts as the lowest */
export function epochOf (c: Live): number {
  return c.entry.e ?? -1
}

/** the rightmost entry: a client's later write lies right of its earlier ones, else walk from the end */
export function rightmost (list: Live[], doc: Y.Doc): Live {
  if (list.every(c => c.id.client === list[0].id.client)) return list.reduce((a, b) => (b.id.clock > a.id.clock ? b : a))
  const distances = distancesFromEnd(doc, list.map(c => c.id))
  return list.reduce((a, b) => (distances.get(b.id)! < distances.get(a.id)! ? b : a))
}

/** the entry with the latest stamp; equal stamps (or none) fall back to the rightmost entry */
export function latestStamped (list: Live[], doc: Y.Doc): Live {
  const top = list.reduce((a, b) => (compareHlcText(b.entry.t, a.entry.t) > 0 ? b : a))
  const tied = list.filter(c => compareHlcText(c.entry.t, top.entry.t) === 0)
  if (tied.length === 1) return top
  const distances = distancesFromEnd(doc, tied.map(c => c.id))
  return tied.reduce((a, b) => (distances.get(b.id)! < distances.get(a.id)! ? b : a))
}
