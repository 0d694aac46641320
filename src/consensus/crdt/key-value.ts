/**
 * A key-value map stored in a Y.Array of `{k, v}` entries. Rewriting a key deletes its entry and
 * appends a new one; deleted array content collapses to a few bytes, so a doc whose keys are
 * rewritten often stays small (a Y.Map keeps every overwritten item's metadata).
 *
 * Concurrent writes of one key leave two live entries; every peer keeps the same one and deletes
 * the others: the rightmost entry under the 'crdt' policy, the latest hybrid-logical-clock stamp
 * under 'lww' and custom policies, which also report the concurrent writes as a conflict.
 */
import * as Y from 'yjs'
import { InvalidArgumentError } from '../../errors.ts'
import { decodeHlc, encodeHlc, type HybridLogicalClock } from './hlc.ts'
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

function isEntry (x: unknown): x is KvEntry {
  return typeof x === 'object' && x !== null && typeof (x as KvEntry).k === 'string'
}

export class YKeyValue<V = unknown> {
  readonly yarray: Y.Array<KvEntry>
  private readonly map = new Map<string, KvEntry>()
  private readonly stamped: boolean
  private readonly hlc?: HybridLogicalClock
  private readonly onConflict?: YKeyValueInit['onConflict']
  private readonly name: string
  private readonly observer: (event: Y.YArrayEvent<KvEntry>) => void

  constructor (yarray: Y.Array<KvEntry>, init: YKeyValueInit = {}) {
    const policy = init.policy ?? 'crdt'
    this.yarray = yarray
    this.stamped = policy !== 'crdt'
    if (this.stamped && init.hlc == null) throw new InvalidArgumentError('lww and custom policies need a hybrid logical clock')
    this.hlc = init.hlc
    this.onConflict = init.onConflict
    this.name = init.name ?? 'kv'
    this.observer = (event) => { this.reconcile(this.affectedKeys(event)) }
    yarray.observe(this.observer)
    this.reconcile(undefined)
  }

  get (key: string): V | undefined {
    const e = this.map.get(key)
    return e == null || e.d === 1 ? undefined : e.v as V
  }

  has (key: string): boolean {
    const e = this.map.get(key)
    return e != null && e.d !== 1
  }

  set (key: string, value: V): void {
    if (typeof key !== 'string') throw new InvalidArgumentError('key must be a string')
    if (value === undefined) { this.delete(key); return }
    this.write({ k: key, v: value })
  }

  delete (key: string): void {
    if (!this.map.has(key)) return
    if (this.stamped) { this.write({ k: key, d: 1 }); return }
    this.write(undefined, key)
  }

  * entries (): IterableIterator<[string, V]> {
    for (const [k, e] of this.map) if (e.d !== 1) yield [k, e.v as V]
  }

  keys (): string[] {
    return [...this.entries()].map(([k]) => k)
  }

  get size (): number {
    let n = 0
    for (const e of this.map.values()) if (e.d !== 1) n++
    return n
  }

  toJSON (): Record<string, V> {
    const out: Record<string, V> = {}
    for (const [k, v] of this.entries()) out[k] = v
    return out
  }

  /** the stamped live entry of a key (lww policies), for conflict handling */
  entryOf (key: string): KvEntry | undefined {
    return this.map.get(key)
  }

  destroy (): void {
    this.yarray.unobserve(this.observer)
  }

  /** replaces the key's entry with `entry` (or just removes it) in one transaction */
  private write (entry: KvEntry | undefined, key = entry?.k): void {
    if (entry != null && this.stamped) entry.t = encodeHlc(this.hlc!.now())
    const doc = this.yarray.doc
    const run = (): void => {
      const arr = this.yarray.toArray()
      for (let i = arr.length - 1; i >= 0; i--) {
        if (isEntry(arr[i]) && arr[i].k === key) this.yarray.delete(i, 1)
      }
      if (entry != null) this.yarray.push([entry])
    }
    if (doc != null) doc.transact(run)
    else run()
  }

  private affectedKeys (event: Y.YArrayEvent<KvEntry>): Set<string> {
    const keys = new Set<string>()
    const collect = (item: Y.Item): void => {
      for (const c of item.content.getContent()) if (isEntry(c)) keys.add(c.k)
    }
    event.changes.added.forEach(collect)
    event.changes.deleted.forEach(collect)
    return keys
  }

  /** re-derives the index for `keys` (all keys when undefined) and removes losing duplicates */
  private reconcile (keys: Set<string> | undefined): void {
    const live = new Map<string, Array<{ index: number, entry: KvEntry }>>()
    this.yarray.toArray().forEach((entry, index) => {
      if (!isEntry(entry) || (keys != null && !keys.has(entry.k))) return
      let list = live.get(entry.k)
      if (list == null) { list = []; live.set(entry.k, list) }
      list.push({ index, entry })
    })
    for (const k of keys ?? live.keys()) if (!live.has(k)) this.map.delete(k)
    const losers: number[] = []
    for (const [k, list] of live) {
      let win = list[list.length - 1]
      if (this.stamped) {
        for (const c of list) {
          if (c.entry.t != null) { try { this.hlc!.receive(decodeHlc(c.entry.t)) } catch {} }
          if ((c.entry.t ?? '') > (win.entry.t ?? '')) win = c
        }
      }
      this.map.set(k, win.entry)
      if (list.length > 1) {
        for (const c of list) if (c !== win) losers.push(c.index)
        if (this.stamped) this.reportConflict(k, list.map(c => c.entry))
      }
    }
    if (losers.length === 0) return
    losers.sort((a, b) => b - a)
    const drop = (): void => { for (const i of losers) this.yarray.delete(i, 1) }
    if (this.yarray.doc != null) this.yarray.doc.transact(drop)
    else drop()
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
