import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { BlobQuota } from '../../relay/blob-quota.js'
import { createHttpHandler } from '../../relay/http.js'
import { createMemoryStore } from '../../relay/storage/memory.js'
import { deriveKeys, newSpaceSecrets, type SpaceKeys } from '../../shared/keys.js'
import { getSodium } from '../../shared/sodium.js'
import { tempDir } from '../support/relay.js'

/**
 * The HTTP handler alone (no WebSocket) on a memory store with one registered space, for limit
 * tests. `dir` and `keys` let a second handler open the same blobs (a relay restart).
 */
export async function createBlobHandlerForTest (maxBytes: number, quota?: BlobQuota, reuse?: { dir: string; keys: SpaceKeys }): Promise<{ origin: string; dir: string; keys: SpaceKeys; close (): Promise<void> }> {
  const sodium = await getSodium()
  const store = createMemoryStore()
  const keys = reuse?.keys ?? deriveKeys(sodium, newSpaceSecrets(sodium))
  await store.createSpace(keys.spaceId, { accessPk: keys.access.publicKey, writePk: keys.writePk })
  const dir = reuse?.dir ?? tempDir('cove-blob-cap-')
  fs.mkdirSync(dir, { recursive: true })
  const server = http.createServer(createHttpHandler({ blobs: { dir, store, sodium, maxBytes, ...(quota === undefined ? {} : { quota }) } }))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return { origin: `http://127.0.0.1:${port}`, dir, keys, close: () => new Promise(resolve => server.close(() => resolve())) }
}
