import type { WebSocket } from 'ws'
import { writeFrame } from '../shared/frame.js'
import type { Peer, RelayCore } from './core.js'

const CLOSE_POLICY = 1008

/** What every connection of one relay shares: its limits, its core and its log. */
export interface ConnectionLimits {
  readonly core: RelayCore
  readonly log: (line: string) => void
  /** A reader whose unsent bytes pass this is cut off rather than buffered without bound. */
  readonly maxBuffered: number
  /** Token buckets: sustained frames and bytes per second, and the frame burst. */
  readonly fps: number
  readonly burst: number
  readonly bps: number
}

/**
 * One client socket as the core sees it (a Peer), with its token buckets and what the heartbeat
 * knows of it. A class, so its methods are shared by every connection: per-connection closures
 * cost an idle relay memory for each socket (a named arrow function also got a property
 * dictionary of 256 bytes from the `__name` that tsx adds; issue 10, memory per connection).
 */
export class Connection implements Peer {
  readonly address?: string
  /** Answered the last ping (or has not been pinged yet). */
  alive = true
  readonly since = Date.now()
  private frames: number
  private bytes: number
  private last = Date.now()
  private cutOff = false

  constructor (readonly id: number, private readonly ws: WebSocket, address: string | undefined, private readonly limits: ConnectionLimits) {
    if (address !== undefined) this.address = address
    this.frames = limits.burst
    this.bytes = limits.bps
  }

  send (data: Uint8Array): void {
    const ws = this.ws
    if (ws.readyState !== ws.OPEN) return
    // Slow means a backlog: bytes already waiting that this frame would take past the cap. A
    // frame to a reader with nothing waiting always goes, or one frame larger than the cap (a
    // snapshot, a catch-up page) could never reach anyone and every joiner would be cut off in a
    // loop. Held bytes stay bounded by max(cap, one frame ≤ MAX_FRAME_BYTES).
    const waiting = ws.bufferedAmount
    const cap = this.limits.maxBuffered
    if (waiting > 0 && waiting + data.length > cap) return this.cut('relay/slow-reader', `more than ${cap} bytes unread`)
    ws.send(data)
  }

  close (code: string, message: string): void { this.cut(code, message) }

  drained (): Promise<void> {
    return new Promise(resolve => {
      const check = (): void => {
        if (this.ws.readyState !== this.ws.OPEN || this.ws.bufferedAmount < this.limits.maxBuffered / 4) resolve()
        else setTimeout(check, 5)
      }
      check()
    })
  }

  /**
   * Closes this socket only. `notify` sends an error frame first, for refusals the core did not
   * answer itself (the core's own refusals already sent one; a slow reader gets no more bytes).
   */
  cut (code: string, message: string, notify = false): void {
    if (this.cutOff) return
    this.cutOff = true
    const ws = this.ws
    this.limits.log(`peer ${this.id} cut off: ${code}`)
    if (notify && ws.readyState === ws.OPEN) ws.send(writeFrame({ type: 'error', reqId: 0, spaceId: new Uint8Array(0), code, message }))
    ws.close(CLOSE_POLICY, code)
    // A peer that does not read will not complete the close handshake either.
    setTimeout(() => ws.terminate(), 1000).unref()
  }

  /** The heartbeat's: a connection that did not answer the last ping is dropped without a close handshake. */
  terminate (): void { this.ws.terminate() }
  ping (): void { this.ws.ping() }

  /** One message from the socket: rate-limited, binary only, then the core's. */
  message (data: WebSocket.RawData, isBinary: boolean): void {
    // Frames still in flight when the peer was cut off are not acted upon (not even an append).
    if (this.cutOff) return
    const { fps, burst, bps } = this.limits
    const now = Date.now()
    const dt = (now - this.last) / 1000
    this.last = now
    this.frames = Math.min(burst, this.frames + dt * fps) - 1
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)
    this.bytes = Math.min(bps, this.bytes + dt * bps) - buf.length
    if (this.frames < 0 || this.bytes < 0) return this.cut('relay/rate-limited', 'too many frames or bytes per second', true)
    if (!isBinary) return this.cut('frame/not-binary', 'text frames are not part of the protocol', true)
    void this.limits.core.frame(this, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))
  }
}
