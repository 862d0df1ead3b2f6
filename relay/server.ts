import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'
import { MAX_FRAME_BYTES } from '../shared/frame.js'
import { getSodium } from '../shared/sodium.js'
import { asksWelcome } from '../shared/welcome.js'
import { Connection, type ConnectionLimits } from './connection.js'
import { createRelayCore, type RelayCore, type RelayCoreOptions } from './core.js'
import type { LogStore } from './storage/port.js'

/**
 * The `ws` shell around the sans-IO core (DESIGN.md §9): one socket per client, many spaces over
 * it; every limit that protects the relay from one client lives here.
 */
/** The core's options it passes through as they are (core-types.ts documents them). */
type CoreOptions = Pick<RelayCoreOptions, 'log' | 'keepSnapshots' | 'historySpacingMs' | 'pruneGraceMs' | 'pruneTailPercent' | 'maxPendingPartBytes' | 'pendingPartTtlMs' | 'maxLogBytes' | 'maxMembers' | 'createLimits' | 'bus' | 'pollMs'>

export interface RelayServerOptions extends CoreOptions {
  readonly store: LogStore
  readonly host?: string
  readonly port?: number
  /** A reader whose unsent bytes pass this is cut off rather than buffered without bound. */
  readonly maxBufferedBytes?: number
  readonly heartbeatMs?: number
  /** Token bucket per connection: sustained frames per second and burst. */
  readonly framesPerSecond?: number
  readonly frameBurst?: number
  readonly bytesPerSecond?: number
  /** Serves plain HTTP requests (the web app, issue 3); WebSocket upgrades never reach it. */
  readonly onRequest?: http.RequestListener
}

export interface RelayServer {
  readonly url: string
  readonly port: number
  readonly core: RelayCore
  close (): Promise<void>
}

/** The heartbeat visits connections in this many slices, one per heartbeatMs / HEARTBEAT_SLICES. */
const HEARTBEAT_SLICES = 8

export async function startRelay (opts: RelayServerOptions): Promise<RelayServer> {
  const sodium = await getSodium()
  const log = opts.log ?? ((line: string): void => { process.stderr.write(`${new Date().toISOString()} ${line}\n`) })
  const maxBuffered = opts.maxBufferedBytes ?? 32 * 1024 * 1024
  const heartbeatMs = opts.heartbeatMs ?? 30_000
  const fps = opts.framesPerSecond ?? 2000
  const burst = opts.frameBurst ?? 10_000
  const bps = opts.bytesPerSecond ?? 64 * 1024 * 1024
  // A catch-up page is sent once the buffer is under a quarter of the cap (`drained`): half the cap
  // per page keeps a reader that does read under the cap.
  const core = createRelayCore({
    store: opts.store, sodium, log, pageBytes: Math.floor(maxBuffered / 2),
    ...Object.fromEntries((['keepSnapshots', 'historySpacingMs', 'pruneGraceMs', 'pruneTailPercent', 'maxPendingPartBytes', 'pendingPartTtlMs', 'maxLogBytes', 'maxMembers', 'createLimits', 'bus', 'pollMs'] as const).filter(k => opts[k] !== undefined).map(k => [k, opts[k]]))
  })

  const server = http.createServer(opts.onRequest ?? ((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('Cove relay: connect with a WebSocket\n')
  }))
  const wss = new WebSocketServer({ server, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false })
  // The ws server re-emits the http server's errors (e.g. EADDRINUSE); listen() below reports them.
  wss.on('error', () => {})
  const conns = new Set<Connection>()
  const limits: ConnectionLimits = { core, log, maxBuffered, fps, burst, bps }
  let nextId = 1

  wss.on('connection', (ws, req) => {
    const conn = new Connection(nextId++, ws, req.socket.remoteAddress, limits)
    conns.add(conn)
    core.open(conn, { welcome: asksWelcome(req.url) })
    log(`peer ${conn.id} connected from ${req.socket.remoteAddress ?? '?'}`)
    ws.on('message', (data, isBinary) => conn.message(data, isBinary))
    ws.on('pong', () => { conn.alive = true })
    ws.on('error', e => log(`peer ${conn.id} socket error: ${e.message}`))
    ws.on('close', () => {
      conns.delete(conn)
      core.closed(conn)
    })
  })

  // One slice of the connections per tick, each connection once per `heartbeatMs`: pinging 2,000
  // idle connections in one burst delayed every delivery queued behind it (issue 10).
  let slice = 0
  const heartbeat = setInterval(() => {
    slice = (slice + 1) % HEARTBEAT_SLICES
    const now = Date.now()
    for (const conn of conns) {
      // A connection is first pinged half a period after it opened at the earliest.
      if (conn.id % HEARTBEAT_SLICES !== slice || now - conn.since < heartbeatMs / 2) continue
      if (!conn.alive) { conn.terminate(); continue }
      conn.alive = false
      conn.ping()
    }
  }, heartbeatMs / HEARTBEAT_SLICES)
  heartbeat.unref()

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve())
  })
  const addr = server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address

  return {
    url: `ws://${host}:${addr.port}`,
    port: addr.port,
    core,
    async close () {
      clearInterval(heartbeat)
      for (const ws of wss.clients) ws.terminate()
      await new Promise<void>(resolve => wss.close(() => resolve()))
      await new Promise<void>(resolve => server.close(() => resolve()))
      core.stop()
      await opts.bus?.close()
      await opts.store.close()
    }
  }
}
