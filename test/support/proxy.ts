import type { AddressInfo } from 'node:net'
import WebSocket, { WebSocketServer, type RawData } from 'ws'
import { createPrng, type Prng } from './prng.js'

/**
 * A hostile network between clients and a relay (DESIGN.md §1: the relay, or anyone on the path,
 * may tamper, replay, reorder, drop). A `ws` server on 127.0.0.1: every client connection gets its
 * own connection to the real relay, and binary messages are forwarded both ways through a
 * switchable, seeded set of attacks. It knows nothing of the protocol: it works on raw frames, as
 * an attacker on the wire would.
 *
 * Per frame and direction, in this order: drop; flip 1–3 random bits; hold it back and send it after
 * the next frame (reorder); send it twice (duplicate); send, later, a frame forwarded earlier,
 * possibly on another connection (replay). Each is a probability in [0, 1]; all zero is honest.
 */
export interface Attacks {
  readonly drop: number
  readonly flip: number
  readonly reorder: number
  readonly duplicate: number
  readonly replay: number
}
export type Direction = 'toRelay' | 'toClient'

export const HONEST: Attacks = { drop: 0, flip: 0, reorder: 0, duplicate: 0, replay: 0 }

export interface ProxyStats {
  forwarded: number
  dropped: number
  flipped: number
  reordered: number
  duplicated: number
  replayed: number
}

export interface HostileProxy {
  readonly url: string
  readonly port: number
  /** Sets the attacks for one direction or both (unnamed attacks become 0). */
  set (attacks: Partial<Attacks>, direction?: Direction): void
  /** Every attack off, from now on (held frames are released as they were). */
  honest (): void
  readonly stats: Record<Direction, ProxyStats>
  /** Called with every frame as received from its sender, before any attack (for controls). */
  onFrame?: (direction: Direction, bytes: Uint8Array) => void
  /** Connections currently proxied. */
  readonly connections: number
  /** Closes every proxied connection (both sides), as a network cut would. */
  cutAll (): void
  close (): Promise<void>
}

const HISTORY = 256
const HOLD_MS = 40

export async function startHostileProxy (opts: { target: string; seed: number; host?: string }): Promise<HostileProxy> {
  const rng: Prng = createPrng(opts.seed)
  const attacks: Record<Direction, Attacks> = { toRelay: { ...HONEST }, toClient: { ...HONEST } }
  const newStats = (): ProxyStats => ({ forwarded: 0, dropped: 0, flipped: 0, reordered: 0, duplicated: 0, replayed: 0 })
  const stats: Record<Direction, ProxyStats> = { toRelay: newStats(), toClient: newStats() }
  // Frames seen per direction, across all connections: the replay attack re-sends one of these.
  const history: Record<Direction, Uint8Array[]> = { toRelay: [], toClient: [] }
  const pairs = new Set<{ client: WebSocket; relay: WebSocket }>()

  const wss = new WebSocketServer({ host: opts.host ?? '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 })
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', () => resolve())
    wss.once('error', reject)
  })
  const port = (wss.address() as AddressInfo).port

  const toBytes = (data: RawData): Uint8Array => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).slice()
  }

  /** One direction of one connection: applies the attacks and writes to `out`. */
  const pipe = (direction: Direction, out: WebSocket): { frame (bytes: Uint8Array): void; flushHeld (): void } => {
    let held: Uint8Array | undefined
    let heldTimer: ReturnType<typeof setTimeout> | undefined
    const st = stats[direction]
    const emit = (b: Uint8Array): void => {
      if (out.readyState === WebSocket.OPEN) out.send(b, { binary: true })
    }
    const flushHeld = (): void => {
      if (heldTimer !== undefined) clearTimeout(heldTimer)
      heldTimer = undefined
      const h = held
      held = undefined
      if (h !== undefined) emit(h)
    }
    return {
      flushHeld,
      frame (original) {
        proxy.onFrame?.(direction, original)
        const a = attacks[direction]
        const hist = history[direction]
        hist.push(original)
        if (hist.length > HISTORY) hist.shift()
        st.forwarded++
        if (a.drop > 0 && rng.bool(a.drop)) { st.dropped++; return }
        let bytes = original
        if (a.flip > 0 && rng.bool(a.flip) && bytes.length > 0) {
          bytes = bytes.slice()
          const bits = rng.int(1, 3)
          for (let i = 0; i < bits; i++) {
            const at = rng.int(0, bytes.length - 1)
            bytes[at] = bytes[at]! ^ (1 << rng.int(0, 7))
          }
          st.flipped++
        }
        if (held === undefined && a.reorder > 0 && rng.bool(a.reorder)) {
          // Sent after the next frame of this direction, or after a short while if none comes.
          held = bytes
          heldTimer = setTimeout(flushHeld, HOLD_MS)
          st.reordered++
        } else {
          emit(bytes)
          flushHeld()
        }
        if (a.duplicate > 0 && rng.bool(a.duplicate)) { emit(bytes); st.duplicated++ }
        if (a.replay > 0 && rng.bool(a.replay) && hist.length > 1) {
          const old = hist[rng.int(0, hist.length - 2)]!
          const delay = rng.int(0, 30)
          setTimeout(() => emit(old), delay)
          st.replayed++
        }
      }
    }
  }

  wss.on('connection', client => {
    const relay = new WebSocket(opts.target, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 })
    const pair = { client, relay }
    pairs.add(pair)
    const up = pipe('toRelay', relay)
    const down = pipe('toClient', client)
    const early: Uint8Array[] = []
    const end = (): void => {
      pairs.delete(pair)
      up.flushHeld()
      down.flushHeld()
      client.terminate()
      relay.terminate()
    }
    client.on('message', (data, isBinary) => {
      if (!isBinary) { end(); return }
      const b = toBytes(data)
      if (relay.readyState === WebSocket.OPEN) up.frame(b)
      else early.push(b)
    })
    relay.on('open', () => { for (const b of early.splice(0)) up.frame(b) })
    relay.on('message', (data, isBinary) => {
      if (!isBinary) { end(); return }
      down.frame(toBytes(data))
    })
    client.on('close', end)
    relay.on('close', end)
    client.on('error', end)
    relay.on('error', end)
  })

  const proxy: HostileProxy = {
    url: `ws://127.0.0.1:${port}`,
    port,
    stats,
    set (a, direction) {
      const full = { ...HONEST, ...a }
      if (direction === undefined || direction === 'toRelay') attacks.toRelay = full
      if (direction === undefined || direction === 'toClient') attacks.toClient = full
    },
    honest () {
      attacks.toRelay = { ...HONEST }
      attacks.toClient = { ...HONEST }
    },
    get connections () { return pairs.size },
    cutAll () {
      for (const p of [...pairs]) { p.client.terminate(); p.relay.terminate() }
    },
    async close () {
      proxy.cutAll()
      await new Promise<void>(resolve => wss.close(() => resolve()))
    }
  }
  return proxy
}
