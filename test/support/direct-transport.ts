import type { Peer, RelayCore } from '../../relay/core.js'
import { readFrame, writeFrame, type Frame, type FrameOf } from '../../shared/frame.js'
import type { KeyPair } from '../../shared/keys.js'
import { authMessage } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'
import type { Connection, ConnectionHandlers, Transport } from '../../client/core/transport.js'

/**
 * A transport wired straight to an in-process relay core (the real `relay/core.ts` over a real
 * storage backend), for tests that push thousands of envelopes through the real client path.
 * Like `client/core/memory-transport.ts` every message is delivered asynchronously, but on the next
 * macrotask (`setImmediate`) rather than after a ≥ 1 ms timer, and `settle()` waits until no
 * message is in flight in either direction and the core has handled every frame it got: after it,
 * every envelope the relay forwarded has been through the clients' receive path.
 *
 * `rawMember` is a hand-driven member connection on the same core (the attacker's view: it
 * appends whatever envelopes it is given, no client-side checks).
 */
export interface DirectTransport extends Transport {
  settle (): Promise<void>
  rawMember (sodium: Sodium, spaceId: Uint8Array, access: KeyPair): Promise<RawMember>
}

export interface RawMember {
  /** Every frame the relay sent to this connection. */
  readonly frames: Frame[]
  /** Sends a request frame and resolves with the relay's answer to its reqId (ok, error, entries, snapshots…). */
  request (make: (reqId: number) => Frame): Promise<Frame>
  close (): void
}

const immediate = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

export function createDirectTransport (core: RelayCore): DirectTransport {
  let nextId = 2_000_000
  let pending = 0
  const schedule = (fn: () => void): void => {
    pending++
    setImmediate(() => {
      try { fn() } finally { pending-- }
    })
  }
  const track = (p: Promise<void>): void => {
    pending++
    void p.finally(() => { pending-- })
  }
  return {
    connect (_url: string, h: ConnectionHandlers): Connection {
      let open = true
      const peer: Peer = {
        id: nextId++,
        send (bytes) {
          const copy = bytes.slice()
          schedule(() => { if (open) h.onMessage(copy) })
        },
        close (code) { shut(code) },
        drained: async () => {}
      }
      const shut = (reason: string): void => {
        if (!open) return
        open = false
        core.closed(peer)
        schedule(() => h.onClose(reason))
      }
      core.open(peer)
      schedule(() => { if (open) h.onOpen() })
      return {
        send (data) {
          const copy = data.slice()
          schedule(() => { if (open) track(core.frame(peer, copy)) })
        },
        close () { shut('closed by client') }
      }
    },
    async settle () {
      // Two quiet turns in a row: a handler may schedule more work from a microtask.
      for (let quiet = 0; quiet < 2;) {
        await immediate()
        quiet = pending === 0 ? quiet + 1 : 0
      }
    },
    async rawMember (sodium, spaceId, access) {
      const frames: Frame[] = []
      const waiting = new Map<number, (f: Frame) => void>()
      let reqId = 1
      const peer: Peer = {
        id: nextId++,
        send (bytes) {
          const r = readFrame(bytes)
          if (!r.ok) return
          frames.push(r.value)
          const id = 'reqId' in r.value ? r.value.reqId : 0
          const w = waiting.get(id)
          if (w !== undefined) { waiting.delete(id); w(r.value) }
        },
        close () {},
        drained: async () => {}
      }
      core.open(peer)
      const request = async (make: (reqId: number) => Frame): Promise<Frame> => {
        const id = reqId++
        const answer = new Promise<Frame>(resolve => waiting.set(id, resolve))
        await core.frame(peer, writeFrame(make(id)))
        return await answer
      }
      const ch = await request(id => ({ type: 'hello', reqId: id, spaceId }))
      if (ch.type !== 'challenge') throw new Error(`raw member: expected a challenge, got ${ch.type}`)
      const ok = await request(id => ({ type: 'auth', reqId: id, spaceId, signature: sodium.crypto_sign_detached(authMessage(spaceId, (ch as FrameOf<'challenge'>).challenge), access.privateKey), after: 0 }))
      if (ok.type !== 'ok') throw new Error(`raw member: auth refused: ${ok.type === 'error' ? ok.code : ok.type}`)
      return { frames, request, close: () => core.closed(peer) }
    }
  }
}
