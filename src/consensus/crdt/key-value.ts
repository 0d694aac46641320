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
 *
 * Writer fences (fences.ts) hide the entries a new writer took the doc over without: a deposed
 * owner's write of a key the next owner never wrote is invisible, on every replica. Hiding an entry
 * must bring back what it replaced, and Yjs does not say who deleted an element, so a key with an
 * entry under a writer epoch, and every key of a doc with a fence, is *kept*: a rewrite appends
 * without deleting, losers stay, and the key's value is the winner among its visible entries. Such
 * a doc is garbage-collected by copying its visible state into a new doc (an agent's state
 * generations), not in place.
 */
import * as Y from 'yjs'
import { InvalidArgumentError } from '../../errors.ts'
import { compareHlcText, formatHlc, parseHlc, type HybridLogicalClock } from '../../util/hlc.ts'
import { appendElement, deleteElement, distancesFromEnd, forEachAddedElement, forEachDeletedElement, sameId } from './array-elements.ts'
import { epochOf, latestStamped, rightmost, type Live } from './kv-winner.ts'
import type { Logger } from '../../util/logger.ts'
import { FENCE_MAP, readFences, type FenceSet } from './fences.ts'
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
  /** where a malformed fence in the doc is reported */
  log?: Logger
}

/** what a map holds per key (read for metrics: how much a copy or a collapse would free) */
export interface KvRetention {
  /** keys with a live entry: values and the tombstones not yet collapsed */
  indexedKeys: number
  /** kept keys (see above): their rewrites append without deleting */
  keptKeys: number
  /** the kept keys' entries still in the array, visible or hidden by a fence */
  keptEntries: number
  /** kept keys `collapse` would look at: more than one entry, or a tombstone */
  crowdedKeys: number
}

export class YKeyValue<V = unknown> {
  readonly yarray: Y.Array<StoredKvEntry>
  private readonly doc: Y.Doc
  /** per key, the winner among its visible entries (a tombstone under lww and epochs) */
  private readonly index = new Map<string, Live>()
  /** kept keys (see above): every live entry, visible or hidden by a fence */
  private readonly kept = new Map<string, Live[]>()
  /** kept keys with more than one entry, or a tombstone: what `collapse` looks at */
  private readonly crowded = new Set<string>()
  /** stored elements this map appended itself (indexed when written) */
  private readonly written = new WeakSet<object>()
  private readonly fenceMap: Y.Map<unknown>
  private fences: FenceSet
  private readonly log?: Logger
  private readonly fenceObserver: () => void
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
    if (init.log != null) this.log = init.log
    this.fenceMap = this.doc.getMap(FENCE_MAP)
    this.fences = readFences(this.doc, this.log)
    this.observer = (event) => { this.applyTransaction(event.transaction) }
    this.fenceObserver = () => { this.applyFences() }
    yarray.observe(this.observer)
    this.fenceMap.observe(this.fenceObserver)
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
    if (!this.has(key)) return
    // a tombstone where the delete must win a conflict by its stamp or its writer epoch: without
    // one a new owner's delete carried no epoch, and a deposed owner's late write of the key,
    // the only live entry left after the merge, brought the key back. A kept key deletes nothing
    // in place either (a fence may hide the entry that would have deleted it)
    if (this.stamped || this.writerEpoch !== undefined || this.keeps(key)) { this.write(key, { k: key, d: 1 }); return }
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

  /** what the doc holds now, to pass to `collapse` once it is known to be settled */
  stateVector (): Map<number, number> {
    return Y.decodeStateVector(Y.encodeStateVector(this.doc))
  }

  /**
   * Deletes, in place, the entries of kept keys that can never be read again: once every entry
   * within `settled` (a state vector of this doc) is known to be in the view of every later
   * writer (an agent's owner: a turn committed under a lease held throughout, so every later owner
   * takes over from it), a key whose winner lies within it keeps only the winner; the other
   * visible entries within it lose to the winner in every later view, whatever arrives. A key
   * whose only entry left is a tombstone within it loses the tombstone too. Hidden entries stay
   * (the copy drops them). Answers how many entries were deleted.
   */
  collapse (settled: Map<number, number>): number {
    const within = (c: Live): boolean => c.id.clock < (settled.get(c.id.client) ?? 0)
    const gone: Y.ID[] = []
    for (const k of this.crowded) {
      const list = this.kept.get(k) ?? []
      const win = this.index.get(k)
      if (win == null) { this.crowded.delete(k); continue }
      if (!within(win)) continue
      const keep = list.filter(c => c === win || !within(c) || this.fences.hides(c.id.client, c.id.clock, epochOf(c)))
      for (const c of list) if (!keep.includes(c)) gone.push(c.id)
      if (keep.length === 1 && win.entry.d === 1) {
        gone.push(win.id)
        this.kept.delete(k)
        this.index.delete(k)
        this.crowded.delete(k)
        continue
      }
      this.kept.set(k, keep)
      if (keep.length === 1) this.crowded.delete(k)
    }
    if (gone.length > 0) this.doc.transact(tr => { for (const id of gone) deleteElement(tr, this.yarray, id) })
    return gone.length
  }

  /** how much per-key state this map holds now */
  retention (): KvRetention {
    let keptEntries = 0
    for (const list of this.kept.values()) keptEntries += list.length
    return { indexedKeys: this.index.size, keptKeys: this.kept.size, keptEntries, crowdedKeys: this.crowded.size }
  }

  /** the stamped live entry of a key (lww policies), for conflict handling */
  entryOf (key: string): KvEntry | undefined {
    return this.index.get(key)?.entry
  }

  destroy (): void {
    this.yarray.unobserve(this.observer)
    this.fenceMap.unobserve(this.fenceObserver)
  }

  /**
   * replaces the key's entry with `entry` (or just removes it) in one transaction. The index is
   * updated at once, so several writes of a key inside one outer transaction leave one entry (one
   * live entry: a kept key's earlier ones stay in the array, unread).
   */
  private write (key: string, entry: KvEntry | undefined): void {
    if (entry != null && this.stamped) entry.t = this.stamp()
    if (entry != null && this.writerEpoch !== undefined) entry.e = this.writerEpoch
    const keep = entry?.e !== undefined || this.keeps(key)
    this.doc.transact(tr => {
      const old = this.index.get(key)
      if (entry != null) {
        this.tail = appendElement(this.yarray, encodeKvEntry(entry), this.tail)
        // Yjs stores a copy of the bytes: note the key of the copy
        const stored = this.tail.content.getContent()[0] as object
        this.keyOf.set(stored, key)
        this.written.add(stored)
        const live = { entry, id: this.tail.id }
        if (keep) {
          this.keptList(key).push(live)
          this.recompute(key, [live])
        } else {
          this.index.set(key, live)
        }
      } else {
        this.index.delete(key)
      }
      if (old != null && !keep) deleteElement(tr, this.yarray, old.id)
    })
  }

  /**
   * the key is kept (never deleted from the array): it has an epoch entry, or the doc has a fence
   * (read from the map itself: a fence set earlier in the same transaction counts already)
   */
  private keeps (key: string): boolean {
    return this.kept.has(key) || this.fences.size > 0 || this.fenceMap.size > 0
  }

  /** the key's kept entries, starting from its indexed one when it was not kept until now */
  private keptList (key: string): Live[] {
    let list = this.kept.get(key)
    if (list == null) {
      const current = this.index.get(key)
      list = current == null ? [] : [current]
      this.kept.set(key, list)
    }
    return list
  }

  /**
   * indexes the winner among a kept key's visible entries (none visible: the key is absent).
   * Without `fresh` (the fences changed, or the winner's element was deleted) every entry is
   * judged again; with it, only the current winner and the new entries: no fence changed, so no
   * other entry's visibility did. Remote entries (`report`) may make a conflict to report.
   */
  private recompute (key: string, fresh?: Live[], report = false): void {
    const current = this.index.get(key)
    const candidates = fresh == null ? (this.kept.get(key) ?? []) : current == null ? fresh : [current, ...fresh]
    const visible = candidates.filter(c => !this.fences.hides(c.id.client, c.id.clock, epochOf(c)))
    if (visible.length === 0) {
      if (fresh == null) this.index.delete(key)
      this.noteCrowding(key)
      return
    }
    const top = Math.max(...visible.map(epochOf))
    const list = visible.filter(c => epochOf(c) === top)
    const win = list.length === 1 ? list[0] : this.stamped ? latestStamped(list, this.doc) : rightmost(list, this.doc)
    this.index.set(key, win)
    this.noteCrowding(key)
    if (!this.stamped || !report || fresh == null || !fresh.some(f => list.includes(f))) return
    // writers of one epoch that had not seen each other: the latest entry of each client
    const latest = new Map<number, Live>()
    for (const c of list) if ((latest.get(c.id.client)?.id.clock ?? -1) < c.id.clock) latest.set(c.id.client, c)
    if (latest.size > 1) this.reportConflict(key, [...latest.values()].map(c => c.entry))
  }

  /** marks a kept key crowded when `collapse` may shrink it: a visible winner, and other entries or a tombstone */
  private noteCrowding (key: string): void {
    const list = this.kept.get(key)
    const win = this.index.get(key)
    if (list != null && win != null && (list.length > 1 || win.entry.d === 1)) this.crowded.add(key)
    else this.crowded.delete(key)
  }

  /** the doc's fences changed: every key is judged again (all of them kept once there is a fence) */
  private applyFences (): void {
    this.fences = readFences(this.doc, this.log)
    if (this.fences.size > 0) for (const k of [...this.index.keys()]) this.keptList(k)
    for (const k of [...this.kept.keys()]) this.recompute(k)
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
    for (const [k, list] of byKey) {
      if (this.fences.size === 0 && !list.some(c => c.entry.e !== undefined)) continue
      if (this.stamped) for (const c of list) this.observeStamp(c.entry)
      this.kept.set(k, list)
      this.recompute(k)
      byKey.delete(k)
    }
    this.settle(byKey)
  }

  /** updates the index from one transaction's changes to the array: only the keys it touched */
  private applyTransaction (tr: Y.Transaction): void {
    // a fence that came in the same transaction counts at once (its own observer may run later)
    const fencesChanged = tr.changed.has(this.fenceMap as unknown as Y.AbstractType<Y.YEvent<any>>) // eslint-disable-line @typescript-eslint/no-explicit-any
    if (fencesChanged) this.fences = readFences(this.doc, this.log)
    /** kept keys touched, with the entries the transaction brought */
    const touched = new Map<string, Live[]>()
    /** kept keys whose winner the transaction deleted: all their entries are judged again */
    const rejudge = new Set<string>()
    /** kept keys the transaction deleted entries of */
    const shrunk = new Set<string>()
    forEachDeletedElement(tr, this.yarray, (value, id) => {
      // every live entry's stored element was seen (and its key noted) when it was indexed
      const key = typeof value === 'object' && value !== null ? this.keyOf.get(value) : undefined
      if (key == null) return
      const list = this.kept.get(key)
      if (list != null) {
        // kept entries are deleted by the writer's `collapse`, and by peers that do not keep them (older code)
        const i = list.findIndex(c => sameId(c.id, id))
        if (i >= 0) list.splice(i, 1)
        const winner = this.index.get(key)
        if (winner != null && sameId(winner.id, id)) { this.index.delete(key); rejudge.add(key) }
        // no entry left: the key is forgotten here as on the writer that collapsed it (an entry
        // under an epoch, or a fence, keeps it again; an empty list kept per key was a leak)
        if (list.length === 0) this.kept.delete(key)
        shrunk.add(key)
        return
      }
      const live = this.index.get(key)
      if (live != null && sameId(live.id, id)) this.index.delete(key)
    })
    const byKey = new Map<string, Live[]>()
    forEachAddedElement(tr, this.yarray, (value, id) => {
      if (typeof value === 'object' && value !== null && this.written.has(value)) return // our own write, indexed when made
      const entry = this.decode(value)
      if (entry == null) return
      const live = { entry, id }
      if (entry.e !== undefined || this.keeps(entry.k)) {
        if (this.stamped) this.observeStamp(entry)
        const list = this.keptList(entry.k)
        let fresh = touched.get(entry.k)
        if (fresh == null) touched.set(entry.k, fresh = [])
        // plain entries of the key met earlier in this transaction are kept with it
        for (const c of byKey.get(entry.k) ?? []) if (!list.includes(c)) { list.push(c); fresh.push(c) }
        byKey.delete(entry.k)
        list.push(live)
        fresh.push(live)
        return
      }
      const current = this.index.get(entry.k)
      if (current != null && sameId(current.id, id)) return
      let list = byKey.get(entry.k)
      if (list == null) {
        list = current == null ? [] : [current]
        byKey.set(entry.k, list)
      }
      list.push(live)
    })
    if (byKey.size > 0) this.settle(byKey)
    for (const k of rejudge) this.recompute(k)
    for (const [k, fresh] of touched) {
      // new fences: every entry of the key is judged again (the fences' own observer does the rest)
      if (fencesChanged) this.recompute(k)
      else if (!rejudge.has(k)) this.recompute(k, fresh, true)
    }
    // a replica never collapses: a key whose losers the writer collapsed is no longer crowded here
    for (const k of shrunk) this.noteCrowding(k)
  }

  /** indexes one winner per plain (not kept) key among its live entries and deletes the others */
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
