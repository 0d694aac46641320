export type { Store, BatchOp, RangeOptions, WriteOptions } from './types.ts'
export { prefixRange } from './types.ts'
export { MemoryStore } from './memory.ts'
export { prefixedStore } from './prefixed.ts'
