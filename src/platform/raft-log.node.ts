/**
 * The Raft log in Node: with a data directory, a write-ahead log in `<data>/raft-wal/` (snapshots
 * stay in the LevelDB store); with `'memory'` storage, the Store-backed log.
 */
import { join } from 'node:path'
import type { DurableRaftLog } from '../consensus/index.ts'
import { openWalLog } from '../consensus/wal/index.ts'
import type { Store } from '../storage/types.ts'
import type { AbortOptions } from '../util/abort.ts'

/** how to open the Raft log for this storage spec; undefined: the Store-backed default */
export function raftLogOpener (storage: string): ((store: Store, options?: AbortOptions) => Promise<DurableRaftLog>) | undefined {
  if (storage === 'memory' || storage.trim() === '') return undefined
  return async (store, options) => await openWalLog(join(storage, 'raft-wal'), store, {}, options)
}
