import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHttpHandler } from '../../relay/http.js'
import { createMemoryStore } from '../../relay/storage/memory.js'
import { deriveKeys, newSpaceSecrets, type SpaceKeys } from '../../shared/keys.js'
import { getSodium } from '../../shared/sodium.js'
import { tempDir } from '../support/relay.js'

/** The HTTP handler alone (no WebSocket) on a memory store with one registered space, for limit tests. */
export async function createBlobHandlerForTest (maxBytes: number): Promise<{ origin: string; dir: string; keys: SpaceKeys; close (): Promise<void> }> {
  const sodium = await getSodium()
  const store = createMemoryStore()
  const keys = deriveKeys(sodium, newSpaceSecrets(sodium))
  await store.createSpace(keys.spaceId, { accessPk: keys.access.publicKey, writePk: keys.writePk })
  const dir = tempDir('cove-blob-cap-')
  fs.mkdirSync(dir, { recursive: true })
  const server = http.createServer(createHttpHandler({ blobs: { dir, store, sodium, maxBytes } }))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return { origin: `http://127.0.0.1:${port}`, dir, keys, close: () => new Promise(resolve => server.close(() => resolve())) }
}
