import { MemoryStore } from '../../src/storage/memory.ts'
import { describe, it, afterEach } from 'node:test'
import { storeContract } from './store-contract.ts'

storeContract('memory', { open: async () => new MemoryStore() }, { describe, it, afterEach })
