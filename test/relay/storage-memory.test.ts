import { createMemoryStore } from '../../relay/storage/memory.js'
import { runLogStoreContract } from './storage-contract.js'

runLogStoreContract('memory', async () => {
  const store = createMemoryStore()
  return { store, cleanup: async () => { await store.close() } }
})
