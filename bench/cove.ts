/**
 * Cove as a benchmark system: the real relay (`relay/main.ts`, SQLite with synchronous=FULL) in a
 * child process, and real sync-core clients in this process (sealing, verifying, decrypting).
 * A room handle is the space's edit link.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import WebSocket from 'ws'
import type * as Y from 'yjs'
import { createClient, type Client } from '../client/core/client.js'
import { createMemorySpaceStore } from '../client/core/store.js'
import type { Connection, Transport } from '../client/core/transport.js'
import { createWsTransport, type WebSocketCtor } from '../client/core/ws-transport.js'
import * as frame from '../shared/frame.js'
import { deriveKeys, parseLink, type Invite } from '../shared/keys.js'
import { authMessage } from '../shared/sign.js'
import { getSodium } from '../shared/sodium.js'
import { dirBytes, freePort, spawnServer } from './proc.js'
import type { BenchClient, BenchServer, BenchSystem, IdleConnection, WireStats } from './system.js'

const HOST = '127.0.0.1'
/** Short, so "storage after prune" is measured after pruning; the product default is 5 minutes. */
const PRUNE_GRACE_MS = 200
const dataDirs = new Map<string, string>()
/** The spawned relay behind each wrapped server (diskBytes stops it but keeps its directory). */
const inners = new Map<string, BenchServer>()

type MutableWireStats = { -readonly [K in keyof WireStats]: WireStats[K] } & { byKind?: Map<number, { sent: number, received: number, sentMsgs: number, receivedMsgs: number }> }

const KIND_NAMES = new Map<number, string>(Object.entries(frame.FrameType).map(([name, n]) => [n, name]))

/** Adds one frame to the per-type tally (its type is the first byte, a varuint below 128). */
function tally (stats: MutableWireStats, data: Uint8Array, dir: 'sent' | 'received'): void {
  const m = stats.byKind ??= new Map()
  const t = data[0] ?? 0
  let k = m.get(t)
  if (k === undefined) m.set(t, k = { sent: 0, received: 0, sentMsgs: 0, receivedMsgs: 0 })
  k[dir] += data.byteLength
  if (dir === 'sent') k.sentMsgs++
  else k.receivedMsgs++
}

/**
 * A transport that counts payload bytes and can be held offline. While offline, a connect attempt
 * is held (neither opened nor failed) and `online()` opens it at once: a device whose network comes
 * back reconnects now, not on the next backoff tick (issue 10: the warm join must not measure the
 * client's retry timer; the plaintext provider's `connect()` also opens at once).
 */
function benchTransport (stats: MutableWireStats): Transport & { offline: boolean; current: Connection | undefined; online (): void } {
  const inner = createWsTransport(WebSocket as unknown as WebSocketCtor)
  let held: { url: string, h: Parameters<Transport['connect']>[1], real: Connection | undefined, closed: boolean } | undefined
  const open = (url: string, h: Parameters<Transport['connect']>[1]): Connection => {
    const c = inner.connect(url, { ...h, onMessage: data => { stats.received += data.byteLength; tally(stats, data, 'received'); h.onMessage(data) } })
    const conn: Connection = { send (data) { stats.sent += data.byteLength; tally(stats, data, 'sent'); c.send(data) }, close () { c.close() } }
    t.current = conn
    return conn
  }
  const t = {
    offline: false,
    current: undefined as Connection | undefined,
    connect (url: string, h: Parameters<Transport['connect']>[1]): Connection {
      if (!t.offline) return open(url, h)
      const attempt = { url, h, real: undefined as Connection | undefined, closed: false }
      held = attempt
      return {
        send (data) { attempt.real?.send(data) },
        close () {
          if (attempt.real !== undefined) { attempt.real.close(); return }
          if (attempt.closed) return
          attempt.closed = true
          if (held === attempt) held = undefined
          h.onClose('closed by client')
        }
      }
    },
    online (): void {
      t.offline = false
      const attempt = held
      held = undefined
      if (attempt !== undefined && !attempt.closed) attempt.real = open(attempt.url, attempt.h)
    }
  }
  return t
}

async function invite (room: string): Promise<Invite> {
  const r = parseLink(await getSodium(), room)
  if (!r.ok) throw new Error(r.message)
  return r.value
}

async function connect (server: BenchServer, room: string): Promise<BenchClient> {
  const stats: MutableWireStats = { sent: 0, received: 0 }
  const transport = benchTransport(stats)
  // COVE_BENCH_RECEIPTS=off prices receipts: the same run without them (issue 8's before/after).
  const receipts = process.env.COVE_BENCH_RECEIPTS !== 'off'
  const client: Client = await createClient({ transport, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 5, backoffMaxMs: 20 }, space: { receipts } })
  const space = await client.openSpace(await invite(room), server.url)
  const doc: Y.Doc = space.doc
  return {
    doc,
    text: doc.getText('text'),
    synced: () => space.whenCaughtUp(120_000),
    async offline () {
      transport.offline = true
      transport.current?.close()
    },
    async online () {
      transport.online()
    },
    wire: () => ({ sent: stats.sent, received: stats.received }),
    wireByKind: () => Object.fromEntries([...(stats.byKind ?? new Map<number, never>()).entries()].map(([t, k]) => [KIND_NAMES.get(t) ?? `type${t}`, { ...k }])),
    async destroy () { await client.close() },
    snapshotStats: () => ({ ...space.snapshotStats })
  }
}

/** The join handshake only (hello, challenge, auth, catch-up of an empty space), then idle. */
async function connectIdle (server: BenchServer, room: string): Promise<IdleConnection> {
  const sodium = await getSodium()
  const inv = await invite(room)
  const keys = deriveKeys(sodium, inv.secrets)
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.url)
    ws.binaryType = 'arraybuffer'
    const timer = setTimeout(() => { ws.close(); reject(new Error('idle handshake timed out')) }, 15_000)
    ws.on('error', reject)
    ws.on('open', () => ws.send(frame.writeFrame({ type: 'hello', reqId: 1, spaceId: keys.spaceId })))
    ws.on('message', (data: ArrayBuffer) => {
      const f = frame.readFrame(new Uint8Array(data))
      if (!f.ok) return
      if (f.value.type === 'challenge') {
        const signature = sodium.crypto_sign_detached(authMessage(keys.spaceId, f.value.challenge), keys.access.privateKey)
        ws.send(frame.writeFrame({ type: 'auth', reqId: 2, spaceId: keys.spaceId, signature, after: 0 }))
      } else if (f.value.type === 'entries' && f.value.reqId === 2 && !f.value.more && f.value.entries.length === 0) {
        clearTimeout(timer)
        resolve({ close: () => ws.close() })
      }
    })
  })
}

let relayBuilt = false

/** build/relay.mjs, built first if it is older than the relay's sources (scripts/build-if-needed.mjs). */
export function builtRelay (): string {
  if (!relayBuilt) {
    execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/build-if-needed.mjs', import.meta.url)), '--relay'], { stdio: 'inherit' })
    relayBuilt = true
  }
  return fileURLToPath(new URL('../build/relay.mjs', import.meta.url))
}

export const coveSystem: BenchSystem = {
  name: 'cove',
  async startServer () {
    const port = await freePort(HOST)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cove-bench-'))
    const server = await spawnServer({
      // COVE_BENCH_RELAY_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the relay.
      // The relay as `npm start` runs it: built JavaScript, not through tsx (whose loader thread
      // alone costs ~10 ms of CPU a second), as the plaintext server runs its own JavaScript.
      command: [process.execPath, ...(process.env.COVE_BENCH_RELAY_NODE_ARGS ?? '').split(' ').filter(a => a !== ''), builtRelay(), '--port', String(port), '--host', HOST, '--data', dir, '--quiet', '--prune-grace-ms', String(PRUNE_GRACE_MS),
        // The idle run creates 200 rooms from one address: far past the default creation bucket.
        '--creates-per-ip', '100000'],
      host: HOST,
      port
    })
    dataDirs.set(server.url, dir)
    inners.set(server.url, server)
    return {
      ...server,
      async stop () {
        await server.stop()
        dataDirs.delete(server.url)
        inners.delete(server.url)
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }
  },
  async createRoom (server) {
    const client = await createClient({ transport: createWsTransport(WebSocket as unknown as WebSocketCtor), storeFor: () => createMemorySpaceStore() })
    const { space, editLink } = await client.createSpace(server.url)
    await space.whenCaughtUp(30_000)
    await client.close()
    return editLink
  },
  connect,
  connectIdle,
  async storageBytes (server, room) {
    const dir = dataDirs.get(server.url)
    if (dir === undefined) throw new Error('unknown server')
    await new Promise(resolve => setTimeout(resolve, PRUNE_GRACE_MS * 3))
    const spaceId = (await invite(room)).secrets.spaceId
    const db = new Database(path.join(dir, 'relay.sqlite'), { readonly: true })
    try {
      const row = db.prepare('SELECT coalesce(sum(length(env)), 0) AS n FROM log WHERE space = ?').get(Buffer.from(spaceId)) as { n: number }
      const snaps = db.prepare('SELECT coalesce(sum(length(env)), 0) AS n FROM snapshots WHERE space = ?').get(Buffer.from(spaceId)) as { n: number }
      return row.n + snaps.n
    } finally {
      db.close()
    }
  },
  async diskBytes (server) {
    const dir = dataDirs.get(server.url)
    const inner = inners.get(server.url)
    if (dir === undefined || inner === undefined) throw new Error('unknown server')
    // Past the prune grace: what the relay prunes by itself is gone from the live files.
    await new Promise(resolve => setTimeout(resolve, PRUNE_GRACE_MS * 3))
    const live = dirBytes(dir)
    await inner.stop()
    const db = new Database(path.join(dir, 'relay.sqlite'))
    try {
      db.pragma('wal_checkpoint(TRUNCATE)')
      db.exec('VACUUM')
      db.pragma('wal_checkpoint(TRUNCATE)')
    } finally {
      db.close()
    }
    return { live, compacted: dirBytes(dir) }
  }
}
