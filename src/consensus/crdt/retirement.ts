/**
 * Retiring a document: its member replaced it with a successor (a compacted copy under a new id)
 * and marks the old one with the successor's id, in a map of its own (`RETIREMENT_MAP`). The mark
 * travels like any update; a peer holding the doc as a replica drops it (stored log included) as
 * soon as it sees the mark, and anyone who opens the old id later (a new owner whose pointer to
 * the current doc lagged) learns where the state went instead of reading a stale copy.
 *
 * The member writes the mark only after the successor holds everything and is at its write
 * concern: dropping a retired doc never loses state.
 */
import type * as Y from 'yjs'
import { MAX_DOC_ID_LENGTH } from './constants.ts'

/** the top-level map of a doc that holds its retirement mark */
export const RETIREMENT_MAP = '_agentmesh_retired'
const SUCCESSOR_KEY = 'successor'

/** the id of the doc that replaced `doc`, or undefined while it is current */
export function successorOf (doc: Y.Doc): string | undefined {
  if (!doc.share.has(RETIREMENT_MAP)) return undefined
  const v: unknown = doc.getMap(RETIREMENT_MAP).get(SUCCESSOR_KEY)
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_DOC_ID_LENGTH ? v : undefined
}

/** marks `doc` as replaced by `successor` (one small update) */
export function markRetired (doc: Y.Doc, successor: string): void {
  if (successorOf(doc) === successor) return
  doc.getMap(RETIREMENT_MAP).set(SUCCESSOR_KEY, successor)
}

/** calls `onRetired(successor)` once the doc carries a retirement mark (now, or when one arrives); returns the unsubscribe */
export function watchRetirement (doc: Y.Doc, onRetired: (successor: string) => void): () => void {
  let fired = false
  const check = (): void => {
    if (fired) return
    const s = successorOf(doc)
    if (s === undefined) return
    fired = true
    onRetired(s)
  }
  const map = doc.getMap(RETIREMENT_MAP)
  const observer = (): void => { check() }
  map.observe(observer)
  check()
  return () => { map.unobserve(observer) }
}
