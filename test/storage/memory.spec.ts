import { MemoryStore } from '../../src/storage/memory.ts'
import { storeContract } from './store-contract.ts'

storeContract('memory', { open: async () => new MemoryStore() })
