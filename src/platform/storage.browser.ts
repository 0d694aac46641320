/**
 * Storage for browsers: `'memory'` or the name of an IndexedDB database.
 */
import { InvalidArgumentError } from '../errors.ts'
import { IdbStore } from '../storage/idb.ts'
import { MemoryStore } from '../storage/memory.ts'
import type { Store } from '../storage/types.ts'

export async function openStore (spec: string): Promise<Store> {
  if (spec === 'memory') return new MemoryStore()
  if (spec.trim() === '') throw new InvalidArgumentError('storage: expected "memory" or a database name')
  return await IdbStore.open(spec)
}
