import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LevelStore } from '../../src/storage/level.ts'
import { openStore } from '#platform/storage'
import { MemoryStore } from '../../src/storage/memory.ts'
import type { Store } from '../../src/storage/types.ts'
import { storeContract } from './store-contract.ts'

const dirs = new WeakMap<Store, string>()

storeContract('leveldb', {
  open: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentmesh-level-'))
    const s = await LevelStore.open(dir)
    dirs.set(s, dir)
    return s
  },
  reopen: async (store) => {
    const dir = dirs.get(store)!
    const s = await LevelStore.open(dir)
    dirs.set(s, dir)
    return s
  },
  destroy: async (store) => {
    const dir = dirs.get(store)
    if (dir != null) await rm(dir, { recursive: true, force: true })
  }
}, { describe, it, afterEach })

describe('openStore (node)', () => {
  it('gives a MemoryStore for "memory" and a LevelDB store for a directory that persists', async () => {
    assert.ok(await openStore('memory') instanceof MemoryStore)
    const dir = await mkdtemp(join(tmpdir(), 'agentmesh-open-'))
    try {
      const s = await openStore(join(dir, 'db'))
      await s.put('k', new Uint8Array([1, 2, 3]))
      await s.close()
      const again = await openStore(join(dir, 'db'))
      assert.deepEqual([...(await again.get('k')) ?? []], [1, 2, 3])
      await again.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('fails with StorageError when the directory cannot hold a database', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentmesh-open-'))
    try {
      const file = join(dir, 'not-a-dir')
      await writeFile(file, 'x')
      await assert.rejects(openStore(file), { name: 'StorageError' })
      await assert.rejects(openStore(''), { name: 'InvalidArgumentError' })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
