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
 * the others: the rightmost entry under the 'crdt' policy, the latest hybrid-logical-clock stamp
 * under 'lww' and custom policies, which also report the concurrent writes as a conflict. Only the
 * keys a transaction touched are reconciled.
 */
import * as Y from 'yjs'
import { InvalidArgumentError } from '../../errors.ts'
import { decodeHlc, encodeHlc, type HybridLogicalClock } from './hlc.ts'
import { appendElement, deleteElement, distancesFromEnd, forEachAddedElement, forEachDeletedElement, sameId } from './array-elements.ts'
import type { Conflict, ConflictPolicy, ConflictCandidate } from './types.ts'

/** one stored entry: key, value, and for lww policies the write's stamp and a tombstone flag */
export interface KvEntry {
  k: string
  v?: unknown
  t?: string
  d?: 1
}

export interface YKeyValueInit {
  policy?: ConflictPolicy
  /** required for 'lww' and custom policies */
  hlc?: HybridLogicalClock
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

function isEntry (x: unknown): x is KvEntry {
  return typeof x === 'object' && x !== null && typeof (x as KvEntry).k === 'string'
}

export class YKeyValue<V = unknown> {
  readonly yarray: Y.Array<KvEntry>
  private readonly doc: Y.Doc
  private readonly index = new Map<string, Live>()
  /** an item at or near the end of the array, where appends start looking for the end */
  private tail: Y.Item | null = null
  private readonly stamped: boolean
  private readonly hlc?: HybridLogicalClock
  private readonly onConflict?: YKeyValueInit['onConflict']
  private readonly name: string
  private readonly observer: (event: Y.YArrayEvent<KvEntry>) => void

  constructor (yarray: Y.Array<KvEntry>, init: YKeyValueInit = {}) {
    const policy = init.policy ?? 'crdt'
    if (yarray.doc == null) throw new InvalidArgumentError('YKeyValue needs an array that belongs to a Y.Doc')
    this.yarray = yarray
    this.doc = yarray.doc
    this.stamped = policy !== 'crdt'
    if (this.stamped && init.hlc == null) throw new InvalidArgumentError('lww and custom policies need a hybrid logical clock')
    this.hlc = init.hlc
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
    if (this.stamped) { this.write(key, { k: key, d: 1 }); return }
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
    if (entry != null && this.stamped) entry.t = encodeHlc(this.hlc!.now())
    this.doc.transact(tr => {
      const old = this.index.get(key)
      if (entry != null) {
        this.tail = appendElement(this.yarray, entry, this.tail)
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
        const entry = values[j] as unknown
        if (!isEntry(entry)) continue
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
      if (!isEntry(value)) return
      const live = this.index.get(value.k)
      if (live != null && sameId(live.id, id)) this.index.delete(value.k)
    })
    const byKey = new Map<string, Live[]>()
    forEachAddedElement(tr, this.yarray, (value, id) => {
      if (!isEntry(value)) return
      const live = this.index.get(value.k)
      if (live != null && sameId(live.id, id)) return // our own write, indexed when made
      let list = byKey.get(value.k)
      if (list == null) {
        list = live == null ? [] : [live]
        byKey.set(value.k, list)
      }
      list.push({ entry: value, id })
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
    for (const [k, list] of contested) {
      const win = this.stamped ? latestStamped(list, this.doc) : list.reduce((a, b) => (distances!.get(b.id)! < distances!.get(a.id)! ? b : a))
      this.index.set(k, win)
      for (const c of list) if (c !== win) losers.push(c.id)
      if (this.stamped) this.reportConflict(k, list.map(c => c.entry))
    }
    this.doc.transact(tr => { for (const id of losers) deleteElement(tr, this.yarray, id) })
  }

  private observeStamp (entry: KvEntry): void {
    if (entry.t == null) return
    try { this.hlc!.receive(decodeHlc(entry.t)) } catch {}
  }

  private reportConflict (key: string, entries: KvEntry[]): void {
    if (this.onConflict == null) return
    const candidates: ConflictCandidate[] = entries.map(e => {
      let peer = ''
      try { peer = decodeHlc(e.t ?? '').peer } catch {}
      return { value: e.d === 1 ? undefined : e.v, hlc: e.t ?? '', peer }
    }).sort((a, b) => (a.hlc < b.hlc ? -1 : a.hlc > b.hlc ? 1 : 0))
    this.onConflict({ map: this.name, key, candidates, detectedAt: encodeHlc(this.hlc!.now()) })
  }
}

/** the entry with the latest stamp; equal stamps (or none) fall back to the rightmost entry */
function latestStamped (list: Live[], doc: Y.Doc): Live {
  const stamp = (c: Live): string => c.entry.t ?? ''
  const top = list.reduce((a, b) => (stamp(b) > stamp(a) ? b : a))
  const tied = list.filter(c => stamp(c) === stamp(top))
  if (tied.length === 1) return top
  const distances = distancesFromEnd(doc, tied.map(c => c.id))
  return tied.reduce((a, b) => (distances.get(b.id)! < distances.get(a.id)! ? b : a))
}
