/**
 * Storage for Node: `'memory'` or a directory holding a LevelDB database.
 */
import { InvalidArgumentError } from '../errors.ts'
import { LevelStore } from '../storage/level.ts'
import { MemoryStore } from '../storage/memory.ts'
import type { Store } from '../storage/types.ts'

export async function openStore (spec: string): Promise<Store> {
  if (spec === 'memory') return new MemoryStore()
  if (spec.trim() === '') throw new InvalidArgumentError('storage: expected "memory" or a directory')
  return await LevelStore.open(spec)
}
