/**
 * The keys of the store in sorted order (UTF-16 code units, the same on every replica), with the
 * per-key revision metadata. Plain data: the state machine decides revisions.
 */
import type { KeyValue } from './types.ts'

export class Keyspace {
  private readonly map = new Map<string, KeyValue>()
  private readonly sorted: string[] = []

  get size (): number {
    return this.map.size
  }

  get (key: string): KeyValue | undefined {
    return this.map.get(key)
  }

  set (kv: KeyValue): void {
    if (!this.map.has(kv.key)) this.sorted.splice(this.lowerBound(kv.key), 0, kv.key)
    this.map.set(kv.key, kv)
  }

  delete (key: string): KeyValue | undefined {
    const kv = this.map.get(key)
    if (kv === undefined) return undefined
    this.map.delete(key)
    this.sorted.splice(this.lowerBound(key), 1)
    return kv
  }

  /** keys starting with `prefix`, in order, at most `limit`; `more` when some were left out */
  range (prefix: string, limit: number): { kvs: KeyValue[], more: boolean } {
    const kvs: KeyValue[] = []
    for (let i = this.lowerBound(prefix); i < this.sorted.length; i++) {
      const k = this.sorted[i]
      if (!k.startsWith(prefix)) break
      if (kvs.length === limit) return { kvs, more: true }
      kvs.push(this.map.get(k)!)
    }
    return { kvs, more: false }
  }

  /** every key starting with `prefix`, in order */
  keysWithPrefix (prefix: string): string[] {
    const out: string[] = []
    for (let i = this.lowerBound(prefix); i < this.sorted.length && this.sorted[i].startsWith(prefix); i++) out.push(this.sorted[i])
    return out
  }

  /** every key-value in key order */
  all (): KeyValue[] {
    return this.sorted.map(k => this.map.get(k)!)
  }

  private lowerBound (key: string): number {
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.sorted[mid] < key) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
