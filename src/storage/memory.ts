import { prefixedStore } from './prefixed.ts'
import type { BatchOp, RangeOptions, Store } from './types.ts'

/** Everything in a sorted in-memory map; lost with the process. For tests and `storage: 'memory'`. */
export class MemoryStore implements Store {
  private readonly data = new Map<string, Uint8Array>()
  private sortedKeys: string[] | undefined

  async get (key: string): Promise<Uint8Array | undefined> {
    const v = this.data.get(key)
    return v == null ? undefined : v.slice()
  }

  async put (key: string, value: Uint8Array): Promise<void> {
    if (!this.data.has(key)) this.sortedKeys = undefined
    this.data.set(key, value.slice())
  }

  async del (key: string): Promise<void> {
    if (this.data.delete(key)) this.sortedKeys = undefined
  }

  async batch (ops: BatchOp[]): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') await this.put(op.key, op.value)
      else await this.del(op.key)
    }
  }

  async * entries (range: RangeOptions = {}): AsyncIterable<[string, Uint8Array]> {
    const keys = this.keysIn(range)
    let n = 0
    for (const k of keys) {
      if (range.limit != null && n >= range.limit) return
      const v = this.data.get(k)
      if (v == null) continue // deleted while iterating
      n++
      yield [k, v.slice()]
    }
  }

  async clear (range: RangeOptions = {}): Promise<void> {
    for (const k of this.keysIn({ ...range, limit: undefined })) this.data.delete(k)
    this.sortedKeys = undefined
  }

  sub (prefix: string): Store {
    return prefixedStore(this, prefix)
  }

  async close (): Promise<void> {}

  private keysIn (range: RangeOptions): string[] {
    this.sortedKeys ??= [...this.data.keys()].sort()
    const keys = this.sortedKeys.filter(k =>
      (range.gte == null || k >= range.gte) && (range.lt == null || k < range.lt))
    return range.reverse === true ? keys.reverse() : keys
  }
}
