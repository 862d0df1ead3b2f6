import type { Connection, ConnectionHandlers, Transport } from './transport.js'

/** The subset of the WebSocket API both the browser and the `ws` package provide. */
export interface WebSocketLike {
  binaryType: string
  readonly readyState: number
  send (data: Uint8Array): void
  close (): void
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code?: number; reason?: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
}
export type WebSocketCtor = new (url: string) => WebSocketLike

/** A transport over real WebSockets; pass `globalThis.WebSocket` in a browser, `ws`'s class in Node. */
export function createWsTransport (Ctor: WebSocketCtor): Transport {
  return {
    connect (url: string, h: ConnectionHandlers): Connection {
      let closed = false
      const finish = (reason: string): void => {
        if (closed) return
        closed = true
        h.onClose(reason)
      }
      let ws: WebSocketLike
      try {
        ws = new Ctor(url)
      } catch (e) {
        queueMicrotask(() => finish(e instanceof Error ? e.message : 'cannot connect'))
        return { send () {}, close () {} }
      }
      ws.binaryType = 'arraybuffer'
      ws.onopen = () => { if (!closed) h.onOpen() }
      ws.onmessage = ev => {
        if (closed) return
        const d = ev.data
        if (d instanceof ArrayBuffer) h.onMessage(new Uint8Array(d))
        else if (d instanceof Uint8Array) h.onMessage(d)
        else { finish('relay sent a text frame'); ws.close() }
      }
      ws.onclose = ev => finish(ev.reason !== undefined && ev.reason !== '' ? ev.reason : `closed (${ev.code ?? '?'})`)
      ws.onerror = () => {}
      return {
        send (data) { if (!closed && ws.readyState === 1) ws.send(data) },
        close () {
          if (closed) return
          try { ws.close() } catch {}
          finish('closed by client')
        }
      }
    }
  }
}
