import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { MAX_FRAME_BYTES, writeFrame } from '../shared/frame.js'
import { getSodium } from '../shared/sodium.js'
import { createRelayCore, type Peer, type RelayCore, type RelayCoreOptions } from './core.js'
import type { LogStore } from './storage/port.js'

/**
 * The `ws` shell around the sans-IO core (DESIGN.md §9): one socket per client, many spaces over
 * it; every limit that protects the relay from one client lives here.
 */
/** The core's options it passes through as they are (core-types.ts documents them). */
type CoreOptions = Pick<RelayCoreOptions, 'log' | 'keepSnapshots' | 'pruneGraceMs' | 'pruneTailPercent' | 'maxPendingPartBytes' | 'pendingPartTtlMs' | 'maxLogBytes' | 'maxMembers' | 'createLimits' | 'bus' | 'pollMs'>

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

const CLOSE_POLICY = 1008
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
    ...Object.fromEntries((['keepSnapshots', 'pruneGraceMs', 'pruneTailPercent', 'maxPendingPartBytes', 'pendingPartTtlMs', 'maxLogBytes', 'maxMembers', 'createLimits', 'bus', 'pollMs'] as const).filter(k => opts[k] !== undefined).map(k => [k, opts[k]]))
  })

  const server = http.createServer(opts.onRequest ?? ((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('Cove relay: connect with a WebSocket\n')
  }))
  const wss = new WebSocketServer({ server, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false })
  // The ws server re-emits the http server's errors (e.g. EADDRINUSE); listen() below reports them.
  wss.on('error', () => {})
  const alive = new Map<WebSocket, boolean>()
  const slotOf = new WeakMap<WebSocket, { slot: number; since: number }>()
  let nextId = 1

  wss.on('connection', (ws, req) => {
    const id = nextId++
    let frames = burst
    let bytes = bps
    let last = Date.now()
    alive.set(ws, true)
    slotOf.set(ws, { slot: id % HEARTBEAT_SLICES, since: Date.now() })
    let cutOff = false
    /**
     * Closes this socket only. `notify` sends an error frame first, for refusals the core did not
     * answer itself (the core's own refusals already sent one; a slow reader gets no more bytes).
     */
    const cut = (code: string, message: string, notify = false): void => {
      if (cutOff) return
      cutOff = true
      log(`peer ${id} cut off: ${code}`)
      if (notify && ws.readyState === ws.OPEN) ws.send(writeFrame({ type: 'error', reqId: 0, spaceId: new Uint8Array(0), code, message }))
      ws.close(CLOSE_POLICY, code)
      // A peer that does not read will not complete the close handshake either.
      setTimeout(() => ws.terminate(), 1000).unref()
    }
    const address = req.socket.remoteAddress
    const peer: Peer = {
      id,
      ...(address === undefined ? {} : { address }),
      send (data) {
        if (ws.readyState !== ws.OPEN) return
        // Slow means a backlog: bytes already waiting that this frame would take past the cap. A
        // frame to a reader with nothing waiting always goes, or one frame larger than the cap (a
        // snapshot, a catch-up page) could never reach anyone and every joiner would be cut off in a
        // loop. Held bytes stay bounded by max(cap, one frame ≤ MAX_FRAME_BYTES).
        const waiting = ws.bufferedAmount
        if (waiting > 0 && waiting + data.length > maxBuffered) return cut('relay/slow-reader', `more than ${maxBuffered} bytes unread`)
        ws.send(data)
      },
      close (code, message) { cut(code, message) },
      drained () {
        return new Promise(resolve => {
          const check = (): void => {
            if (ws.readyState !== ws.OPEN || ws.bufferedAmount < maxBuffered / 4) resolve()
            else setTimeout(check, 5)
          }
          check()
        })
      }
    }
    core.open(peer)
    log(`peer ${id} connected from ${req.socket.remoteAddress ?? '?'}`)
    ws.on('message', (data, isBinary) => {
      // Frames still in flight when the peer was cut off are not acted upon (not even an append).
      if (cutOff) return
      const now = Date.now()
      const dt = (now - last) / 1000
      last = now
      frames = Math.min(burst, frames + dt * fps) - 1
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)
      bytes = Math.min(bps, bytes + dt * bps) - buf.length
      if (frames < 0 || bytes < 0) return cut('relay/rate-limited', 'too many frames or bytes per second', true)
      if (!isBinary) return cut('frame/not-binary', 'text frames are not part of the protocol', true)
      void core.frame(peer, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))
    })
    ws.on('pong', () => alive.set(ws, true))
    ws.on('error', e => log(`peer ${id} socket error: ${e.message}`))
    ws.on('close', () => {
      alive.delete(ws)
      core.closed(peer)
    })
  })

  // One slice of the connections per tick, each connection once per `heartbeatMs`: pinging 2,000
  // idle connections in one burst delayed every delivery queued behind it (issue 10).
  let slice = 0
  const heartbeat = setInterval(() => {
    slice = (slice + 1) % HEARTBEAT_SLICES
    const now = Date.now()
    for (const [ws, ok] of alive) {
      const at = slotOf.get(ws)
      // A connection is first pinged half a period after it opened at the earliest.
      if (at === undefined || at.slot !== slice || now - at.since < heartbeatMs / 2) continue
      if (!ok) { ws.terminate(); continue }
      alive.set(ws, false)
      ws.ping()
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
