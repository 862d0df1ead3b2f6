import type { AddressInfo } from 'node:net'
import WebSocket, { WebSocketServer, type RawData } from 'ws'
import { readFrame, writeFrame } from '../../shared/frame.js'

/**
 * A pass-through WebSocket proxy on 127.0.0.1 that lets a test rewrite chosen frames on the way
 * (the targeted counterpart of test/support/proxy.ts, whose attacks are random): `tamper` sees
 * every binary message in both directions and returns the bytes to forward (the same, altered, or
 * undefined to drop it). It counts the connections it accepted, i.e. how often clients connected.
 * `inject` sends bytes nobody sent (a replay, a forgery) on every open connection.
 */
export type Direction = 'toRelay' | 'toClient'
export type Tamper = (direction: Direction, bytes: Uint8Array) => Uint8Array | undefined

export interface TamperProxy {
  readonly url: string
  /** Connections accepted so far. */
  readonly accepted: number
  tamper: Tamper | undefined
  /** Sends `bytes` to every connected client ('toClient') or to the relay on every connection ('toRelay'); returns how many got it. */
  inject (direction: Direction, bytes: Uint8Array): number
  close (): Promise<void>
}

export interface TamperProxyOptions {
  /**
   * Let client and relay agree on compact frames (shared/wire.ts). Off by default: then the proxy
   * drops the caps from every `hello`, so both sides speak frame.ts's frames, each of which a
   * `tamper` can parse alone (compact frames need the connection's stream tables).
   */
  readonly compact?: boolean
}

/** A `hello` without its caps (the relay then answers and writes as to an older client). */
function withoutCaps (bytes: Uint8Array): Uint8Array {
  const f = readFrame(bytes)
  if (!f.ok || f.value.type !== 'hello' || f.value.caps === undefined) return bytes
  return writeFrame({ type: 'hello', reqId: f.value.reqId, spaceId: f.value.spaceId })
}

export async function startTamperProxy (target: string, opts: TamperProxyOptions = {}): Promise<TamperProxy> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 })
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', () => resolve())
    wss.once('error', reject)
  })
  const pairs = new Set<{ client: WebSocket; relay: WebSocket }>()
  const toBytes = (data: RawData): Uint8Array => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).slice()
  }
  const proxy: TamperProxy = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    accepted: 0,
    tamper: undefined,
    inject (direction, bytes) {
      let n = 0
      for (const p of pairs) {
        const out = direction === 'toClient' ? p.client : p.relay
        if (out.readyState === WebSocket.OPEN) { out.send(bytes, { binary: true }); n++ }
      }
      return n
    },
    async close () {
      for (const p of pairs) { p.client.terminate(); p.relay.terminate() }
      await new Promise<void>(resolve => wss.close(() => resolve()))
    }
  }
  wss.on('connection', client => {
    ;(proxy as { accepted: number }).accepted++
    const relay = new WebSocket(target, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 })
    const pair = { client, relay }
    pairs.add(pair)
    const early: Uint8Array[] = []
    const forward = (direction: Direction, out: WebSocket, bytes: Uint8Array): void => {
      const b = proxy.tamper === undefined ? bytes : proxy.tamper(direction, bytes)
      if (b !== undefined && out.readyState === WebSocket.OPEN) out.send(b, { binary: true })
    }
    const end = (): void => {
      pairs.delete(pair)
      client.terminate()
      relay.terminate()
    }
    client.on('message', data => {
      const b = opts.compact === true ? toBytes(data) : withoutCaps(toBytes(data))
      if (relay.readyState === WebSocket.OPEN) forward('toRelay', relay, b)
      else early.push(b)
    })
    relay.on('open', () => { for (const b of early.splice(0)) forward('toRelay', relay, b) })
    relay.on('message', data => forward('toClient', client, toBytes(data)))
    client.on('close', end)
    relay.on('close', end)
    client.on('error', end)
    relay.on('error', end)
  })
  return proxy
}
