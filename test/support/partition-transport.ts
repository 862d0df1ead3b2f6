import type { Connection, ConnectionHandlers, Transport } from '../../client/core/transport.js'

/**
 * Wraps a real transport with a switch that takes one client off the network: `cut()` drops its
 * live connections (frames already on the wire may still reach the relay, as on a real network)
 * and makes every new attempt fail like a refused connection until `heal()`. The client keeps
 * running and editing meanwhile, which is the "edits made offline must survive" case.
 *
 * With `latency`, frames in each direction are delayed by a random time each but stay in order
 * (one TCP stream), so different clients' frames interleave at the relay in more ways; frames
 * still queued when the connection drops are lost, like bytes in a dead socket's buffers.
 */
export interface PartitionableTransport extends Transport {
  readonly isCut: boolean
  cut (): void
  heal (): void
}

export interface PartitionOptions {
  /** Extra one-way delay per frame, in ms. */
  readonly latency?: () => number
  /** Sees every frame that actually crosses (after latency and cuts), for tracing. */
  readonly tap?: (direction: 'in' | 'out', data: Uint8Array) => void
}

/** Delivers in order, each item no earlier than its own due time. */
function orderedDelay (latency: (() => number) | undefined): { push (fn: () => void): void; drop (): void } {
  const q: { due: number; fn: () => void }[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  let last = 0
  const run = (): void => {
    timer = undefined
    const now = Date.now()
    while (q.length > 0 && q[0]!.due <= now) q.shift()!.fn()
    if (q.length > 0) timer = setTimeout(run, q[0]!.due - now)
  }
  return {
    push (fn) {
      const lat = latency?.() ?? 0
      if (lat <= 0 && q.length === 0) { fn(); return }
      last = Math.max(last, Date.now() + lat)
      q.push({ due: last, fn })
      if (timer === undefined) timer = setTimeout(run, Math.max(0, q[0]!.due - Date.now()))
    },
    drop () {
      q.length = 0
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
    }
  }
}

export function createPartitionableTransport (inner: Transport, opts: PartitionOptions = {}): PartitionableTransport {
  let down = false
  const live = new Set<Connection>()
  return {
    get isCut () { return down },
    connect (url: string, h: ConnectionHandlers): Connection {
      if (down) {
        let closed = false
        setTimeout(() => { if (!closed) { closed = true; h.onClose('network down (test partition)') } }, 0)
        return { send () {}, close () { if (!closed) { closed = true; h.onClose('closed by client') } } }
      }
      let conn: Connection | undefined
      let done = false
      const up = orderedDelay(opts.latency)
      const downQ = orderedDelay(opts.latency)
      const wrapped: Connection = {
        send (data) {
          if (done || down) return
          const copy = data.slice()
          up.push(() => { if (!done && !down) { opts.tap?.('out', copy); conn?.send(copy) } })
        },
        close () { conn?.close() }
      }
      conn = inner.connect(url, {
        onOpen: () => { if (!done) h.onOpen() },
        onMessage: data => {
          if (done || down) return
          const copy = data.slice()
          downQ.push(() => { if (!done && !down) { opts.tap?.('in', copy); h.onMessage(copy) } })
        },
        onClose: reason => {
          if (done) return
          done = true
          up.drop()
          downQ.drop()
          live.delete(wrapped)
          h.onClose(reason)
        }
      })
      if (!done) live.add(wrapped)
      return wrapped
    },
    cut () {
      down = true
      for (const c of [...live]) c.close()
    },
    heal () { down = false }
  }
}
