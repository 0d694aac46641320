/**
 * The baseline of `npm run bench -- ykeyvalue`: a key-value map over a Y.Array that finds entries
 * by reading the whole array, the way YKeyValue worked until 3fcb55a (issue 4). Every write calls
 * `toArray()` to find the key's old entries by index, and every observed transaction (its own and
 * remote ones) calls `toArray()` again to re-derive the keys it touched: O(n) per set, O(n^2) for
 * a burst. Same stored format as YKeyValue (one binary kv-entry element per entry) and the same
 * 'crdt' rule (the rightmost entry of a key wins), so the two differ only in the bookkeeping.
 * Bench-only; nothing in src/ uses it.
 */
import type * as Y from 'yjs'
import { decodeKvEntry, encodeKvEntry } from '../src/consensus/crdt/index.ts'
import type { KvEntry, StoredKvEntry } from '../src/consensus/crdt/index.ts'

export class ToArrayKeyValue<V = unknown> {
  private readonly map = new Map<string, KvEntry>()
  private readonly observer: (event: Y.YArrayEvent<StoredKvEntry>) => void

  constructor (readonly yarray: Y.Array<StoredKvEntry>) {
    this.observer = (event) => { this.reconcile(this.affectedKeys(event)) }
    yarray.observe(this.observer)
    this.reconcile(undefined)
  }

  get (key: string): V | undefined {
    return this.map.get(key)?.v as V | undefined
  }

  get size (): number {
    return this.map.size
  }

  set (key: string, value: V): void {
    this.yarray.doc!.transact(() => {
      const arr = this.yarray.toArray()
      for (let i = arr.length - 1; i >= 0; i--) {
        if (decodeKvEntry(arr[i])?.k === key) this.yarray.delete(i, 1)
      }
      this.yarray.push([encodeKvEntry({ k: key, v: value })])
    })
  }

  destroy (): void {
    this.yarray.unobserve(this.observer)
  }

  private affectedKeys (event: Y.YArrayEvent<StoredKvEntry>): Set<string> {
    const keys = new Set<string>()
    const collect = (item: Y.Item): void => {
      for (const c of item.content.getContent()) {
        const k = decodeKvEntry(c)?.k
        if (k !== undefined) keys.add(k)
      }
    }
    event.changes.added.forEach(collect)
    event.changes.deleted.forEach(collect)
    return keys
  }

  /** re-derives the entries of `keys` (all when undefined) from the whole array; deletes losing duplicates */
  private reconcile (keys: Set<string> | undefined): void {
    const live = new Map<string, Array<{ index: number, entry: KvEntry }>>()
    this.yarray.toArray().forEach((stored, index) => {
      const entry = decodeKvEntry(stored)
      if (entry == null || (keys != null && !keys.has(entry.k))) return
      let list = live.get(entry.k)
      if (list == null) { list = []; live.set(entry.k, list) }
      list.push({ index, entry })
    })
    for (const k of keys ?? live.keys()) if (!live.has(k)) this.map.delete(k)
    const losers: number[] = []
    for (const [k, list] of live) {
      this.map.set(k, list[list.length - 1].entry)
      for (let i = 0; i < list.length - 1; i++) losers.push(list[i].index)
    }
    if (losers.length === 0) return
    losers.sort((a, b) => b - a)
    this.yarray.doc!.transact(() => { for (const i of losers) this.yarray.delete(i, 1) })
  }
}
