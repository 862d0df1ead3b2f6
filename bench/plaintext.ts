/**
 * The plaintext baseline: the stock y-websocket server (@y/websocket-server, in-memory, no
 * persistence) with stock `WebsocketProvider` clients. It is what Cove's costs are compared to:
 * the same Yjs documents synced through a server that can read them.
 */
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { Awareness } from 'y-protocols/awareness'
import * as syncProtocol from 'y-protocols/sync'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { dirBytes, freePort, spawnServer } from './proc.js'
import type { BenchClient, BenchServer, BenchSystem, IdleConnection, WireStats } from './system.js'

/** y-websocket's message type for sync-protocol messages. */
const MESSAGE_SYNC = 0
const HOST = '127.0.0.1'
const IDLE_HANDSHAKE_TIMEOUT_MS = 15_000

// Every WebsocketProvider adds a process 'exit' listener; 50+ clients would trigger Node's
// MaxListenersExceededWarning, which is noise here, not a leak.
process.setMaxListeners(0)

/** The server's entry point, resolved through the package so hoisting does not matter. */
function serverScript (): string {
  const require = createRequire(import.meta.url)
  const pkg = require.resolve('@y/websocket-server/package.json')
  return path.join(path.dirname(pkg), 'src', 'server.js')
}

/** Payload size of anything `ws` can send or deliver. */
function byteLength (data: unknown): number {
  if (typeof data === 'string') return Buffer.byteLength(data)
  if (data instanceof ArrayBuffer) return data.byteLength
  if (ArrayBuffer.isView(data)) return data.byteLength
  if (Array.isArray(data)) return data.reduce((sum: number, part: unknown) => sum + byteLength(part), 0)
  return 0
}

type MutableWireStats = { -readonly [K in keyof WireStats]: WireStats[K] }
type WebSocketPolyfill = NonNullable<NonNullable<ConstructorParameters<typeof WebsocketProvider>[3]>['WebSocketPolyfill']>

/**
 * A `ws` WebSocket class that adds every message's payload size to `stats`, so the provider's
 * traffic can be measured without touching y-websocket.
 */
function countingWebSocket (stats: MutableWireStats): WebSocketPolyfill {
  class CountingWebSocket extends WebSocket {
    constructor (address: string | URL, protocols?: string | string[]) {
      super(address, protocols)
      this.on('message', (data: WebSocket.RawData) => { stats.received += byteLength(data) })
    }

    override send (data: unknown, ...rest: unknown[]): void {
      stats.sent += byteLength(data)
      Reflect.apply(WebSocket.prototype.send, this, [data, ...rest])
    }
  }
  return CountingWebSocket as unknown as WebSocketPolyfill
}

/** Wraps a provider as a BenchClient. */
function plaintextClient (provider: WebsocketProvider, doc: Y.Doc, stats: MutableWireStats): BenchClient {
  return {
    doc,
    text: doc.getText('text'),
    synced: () => new Promise<void>(resolve => {
      if (provider.synced) { resolve(); return }
      const onSync = (state: boolean): void => {
        if (!state) return
        provider.off('sync', onSync)
        resolve()
      }
      provider.on('sync', onSync)
    }),
    offline: async () => { provider.disconnect() },
    online: async () => { provider.connect() },
    wire: () => ({ ...stats }),
    destroy: async () => {
      provider.destroy()
      doc.destroy() // also destroys the Awareness and its timer
    }
  }
}

async function connect (server: BenchServer, room: string): Promise<BenchClient> {
  const doc = new Y.Doc()
  // No presence: the benchmark measures document sync, and Cove has no awareness channel, so the
  // baseline must not pay for (or be slowed by) awareness broadcasts and their 15 s renewals.
  const awareness = new Awareness(doc)
  awareness.setLocalState(null)
  const stats: MutableWireStats = { sent: 0, received: 0 }
  const provider = new WebsocketProvider(server.url, room, doc, {
    awareness,
    WebSocketPolyfill: countingWebSocket(stats),
    // lib0's BroadcastChannel fallback links same-named rooms inside one process directly, which
    // would let in-process readers sync without the server.
    disableBc: true
  })
  return plaintextClient(provider, doc, stats)
}

function syncMessage (write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_SYNC)
  write(encoder)
  return encoding.toUint8Array(encoder)
}

/**
 * A raw `ws` connection that performs exactly the provider's handshake (sync step 1 with an empty
 * document, answer the server's step 1) and resolves when the server's step 2 arrives. Thousands
 * of full providers in one process would measure the client, not the server.
 */
function connectIdle (server: BenchServer, room: string): Promise<IdleConnection> {
  return new Promise((resolve, reject) => {
    const doc = new Y.Doc()
    const ws = new WebSocket(`${server.url}/${room}`)
    ws.binaryType = 'arraybuffer'
    const timer = setTimeout(() => fail(new Error(`idle handshake timed out (${room})`)), IDLE_HANDSHAKE_TIMEOUT_MS)
    const close = (): void => { ws.close(); doc.destroy() }
    function fail (err: Error): void { clearTimeout(timer); close(); reject(err) }
    ws.on('error', fail)
    ws.on('open', () => { ws.send(syncMessage(encoder => syncProtocol.writeSyncStep1(encoder, doc))) })
    ws.on('message', (data: WebSocket.RawData) => {
      const decoder = decoding.createDecoder(new Uint8Array(data as ArrayBuffer))
      if (decoding.readVarUint(decoder) !== MESSAGE_SYNC) return
      let kind = -1
      const reply = syncMessage(encoder => { kind = syncProtocol.readSyncMessage(decoder, encoder, doc, null) })
      if (reply.length > 1) ws.send(reply)
      if (kind === syncProtocol.messageYjsSyncStep2) {
        clearTimeout(timer)
        resolve({ close })
      }
    })
  })
}

/** Servers started with `persist`: their y-leveldb directory and the unwrapped server. */
const persisted = new Map<string, { dir: string, inner: BenchServer }>()

/**
 * Stops the server (LevelDB allows one process), merges the room's updates into one as y-leveldb
 * itself does past 500 updates (`flushDocument`), and has LevelDB compact its files.
 */
async function compactLeveldb (dir: string, room: string, expected: string): Promise<void> {
  const require = createRequire(import.meta.url)
  // The ES module build, so it shares this process's Yjs (its CommonJS build loads a second copy).
  const yLeveldb = 'y-leveldb' // (a variable: the package's typings do not resolve under its "exports")
  const { LeveldbPersistence } = await import(yLeveldb) as { LeveldbPersistence: new (dir: string) => { getYDoc(room: string): Promise<Y.Doc>, flushDocument(room: string): Promise<void>, destroy(): Promise<void> } }
  const ldb = new LeveldbPersistence(dir)
  const before = (await ldb.getYDoc(room)).getText('text').toString()
  if (before !== expected) throw new Error(`y-leveldb holds ${before.length} of ${expected.length} chars: the server had not written everything`)
  await ldb.flushDocument(room)
  await ldb.destroy()
  type Down = { open(cb: (e?: Error) => void): void, compactRange(a: Buffer, b: Buffer, cb: (e?: Error) => void): void, close(cb: (e?: Error) => void): void }
  const leveldown = require('leveldown') as (dir: string) => Down
  const db = leveldown(dir)
  const call = (f: (cb: (e?: Error) => void) => void): Promise<void> => new Promise((resolve, reject) => f(e => { if (e) reject(e); else resolve() }))
  await call(cb => db.open(cb))
  await call(cb => db.compactRange(Buffer.from([0]), Buffer.alloc(64, 0xff), cb))
  await call(cb => db.close(cb))
  // The compacted store still holds the room.
  const again = new LeveldbPersistence(dir)
  const after = (await again.getYDoc(room)).getText('text').toString()
  await again.destroy()
  if (after !== before || after === '') throw new Error(`LevelDB compaction lost data (${before.length} → ${after.length} chars)`)
}

/** The plaintext y-websocket baseline. */
export const plaintextSystem: BenchSystem = {
  name: 'plaintext',
  async startServer (opts = {}) {
    const port = await freePort(HOST)
    const dir = opts.persist === true ? fs.mkdtempSync(path.join(os.tmpdir(), 'plaintext-bench-')) : undefined
    const server = await spawnServer({
      command: [process.execPath, serverScript()],
      // The stock server's own persistence switch (y-leveldb in that directory).
      env: { HOST, PORT: String(port), ...(dir === undefined ? {} : { YPERSISTENCE: dir }) },
      host: HOST,
      port
    })
    if (dir === undefined) return server
    persisted.set(server.url, { dir, inner: server })
    return {
      ...server,
      async stop () {
        await server.stop()
        persisted.delete(server.url)
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }
  },
  async createRoom () {
    return `bench-${randomUUID()}`
  },
  connect,
  connectIdle,
  async storageBytes (_server, _room, doc) {
    // The server keeps rooms only in memory; its persistence backend (y-leveldb) would store the
    // compacted state, i.e. this update, so it stands for the baseline's storage.
    return Y.encodeStateAsUpdate(doc).byteLength
  },
  async diskBytes (server, room, doc) {
    const p = persisted.get(server.url)
    if (p === undefined) throw new Error('diskBytes needs a server started with persist')
    // The stock server queues every update for y-leveldb (one read + one write each) and lags
    // seconds behind a fast writer; stopped earlier, it loses the queue. Wait until the directory
    // has not changed for 2 s.
    let live = dirBytes(p.dir)
    for (let still = 0; still < 2000; still += 250) {
      await new Promise(resolve => setTimeout(resolve, 250))
      const now = dirBytes(p.dir)
      if (now !== live) still = -250
      live = now
    }
    await p.inner.stop()
    await compactLeveldb(p.dir, room, doc.getText('text').toString())
    return { live, compacted: dirBytes(p.dir) }
  }
}
