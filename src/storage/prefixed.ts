import type { BatchOp, RangeOptions, Store, WriteOptions } from './types.ts'

/** Base for backends: implements `sub` once, over a root store's raw operations. */
export function prefixedStore (root: Store, prefix: string): Store {
  const strip = (k: string): string => k.slice(prefix.length)
  const mapRange = (range: RangeOptions = {}): RangeOptions => ({
    gte: prefix + (range.gte ?? ''),
    lt: range.lt != null ? prefix + range.lt : prefix + '\uffff',
    reverse: range.reverse,
    limit: range.limit
  })
  const store: Store = {
    get: async (key) => await root.get(prefix + key),
    put: async (key, value, options?: WriteOptions) => { await root.put(prefix + key, value, options) },
    del: async (key, options?: WriteOptions) => { await root.del(prefix + key, options) },
    batch: async (ops: BatchOp[], options?: WriteOptions) => {
      await root.batch(ops.map(op => ({ ...op, key: prefix + op.key })), options)
    },
    entries: async function * (range?: RangeOptions) {
      for await (const [k, v] of root.entries(mapRange(range))) yield [strip(k), v]
    },
    clear: async (range?: RangeOptions) => { await root.clear(mapRange(range)) },
    sub: (p: string) => prefixedStore(root, prefix + p),
    close: async () => {}
  }
  return store
}
