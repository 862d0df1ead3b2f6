import { createMemoryLocalFileStore, newMemoryLocalFiles } from '../../client/core/local-files.js'
import { runLocalFileStoreContract } from './local-files-contract.js'

// The IndexedDB adapter runs in Chromium only (no IndexedDB under Node): test/e2e/files-offline.test.ts.
runLocalFileStoreContract('memory', async () => {
  const held = newMemoryLocalFiles()
  return { store: createMemoryLocalFileStore(held), reopen: () => createMemoryLocalFileStore(held) }
})
