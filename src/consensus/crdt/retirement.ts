/**
 * Retiring a document: its member replaced it with a successor (a compacted copy under a new id)
 * and marks the old one with the successor's id, in a map of its own (`RETIREMENT_MAP`). The mark
 * travels like any update; a peer holding the doc as a replica drops it (stored log included) as
 * soon as it sees the mark, and anyone who opens the old id later (a new owner whose pointer to
 * the current doc lagged) learns where the state went instead of reading a stale copy.
 *
 * The member writes the mark only after the successor holds everything and is at its write
 * concern: dropping a retired doc never loses state.
 *
 * A mark carries its writer's epoch (an agent's owner: its placement epoch) and is judged by the
 * doc's writer fences (fences.ts) like any entry: a mark a deposed owner wrote after the next owner
 * fenced the doc (a late compaction of the generation the next owner now writes to) does not
 * count, so the next owner keeps its doc, and so does every holder that has its fence by then.
 */
import type * as Y from 'yjs'
import { MAX_DOC_ID_LENGTH } from './constants.ts'
import { FENCE_MAP, readFences } from './fences.ts'

/** the top-level map of a doc that holds its retirement mark */
export const RETIREMENT_MAP = '_agentmesh_retired'
/** `{ s: successor id, e?: writer epoch }` */
const MARK_KEY = 'mark'
/** a mark of the earlier form: the successor id alone, no epoch (read, no longer written) */
const SUCCESSOR_KEY = 'successor'

interface Mark { s: string, e?: number }

function validSuccessor (v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_DOC_ID_LENGTH
}

function isMark (v: unknown): v is Mark {
  if (typeof v !== 'object' || v === null) return false
  const m = v as Mark
  return validSuccessor(m.s) && (m.e === undefined || (Number.isSafeInteger(m.e) && m.e >= 0))
}

/** the mark's value and writer, when the key holds one */
function markAt (map: Y.Map<unknown>, key: string): { value: unknown, client: number, clock: number } | undefined {
  const item = map._map.get(key)
  if (item == null || item.deleted) return undefined
  return { value: item.content.getContent().at(-1), client: item.id.client, clock: item.id.clock }
}

/** the id of the doc that replaced `doc`, or undefined while it is current (or its mark is fenced off) */
export function successorOf (doc: Y.Doc): string | undefined {
  if (!doc.share.has(RETIREMENT_MAP)) return undefined
  const map = doc.getMap<unknown>(RETIREMENT_MAP)
  const fences = readFences(doc)
  const mark = markAt(map, MARK_KEY)
  if (mark != null) {
    if (!isMark(mark.value)) return undefined
    return fences.hides(mark.client, mark.clock, mark.value.e ?? -1) ? undefined : mark.value.s
  }
  const legacy = markAt(map, SUCCESSOR_KEY)
  if (legacy == null || !validSuccessor(legacy.value)) return undefined
  return fences.hides(legacy.client, legacy.clock, -1) ? undefined : legacy.value
}

/** marks `doc` as replaced by `successor` (one small update), under the writer's `epoch` when it has one */
export function markRetired (doc: Y.Doc, successor: string, epoch?: number): void {
  if (successorOf(doc) === successor) return
  doc.getMap(RETIREMENT_MAP).set(MARK_KEY, epoch === undefined ? { s: successor } : { s: successor, e: epoch })
}

/**
 * calls `onRetired(successor)` once the doc carries a retirement mark that counts (now, or when one
 * arrives, or when the fence hiding one stops counting); returns the unsubscribe
 */
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
  const fences = doc.getMap(FENCE_MAP)
  const observer = (): void => { check() }
  map.observe(observer)
  fences.observe(observer)
  check()
  return () => {
    map.unobserve(observer)
    fences.unobserve(observer)
  }
}
