/**
 * Per-document writer fences. When a new writer (an agent's next owner) takes a doc over under a
 * higher writer epoch, it records in the doc itself what it took over: its state vector at that
 * moment, under its epoch (`fenceDoc`). Every replica then applies the same read rule to the doc's
 * key-value entries (YKeyValue): an entry written under epoch e by client C at clock k is hidden
 * when a fence of an epoch above e holds C at a clock <= k (it lists C below k, or not at all): the
 * entry is a write of an earlier writer that the new one never saw, made after it took over.
 *
 * The rule reads only the doc's contents, so every replica reaches the same visible state in
 * whatever order updates arrive; no update is refused at merge time (refusing Yjs structs would
 * break causality for everything after them). A write the new writer did catch up on stays
 * visible.
 *
 * Stored in the doc's map FENCE_MAP: key `<epoch>:<fencing client id>`, value the encoded state
 * vector. One client writes each key once, so fences never conflict; several fences apply together
 * (for a client, the lowest clock among the fences above an entry's epoch decides).
 *
 * A fence is itself a write, judged by the same rule: a fence that a fence of a higher epoch was
 * taken without does not count. Its writer acknowledged nothing the later writer would have had to
 * see (an acknowledged write reaches the write concern, fence included, and the next writer takes
 * over from there), and letting it count would hide, after the fact, writes the later writer took
 * over with: e.g. an owner deposed, re-placed elsewhere and then claiming the agent back, whose
 * own late writes it activated from.
 */
import * as Y from 'yjs'
import { InvalidArgumentError } from '../../errors.ts'
import type { Logger } from '../../util/logger.ts'
import { FENCE_MAX_BYTES, FENCE_MAX_PER_DOC } from './constants.ts'
import { decodeStateVectorSafe, type StateVector } from './vectors.ts'

/** a Uint8Array from any realm (`instanceof` only knows this realm's) */
function isBytes (x: unknown): x is Uint8Array {
  return ArrayBuffer.isView(x) && Object.prototype.toString.call(x) === '[object Uint8Array]'
}

/** the doc's map of fences */
export const FENCE_MAP = '_agentmesh_fences'

const FENCE_KEY = /^(\d{1,15}):(\d{1,10})$/

export interface Fence {
  epoch: number
  /** the fencing writer's Yjs client id */
  client: number
  /** the clock of the fence's own write (its Yjs item) */
  clock: number
  /** what the fencing writer held of each client when it took over */
  vector: StateVector
}

/** the fences of a doc, highest epoch first: answers whether an entry is hidden */
export class FenceSet {
  static readonly EMPTY = new FenceSet([])

  constructor (readonly fences: readonly Fence[]) {}

  get size (): number { return this.fences.length }

  /**
   * an entry written by `client` at `clock` under `epoch` (-1: written without one) is hidden: a
   * fence of a higher epoch was taken without it
   */
  hides (client: number, clock: number, epoch: number): boolean {
    for (const f of this.fences) {
      if (f.epoch <= epoch) break
      if (clock >= (f.vector.get(client) ?? 0)) return true
    }
    return false
  }
}

/**
 * records that this doc's writer takes it over under `epoch` now, from everything the doc holds;
 * a fence this client already wrote for the epoch is kept (the first one is what it acted on).
 * Answers whether a fence was written.
 */
export function fenceDoc (doc: Y.Doc, epoch: number): boolean {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new InvalidArgumentError(`fence epoch must be a non-negative integer, got ${epoch}`)
  const map = doc.getMap<Uint8Array>(FENCE_MAP)
  const key = `${epoch}:${doc.clientID}`
  if (map.has(key)) return false
  map.set(key, Y.encodeStateVector(doc))
  return true
}

/**
 * the doc's fences, decoded and checked: malformed or oversized ones are left out (and logged),
 * and beyond FENCE_MAX_PER_DOC only the highest epochs count (the same choice on every replica)
 */
export function readFences (doc: Y.Doc, log?: Logger): FenceSet {
  if (!doc.share.has(FENCE_MAP)) return FenceSet.EMPTY
  const map = doc.getMap<unknown>(FENCE_MAP)
  const fences: Fence[] = []
  for (const [key, item] of map._map) {
    if (item.deleted) continue
    const value: unknown = item.content.getContent().at(-1)
    const m = FENCE_KEY.exec(key)
    const epoch = m == null ? NaN : Number(m[1])
    if (m == null || !Number.isSafeInteger(epoch) || !isBytes(value) || value.byteLength > FENCE_MAX_BYTES) {
      log?.('document %s: fence %s ignored: malformed or over %d bytes', doc.guid, key, FENCE_MAX_BYTES)
      continue
    }
    try {
      fences.push({ epoch, client: item.id.client, clock: item.id.clock + item.length - 1, vector: decodeStateVectorSafe(value) })
    } catch {
      log?.('document %s: fence %s ignored: malformed state vector', doc.guid, key)
    }
  }
  fences.sort((a, b) => b.epoch - a.epoch || a.client - b.client)
  // highest epoch first: a fence counts when every counting fence above it was taken with it in view
  const counting: Fence[] = []
  for (const f of fences) {
    if (counting.length >= FENCE_MAX_PER_DOC) break
    if (!new FenceSet(counting).hides(f.client, f.clock, f.epoch)) counting.push(f)
  }
  return new FenceSet(counting)
}
