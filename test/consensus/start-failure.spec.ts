/**
 * A consensus manager whose start fails after it opened its Raft log (here: the Raft protocol is
 * already handled on that libp2p node) releases the log, so the same data dir opens again at once.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConsensusManager } from '../../src/consensus/consensus-manager.ts'
import type { ConsensusNetwork } from '../../src/consensus/consensus-manager.ts'
import type { RaftLibp2p } from '../../src/consensus/raft-transport.ts'
import { openWalLog } from '../../src/consensus/wal/index.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import type { Store } from '../../src/storage/types.ts'

describe('consensus start failure', () => {
  it('closes the Raft log it opened when the transport cannot start, and rethrows', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentmesh-start-fail-'))
    try {
      const closed: string[] = []
      const openLog = async (store: Store) => {
        const log = await openWalLog(join(dir, 'raft-wal'), store)
        const close = log.close.bind(log)
        log.close = async () => { closed.push('log'); await close() }
        return log
      }
      const libp2p: RaftLibp2p = {
        handle: async (protocol) => { throw new Error(`a handler is already registered for ${protocol}`) },
        unhandle: async () => {},
        dialProtocol: async () => { throw new Error('not dialled in this test') }
      }
      const network: ConsensusNetwork = {
        peerId: 'peer-a',
        members: () => [],
        localRecord: () => { throw new Error('not read in this test') },
        setRaftRole: () => {},
        setExtension: () => {}
      }
      const store = new MemoryStore()
      const manager = new ConsensusManager({ libp2p, network, store, openLog })
      await assert.rejects(manager.start(), /already registered/)
      assert.deepEqual(closed, ['log'], 'the log was closed once')

      // the data dir is free again: a new log opens and takes writes
      const again = await openWalLog(join(dir, 'raft-wal'), store.sub('raft/').sub('log/'))
      await again.close()
      await manager.stop()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
