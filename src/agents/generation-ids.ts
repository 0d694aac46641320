/**
 * Names and pointers of an agent's state generations: `agent/<id>` (the root) points at
 * `agent/<id>/g<n>-<nonce>` through its meta map's `doc` key, and each generation names its root
 * under `root` (state-docs.ts).
 */
import type * as Y from 'yjs'
import { decodeKvEntry } from '../consensus/crdt/index.ts'
import { STATE_META_MAP_NAME } from './constants.ts'
import type { AgentState } from './types.ts'

/** root: the current generation's doc id; a generation: its root's id (present from its first update) */
export const POINTER_KEY = 'doc'
export const ROOT_KEY = 'root'

/** a key of a state doc's meta map, read from the doc's array (written once per generation) */
export function metaValue (doc: Y.Doc, key: string): unknown {
  let value: unknown
  for (const stored of doc.getArray(STATE_META_MAP_NAME).toArray()) {
    const entry = decodeKvEntry(stored)
    if (entry?.k === key && entry.d !== 1) value = entry.v
  }
  return value
}

const GENERATION_SUFFIX = /^\/g(\d{1,9})-[0-9a-f]{8}$/

/** `docId` has the shape of a generation of `rootId` (`<root>/g<n>-<8 hex>`) */
export function isGenerationOf (docId: string, rootId: string): boolean {
  return docId.startsWith(rootId) && GENERATION_SUFFIX.test(docId.slice(rootId.length))
}

/** the root's pointer, if it names a generation of this root */
export function pointerOf (meta: AgentState, rootId: string): string | undefined {
  const v: unknown = meta.get(POINTER_KEY)
  return typeof v === 'string' && isGenerationOf(v, rootId) ? v : undefined
}

/** n of `agent/<id>/g<n>-<nonce>`; 0 for the root */
export function generationNumber (docId: string): number {
  const m = /\/g(\d{1,9})-[0-9a-f]{8}$/.exec(docId)
  return m == null ? 0 : Number(m[1])
}
