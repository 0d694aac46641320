/**
 * A key-value map stored in a Y.Array of `{k, v}` entries. Rewriting a key deletes its entry and
 * appends a new one; deleted array content collapses to a few bytes, so a doc whose keys are
 * rewritten often stays small (a Y.Map keeps every overwritten item's metadata).
 *
 * The map keeps an index key -> live entry (with the entry's Yjs element id), maintained from each
 * transaction's own changes: a write deletes the old entry by its id and appends the new one, and
 * an observed transaction is read from its state vectors and delete set. Neither looks at the rest
 * of the array, so a write costs the same with 10 keys or 20,000.
 *
 * Concurrent writes of one key leave two live entries; every peer keeps the same one and deletes
 * the others. A map with writer epochs (`writerEpoch`, set by an agent's owner to its placement
 * epoch) keeps an entry of the highest epoch first, so a deposed owner's late write never beats
 * what the next owner wrote (an entry without one counts as the lowest). Among entries of one
 * epoch: the rightmost under the 'crdt' policy, the latest hybrid-logical-clock stamp under 'lww'
 * and custom policies, which also report the concurrent writes as a conflict. Only the keys a
 * transaction touched are reconciled.
 */
import * as Y from 'yjs'
import { InvalidArgumentError } from '../../errors.ts'
import { compareHlcText, formatHlc, parseHlc, type HybridLogicalClock } from '../../util/hlc.ts'
import { appendElement, deleteElement, distancesFromEnd, forEachAddedElement, forEachDeletedElement, sameId } from './array-elements.ts'
import { decodeKvEntry, encodeKvEntry, type KvEntry, type StoredKvEntry } from './kv-entry.ts'
import type { Conflict, ConflictPolicy, ConflictCandidate } from './types.ts'

export type { KvEntry, StoredKvEntry } from './kv-entry.ts'

export interface YKeyValueInit {
  policy?: ConflictPolicy
  /** required for 'lww' and custom policies: the clock that stamps writes */
  hlc?: HybridLogicalClock
  /** required for 'lww' and custom policies: this peer's id, in every stamp (it breaks ties) */
  peer?: string
  /** receives concurrent writes detected under 'lww' and custom policies */
  onConflict?: (conflict: Omit<Conflict, 'id' | 'docId'>) => void
  /** name reported in conflicts */
  name?: string
}

/** a live entry and the id of its array element */
interface Live {
  entry: KvEntry
  id: Y.ID
}

export class YKeyValue<V = unknown> {
  readonly yarray: Y.Array<StoredKvEntry>
  private readonly doc: Y.Doc
  private readonly index = new Map<string, Live>()
  /** the key of each stored element read or written, by the element's value object */
  private readonly keyOf = new WeakMap<object, string>()
  /** an item at or near the end of the array, where appends start looking for the end */
  private tail: Y.Item | null = null
  private readonly stamped: boolean
  private readonly hlc?: HybridLogicalClock
  private readonly peer: string
  private readonly onConflict?: YKeyValueInit['onConflict']
  private readonly name: string
  private readonly observer: (event: Y.YArrayEvent<StoredKvEntry>) => void
  /**
   * stamped on this peer's writes from now on (an agent's owner sets its placement epoch): where
   * writes of one key conflict, the highest epoch's entry is kept
   */
  writerEpoch: number | undefined

  constructor (yarray: Y.Array<StoredKvEntry>, init: YKeyValueInit = {}) {
    const policy = init.policy ?? 'crdt'
    if (yarray.doc == null) throw new InvalidArgumentError('YKeyValue needs an array that belongs to a Y.Doc')
    this.yarray = yarray
    this.doc = yarray.doc
    this.stamped = policy !== 'crdt'
    if (this.stamped && (init.hlc == null || init.peer == null || init.peer === '')) throw new InvalidArgumentError('lww and custom policies need a hybrid logical clock and a peer id')
    this.hlc = init.hlc
    this.peer = init.peer ?? ''
    this.onConflict = init.onConflict
    this.name = init.name ?? 'kv'
    this.observer = (event) => { this.applyTransaction(event.transaction) }
    yarray.observe(this.observer)
    this.indexAll()
  }

  get (key: string): V | undefined {
    const e = this.index.get(key)?.entry
    return e == null || e.d === 1 ? undefined : e.v as V
  }

  has (key: string): boolean {
    const e = this.index.get(key)?.entry
    return e != null && e.d !== 1
  }

  set (key: string, value: V): void {
    if (typeof key !== 'string') throw new InvalidArgumentError('key must be a string')
    if (value === undefined) { this.delete(key); return }
    this.write(key, { k: key, v: value })
  }

  delete (key: string): void {
    if (!this.index.has(key)) return
    // a tombstone where the delete must win a conflict by its stamp or its writer epoch: without
    // one a new owner's delete carried no epoch, and a deposed owner's late write of the key,
    // the only live entry left after the merge, brought the key back
    if (this.stamped || this.writerEpoch !== undefined) { this.write(key, { k: key, d: 1 }); return }
    this.write(key, undefined)
  }

  * entries (): IterableIterator<[string, V]> {
    for (const [k, { entry }] of this.index) if (entry.d !== 1) yield [k, entry.v as V]
  }

  keys (): string[] {
    return [...this.entries()].map(([k]) => k)
  }

  get size (): number {
    let n = 0
    for (const { entry } of this.index.values()) if (entry.d !== 1) n++
    return n
  }

  toJSON (): Record<string, V> {
    const out: Record<string, V> = {}
    for (const [k, v] of this.entries()) out[k] = v
    return out
  }

  /** the stamped live entry of a key (lww policies), for conflict handling */
  entryOf (key: string): KvEntry | undefined {
    return this.index.get(key)?.entry
  }

  destroy (): void {
    this.yarray.unobserve(this.observer)
  }

  /**
   * replaces the key's entry with `entry` (or just removes it) in one transaction. The index is
   * updated at once, so several writes of a key inside one outer transaction leave one entry.
   */
  private write (key: string, entry: KvEntry | undefined): void {
    if (entry != null && this.stamped) entry.t = this.stamp()
    if (entry != null && this.writerEpoch !== undefined) entry.e = this.writerEpoch
    this.doc.transact(tr => {
      const old = this.index.get(key)
      if (entry != null) {
        this.tail = appendElement(this.yarray, encodeKvEntry(entry), this.tail)
        // Yjs stores a copy of the bytes: note the key of the copy
        this.keyOf.set(this.tail.content.getContent()[0] as object, key)
        this.index.set(key, { entry, id: this.tail.id })
      } else {
        this.index.delete(key)
      }
      if (old != null) deleteElement(tr, this.yarray, old.id)
    })
  }

  /** builds the index from the whole array (once, at construction) and removes losing duplicates */
  private indexAll (): void {
    const byKey = new Map<string, Live[]>()
    for (let item = this.yarray._start; item != null; item = item.right) {
      if (item.deleted || !item.countable) continue
      const values = item.content.getContent()
      for (let j = 0; j < values.length; j++) {
        const entry = this.decode(values[j])
        if (entry == null) continue
        let list = byKey.get(entry.k)
        if (list == null) { list = []; byKey.set(entry.k, list) }
        list.push({ entry, id: Y.createID(item.id.client, item.id.clock + j) })
      }
    }
    this.settle(byKey)
  }

  /** updates the index from one transaction's changes to the array: only the keys it touched */
  private applyTransaction (tr: Y.Transaction): void {
    forEachDeletedElement(tr, this.yarray, (value, id) => {
      // every live entry's stored element was seen (and its key noted) when it was indexed
      const key = typeof value === 'object' && value !== null ? this.keyOf.get(value) : undefined
      const live = key == null ? undefined : this.index.get(key)
      if (live != null && sameId(live.id, id)) this.index.delete(key!)
    })
    const byKey = new Map<string, Live[]>()
    forEachAddedElement(tr, this.yarray, (value, id) => {
      const known = typeof value === 'object' && value !== null ? this.keyOf.get(value) : undefined
      const live = known == null ? undefined : this.index.get(known)
      if (live != null && sameId(live.id, id)) return // our own write, indexed when made
      const entry = this.decode(value)
      if (entry == null) return
      const current = this.index.get(entry.k)
      if (current != null && sameId(current.id, id)) return
      let list = byKey.get(entry.k)
      if (list == null) {
        list = current == null ? [] : [current]
        byKey.set(entry.k, list)
      }
      list.push({ entry, id })
    })
    if (byKey.size > 0) this.settle(byKey)
  }

  /** indexes one winner per key among its live entries and deletes the others */
  private settle (byKey: Map<string, Live[]>): void {
    const contested: Array<[string, Live[]]> = []
    for (const [k, list] of byKey) {
      if (this.stamped) for (const c of list) this.observeStamp(c.entry)
      if (list.length === 1) this.index.set(k, list[0])
      else contested.push([k, list])
    }
    if (contested.length === 0) return
    const losers: Y.ID[] = []
    const distances = this.stamped ? undefined : distancesFromEnd(this.doc, contested.flatMap(([, list]) => list.map(c => c.id)))
    for (const [k, all] of contested) {
      // a later owner's write wins over an earlier owner's, whatever the order or the stamps
      const top = Math.max(...all.map(epochOf))
      const list = all.filter(c => epochOf(c) === top)
      const win = list.length === 1 ? list[0] : this.stamped ? latestStamped(list, this.doc) : list.reduce((a, b) => (distances!.get(b.id)! < distances!.get(a.id)! ? b : a))
      this.index.set(k, win)
      for (const c of all) if (c !== win) losers.push(c.id)
      if (this.stamped && list.length > 1) this.reportConflict(k, list.map(c => c.entry))
    }
    this.doc.transact(tr => { for (const id of losers) deleteElement(tr, this.yarray, id) })
  }

  /** the entry an array element holds (noting its key, to recognise the element when deleted) */
  private decode (stored: unknown): KvEntry | undefined {
    const entry = decodeKvEntry(stored)
    if (entry != null) this.keyOf.set(stored as object, entry.k)
    return entry
  }

  /** a stamp for a local write: after every stamp written or seen here */
  private stamp (): string {
    return formatHlc({ ...this.hlc!.send(), peer: this.peer })
  }

  /** merges a stamp seen in the doc into the clock (a malformed or too distant one is ignored) */
  private observeStamp (entry: KvEntry): void {
    if (entry.t == null) return
    try { this.hlc!.receive(parseHlc(entry.t)) } catch {}
  }

  private reportConflict (key: string, entries: KvEntry[]): void {
    if (this.onConflict == null) return
    const candidates: ConflictCandidate[] = entries.map(e => {
      let peer = ''
      try { peer = (parseHlc(e.t ?? '') as { peer?: string }).peer ?? '' } catch {}
      return { value: e.d === 1 ? undefined : e.v, hlc: e.t ?? '', peer }
    }).sort((a, b) => compareHlcText(a.hlc, b.hlc))
    this.onConflict({ map: this.name, key, candidates, detectedAt: this.stamp() })
  }
}

/** the writer's epoch of a live entry; one written without (or before epochs) counts as the lowest */
function epochOf (c: Live): number {
  return c.entry.e ?? -1
}

/** the entry with the latest stamp; equal stamps (or none) fall back to the rightmost entry */
function latestStamped (list: Live[], doc: Y.Doc): Live {
  const top = list.reduce((a, b) => (compareHlcText(b.entry.t, a.entry.t) > 0 ? b : a))
  const tied = list.filter(c => compareHlcText(c.entry.t, top.entry.t) === 0)
  if (tied.length === 1) return top
  const distances = distancesFromEnd(doc, tied.map(c => c.id))
  return tied.reduce((a, b) => (distances.get(b.id)! < distances.get(a.id)! ? b : a))
}
