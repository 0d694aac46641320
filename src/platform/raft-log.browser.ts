/**
 * The Raft log in browsers: the Store-backed log (IndexedDB with strict durability) is the default.
 */
import type { DurableRaftLog } from '../consensus/index.ts'
import type { Store } from '../storage/types.ts'
import type { AbortOptions } from '../util/abort.ts'

/** how to open the Raft log for this storage spec; undefined: the Store-backed default */
export function raftLogOpener (_storage: string): ((store: Store, options?: AbortOptions) => Promise<DurableRaftLog>) | undefined {
  return undefined
}
