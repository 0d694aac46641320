// The Store contract on IndexedDB, in a real browser, plus openStore's browser selection.
import { openStore } from '#platform/storage'
import { IdbStore } from '../../src/storage/idb.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import type { Store } from '../../src/storage/types.ts'
import { storeContract } from '../storage/store-contract.ts'
import { assert } from './helpers.ts'

const names = new WeakMap<Store, string>()
let n = 0

storeContract('indexeddb', {
  open: async () => {
    const name = `agentmesh-contract-${Date.now()}-${n++}`
    const s = await IdbStore.open(name)
    names.set(s, name)
    return s
  },
  reopen: async (store) => {
    const name = names.get(store)!
    const s = await IdbStore.open(name)
    names.set(s, name)
    return s
  },
  destroy: async (store) => {
    const name = names.get(store)
    if (name != null) {
      await new Promise<void>((resolve) => {
        const req = indexedDB.deleteDatabase(name)
        req.onsuccess = () => { resolve() }
        req.onerror = () => { resolve() }
        req.onblocked = () => { resolve() }
      })
    }
  }
}, { describe, it, afterEach })

describe('openStore (browser)', () => {
  it('gives a MemoryStore for "memory" and an IndexedDB store for a name', async () => {
    assert(await openStore('memory') instanceof MemoryStore, 'memory spec')
    const s = await openStore(`agentmesh-open-${Date.now()}`)
    assert(s instanceof IdbStore, 'a database name gives IndexedDB')
    await s.put('k', new Uint8Array([1, 2]))
    assert((await s.get('k'))?.[1] === 2, 'reads back')
    await s.close()
  })
})
