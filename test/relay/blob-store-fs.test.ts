import fs from 'node:fs'
import { createFsBlobStore } from '../../relay/blob-store/fs.js'
import { tempDir } from '../support/relay.js'
import { runBlobStoreContract } from './blob-store-contract.js'

runBlobStoreContract('filesystem', async () => {
  const dir = tempDir('cove-blobstore-')
  return { store: createFsBlobStore(dir), cleanup: async () => { fs.rmSync(dir, { recursive: true, force: true }) } }
})
