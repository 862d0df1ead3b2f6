import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import WebSocket from 'ws'
import { createClient, type Client } from '../../client/core/client.js'
import type { Space } from '../../client/core/space.js'
import type { Invite } from '../../shared/keys.js'
import { createMemorySpaceStore } from '../../client/core/store.js'
import { createWsTransport, type WebSocketCtor } from '../../client/core/ws-transport.js'
import { startRelay, type RelayServer, type RelayServerOptions } from '../../relay/server.js'
import { createSqliteStore } from '../../relay/storage/sqlite.js'

export function tempDir (prefix = 'cove-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

/** A real relay on 127.0.0.1 with a real SQLite file in a fresh directory. */
export async function startTestRelay (opts: Partial<RelayServerOptions> & { dir?: string } = {}): Promise<RelayServer & { dir: string }> {
  const dir = opts.dir ?? tempDir()
  const relay = await startRelay({ store: createSqliteStore(path.join(dir, 'relay.sqlite')), log: () => {}, ...opts })
  return Object.assign(relay, { dir })
}

export const wsTransport = createWsTransport(WebSocket as unknown as WebSocketCtor)

/** A client over real WebSockets with in-memory stores (fast backoff for tests). */
export function testClient (): Promise<Client> {
  return createClient({ transport: wsTransport, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 } })
}

/** Snapshots off: for tests that count or tamper with particular envelopes. */
export const QUIET_SNAPSHOTS = { snapshotEvery: 0, snapshotIdleMs: 0, snapshotBytes: 2 ** 30 }

/** Opens `invite` (at `via`, e.g. a proxy, else the link's relay) in a new test client that `clients` keeps for `closeAll`. */
export async function openTracked (clients: Client[], invite: Invite, via?: string, space: Record<string, number> = QUIET_SNAPSHOTS): Promise<Space> {
  const c = await createClient({ transport: wsTransport, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 }, space })
  clients.push(c)
  return await c.openSpace(invite, via)
}

/** After a test: its clients first (they leave the relay politely), then proxies and relays in the order given. */
export async function closeAll (clients: Client[], ...servers: Array<{ close (): Promise<void> } | undefined>): Promise<void> {
  for (const c of clients.splice(0)) await c.close().catch(() => {})
  for (const s of servers) await s?.close()
}

export async function waitFor (cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}
