import { toHex } from '../../shared/bytes.js'
import * as frame from '../../shared/frame.js'
import type { Frame, FrameOf } from '../../shared/frame.js'
import * as wire from '../../shared/wire.js'
import { withWelcome } from '../../shared/welcome.js'
import type { Connection, Transport } from './transport.js'

/**
 * One connection to one relay, shared by every space open on it (DESIGN.md §9: one WebSocket per
 * client, many spaces). Reconnects with jittered exponential backoff ("full jitter": a uniform
 * delay in [0, min(cap, base·2^attempt)]) so many clients do not come back in lockstep.
 */
export interface LinkMember {
  /** Hex of the spaceId whose frames this member receives. */
  readonly spaceKey: string
  onOpen (): void
  onFrame (f: Frame): void
  onClose (reason: string): void
  /** The relay sent bytes that are not a valid frame: tampering on the way, or a broken relay. */
  onProtocolError (code: string, message: string): void
}

export interface LinkOptions {
  /**
   * More addresses of relays serving the same spaces (issue 12: several relays on one database).
   * When the connection fails or drops, the next address is tried, in turn; the session resumes
   * from its own stream heads and cursor as after any reconnect.
   */
  readonly fallbacks?: readonly string[]
  readonly backoffBaseMs?: number
  readonly backoffMaxMs?: number
  readonly random?: () => number
  /**
   * BLAKE2b-256 of an envelope (sign.ts `hash`). With it the link offers compact frames (wire.ts,
   * issue 10) in every `hello` and writes them once the relay's `challenge` accepts; without it
   * (tests that build a link by hand) it speaks only frame.ts's frames.
   */
  readonly hash?: (env: Uint8Array) => Uint8Array
  /** False: never offer compact frames (an older client, in interoperability tests and benchmarks). */
  readonly compact?: boolean
}

export class RelayLink {
  private conn: Connection | undefined
  private open = false
  /** This connection's `welcome`, if the relay sent one. */
  private welcome: FrameOf<'welcome'> | undefined
  private attempt = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private readonly members = new Map<string, LinkMember>()
  private stopped = false
  private readonly urls: readonly string[]
  private at = 0
  /** This connection's stream tables: new with every connection, so a reconnect starts empty. */
  private wire: wire.WireSession | undefined

  constructor (readonly url: string, private readonly transport: Transport, private readonly opts: LinkOptions = {}) {
    this.urls = [url, ...(opts.fallbacks ?? []).filter(u => u !== url)]
  }

  /** The address connected to (or tried next). */
  get current (): string { return this.urls[this.at] ?? this.url }

  get connected (): boolean { return this.open }

  add (m: LinkMember): void {
    this.members.set(m.spaceKey, m)
    this.stopped = false
    if (this.open) {
      m.onOpen()
      if (this.welcome !== undefined) m.onFrame(this.welcome)
    } else if (this.conn === undefined && this.timer === undefined) this.connect()
  }

  remove (m: LinkMember): void {
    if (this.members.get(m.spaceKey) === m) this.members.delete(m.spaceKey)
    if (this.members.size === 0) this.close()
  }

  send (f: Frame): boolean {
    if (!this.open || this.conn === undefined) return false
    if (this.wire === undefined) this.conn.send(frame.writeFrame(f))
    else this.conn.send(wire.writeWire(this.wire, f.type === 'hello' ? { ...f, caps: wire.CAPS } : f))
    return true
  }

  /** Drops the connection and reconnects after the usual backoff (e.g. after tampered frames). */
  reconnect (): void {
    this.conn?.close()
  }

  close (): void {
    this.stopped = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.conn?.close()
    this.conn = undefined
  }

  private connect (): void {
    this.timer = undefined
    if (this.stopped) return
    const hash = this.opts.hash
    const session = hash === undefined || this.opts.compact === false ? undefined : wire.createSession(hash)
    this.wire = session
    this.welcome = undefined
    // A current client asks for the relay's `welcome` (an older one, as tests play it, does not).
    this.conn = this.transport.connect(session === undefined ? this.current : withWelcome(this.current), {
      onOpen: () => {
        this.open = true
        this.attempt = 0
        for (const m of [...this.members.values()]) m.onOpen()
        // A transport may hand over the first message before it says the connection is open.
        if (this.welcome !== undefined) for (const m of [...this.members.values()]) m.onFrame(this.welcome)
      },
      onMessage: data => {
        const r = session === undefined ? frame.readFrame(data) : wire.readWire(session, data)
        if (!r.ok) {
          for (const m of this.members.values()) m.onProtocolError(r.code, r.message)
          this.reconnect()
          return
        }
        const f = r.value
        if (f.type === 'welcome') {
          // Kept for spaces added to this connection later; only the first counts.
          if (this.welcome !== undefined) return
          this.welcome = f
          if (!this.open) return
        }
        const key = toHex(f.spaceId)
        if (key === '') for (const m of this.members.values()) m.onFrame(f)
        else this.members.get(key)?.onFrame(f)
      },
      onClose: reason => {
        const wasOpen = this.open
        this.open = false
        this.conn = undefined
        for (const m of [...this.members.values()]) m.onClose(reason)
        if (this.stopped || this.members.size === 0) return
        // A relay that is gone (or dropped us) is not tried again first: the next one is.
        this.at = (this.at + 1) % this.urls.length
        const base = this.opts.backoffBaseMs ?? 200
        const cap = this.opts.backoffMaxMs ?? 10_000
        const delay = Math.floor((this.opts.random ?? Math.random)() * Math.min(cap, base * 2 ** this.attempt))
        this.attempt = Math.min(this.attempt + 1, 20)
        this.timer = setTimeout(() => this.connect(), wasOpen ? Math.min(delay, base) : delay)
      }
    })
  }
}
