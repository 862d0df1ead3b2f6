import type { Peer, RelayCore } from '../../relay/core.js'
import type { Connection, ConnectionHandlers, Transport } from './transport.js'
import { asksWelcome } from '../../shared/welcome.js'

/**
 * An in-process transport wired straight to a relay core: no sockets, same frames. Delivery is
 * asynchronous (a macrotask per message) like a network, so tests see real interleavings.
 */
export function createMemoryTransport (core: RelayCore): Transport & { disconnectAll (): void } {
  let nextId = 1_000_000
  const live = new Set<() => void>()
  return {
    connect (url: string, h: ConnectionHandlers): Connection {
      let open = true
      const id = nextId++
      const shut = (reason: string): void => {
        if (!open) return
        open = false
        live.delete(kill)
        core.closed(peer)
        setTimeout(() => h.onClose(reason), 0)
      }
      const kill = (): void => shut('disconnected')
      const peer: Peer = {
        id,
        send (bytes) {
          const copy = bytes.slice()
          setTimeout(() => { if (open) h.onMessage(copy) }, 0)
        },
        close (code) { shut(code) },
        drained: async () => {}
      }
      live.add(kill)
      core.open(peer, { welcome: asksWelcome(url) })
      setTimeout(() => { if (open) h.onOpen() }, 0)
      return {
        send (data) {
          const copy = data.slice()
          setTimeout(() => { if (open) void core.frame(peer, copy) }, 0)
        },
        close () { shut('closed by client') }
      }
    },
    disconnectAll () {
      for (const kill of [...live]) kill()
    }
  }
}
