import WebSocket, { type ClientOptions } from 'ws'
import { readFrame, writeFrame, type Frame, type FrameOf } from '../../shared/frame.js'
import { signCreate } from '../../shared/create-proof.js'
import type { KeyPair } from '../../shared/keys.js'
import { authMessage } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'

/**
 * A hand-driven relay connection for hostile-input and limit tests: it speaks the wire protocol
 * (or deliberately breaks it) one frame at a time, records everything the relay answers and how
 * the socket ended. No client-side checks: it is the attacker's view of the relay.
 */
export interface CloseInfo { readonly code: number; readonly reason: string }

export interface RawPeer {
  readonly ws: WebSocket
  /** Every frame the relay sent, parsed. */
  readonly frames: Frame[]
  /**
   * Messages that did not parse as frames (should stay empty: the relay only sends valid frames,
   * and compact ones (shared/wire.ts) only to a peer whose hello offered them).
   */
  readonly unparsed: string[]
  /** Every binary message as it came, compact frames included (decode them with a wire session). */
  readonly messages: Uint8Array[]
  readonly closed: Promise<CloseInfo>
  readonly isClosed: boolean
  send (data: Frame | Uint8Array | string): void
  /** Resolves with the first received frame (already or later) that matches. */
  next<T extends Frame['type']> (type: T, pred?: (f: FrameOf<T>) => boolean, timeoutMs?: number): Promise<FrameOf<T>>
  /** hello → challenge → auth (signed with `access`) → ok, then waits for the end of catch-up. */
  join (sodium: Sodium, spaceId: Uint8Array, access: KeyPair, after?: number, caps?: number): Promise<void>
  /**
   * hello → challenge → create signed with `access` and `write` (which need not be the space's:
   * hostile tests sign with keys of their own) → the relay's answer to it (ok or error).
   */
  create (sodium: Sodium, spaceId: Uint8Array, access: KeyPair, write: KeyPair): Promise<FrameOf<'ok'> | FrameOf<'error'>>
  close (): void
}

export async function rawPeer (url: string, opts: ClientOptions = {}): Promise<RawPeer> {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...opts })
  const frames: Frame[] = []
  const unparsed: string[] = []
  const messages: Uint8Array[] = []
  const waiters = new Set<() => void>()
  let isClosed = false
  let reqId = 1
  ws.on('message', (data, isBinary) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)
    if (isBinary) messages.push(new Uint8Array(buf))
    const r = isBinary ? readFrame(new Uint8Array(buf)) : undefined
    if (r?.ok === true) frames.push(r.value)
    else unparsed.push(r === undefined ? 'text frame' : `${r.code}: ${r.message}`)
    for (const w of [...waiters]) w()
  })
  ws.on('error', () => {})
  const closed = new Promise<CloseInfo>(resolve => {
    ws.on('close', (code, reason) => {
      isClosed = true
      resolve({ code, reason: reason.toString() })
      for (const w of [...waiters]) w()
    })
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })

  const peer: RawPeer = {
    ws,
    frames,
    unparsed,
    messages,
    closed,
    get isClosed () { return isClosed },
    send (data) {
      if (typeof data === 'string') ws.send(data)
      else if (data instanceof Uint8Array) ws.send(data, { binary: true })
      else ws.send(writeFrame(data), { binary: true })
    },
    next (type, pred = () => true, timeoutMs = 5000) {
      type F = FrameOf<typeof type>
      const find = (): F | undefined => frames.find((f): f is F => f.type === type && pred(f as F))
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const f = find()
          if (f !== undefined) { done(); resolve(f) } else if (isClosed) { done(); reject(new Error(`socket closed before a ${type} frame arrived; got ${describe(frames)}`)) }
        }
        const timer = setTimeout(() => { done(); reject(new Error(`no ${type} frame within ${timeoutMs} ms; got ${describe(frames)}`)) }, timeoutMs)
        const done = (): void => { clearTimeout(timer); waiters.delete(check) }
        waiters.add(check)
        check()
      })
    },
    async join (sodium, spaceId, access, after = 0, caps) {
      const hello = reqId++
      peer.send({ type: 'hello', reqId: hello, spaceId, ...(caps === undefined ? {} : { caps }) })
      const ch = await peer.next('challenge', f => f.reqId === hello)
      const auth = reqId++
      peer.send({ type: 'auth', reqId: auth, spaceId, signature: sodium.crypto_sign_detached(authMessage(spaceId, ch.challenge), access.privateKey), after })
      await peer.next('ok', f => f.reqId === auth)
      await peer.next('entries', f => f.reqId === auth && f.entries.length === 0 && !f.more)
    },
    async create (sodium, spaceId, access, write) {
      const hello = reqId++
      peer.send({ type: 'hello', reqId: hello, spaceId })
      const ch = await peer.next('challenge', f => f.reqId === hello)
      const id = reqId++
      peer.send({ type: 'create', reqId: id, spaceId, accessPk: access.publicKey, writePk: write.publicKey, ...signCreate(sodium, spaceId, access, write, ch.challenge) })
      const seen = (f: Frame): f is FrameOf<'ok'> | FrameOf<'error'> => (f.type === 'ok' || f.type === 'error') && f.reqId === id
      await new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (frames.some(seen)) { waiters.delete(check); clearTimeout(timer); resolve() } else if (isClosed) { waiters.delete(check); clearTimeout(timer); reject(new Error(`socket closed before an answer to create; got ${describe(frames)}`)) }
        }
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`no answer to create; got ${describe(frames)}`)) }, 5000)
        waiters.add(check)
        check()
      })
      return frames.find(seen)!
    },
    close () { ws.close() }
  }
  return peer
}

function describe (frames: Frame[]): string {
  return frames.length === 0 ? 'nothing' : frames.map(f => f.type === 'error' ? `error(${f.code})` : f.type).join(', ')
}
