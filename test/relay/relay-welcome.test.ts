import type { AddressInfo } from 'node:net'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { createClient, type Client } from '../../client/core/client.js'
import * as model from '../../client/core/model.js'
import { createMemorySpaceStore } from '../../client/core/store.js'
import type { Transport } from '../../client/core/transport.js'
import { equalBytes } from '../../shared/bytes.js'
import { signCreate } from '../../shared/create-proof.js'
import { readFrame, writeFrame, type Frame } from '../../shared/frame.js'
import { deriveKeys, newSpaceSecrets, parseLink, type SpaceKeys } from '../../shared/keys.js'
import { authMessage } from '../../shared/sign.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'
import { asksWelcome, withWelcome } from '../../shared/welcome.js'
import * as wire from '../../shared/wire.js'
import { rawPeer, type RawPeer } from '../support/raw-peer.js'
import { startTestRelay, waitFor, wsTransport } from '../support/relay.js'

/**
 * The relay's `welcome` (PROTOCOL.md, Join; issue 10, join latency): a client that asks for it as
 * it connects (`?welcome=1`) gets this connection's challenge as the relay's first frame and sends
 * `hello` and `auth` together, one round trip sooner than waiting for the `challenge`. A
 * connection has one challenge (every `challenge` on it carries the same), derived from a secret
 * of the relay and the connection: no two connections share one, so a signature seen on one
 * connection admits nobody on another.
 *
 * A lying relay (or anyone on the path) that forges a welcome only costs the join it lies to:
 * the auth over its challenge is refused and said, the next connection joins, nothing is lost; a
 * client that sends a welcome itself is cut off.
 *
 * Shown failing with the defence off (run by hand): with `challengeOf` in relay/core.ts returning
 * a constant, "a signature over another connection's challenge is refused" fails (the replayed
 * auth is answered `ok`).
 */
type Relay = Awaited<ReturnType<typeof startTestRelay>>
let relay: Relay | undefined
let sodium: Sodium
const raws: RawPeer[] = []
const clients: Client[] = []

beforeAll(async () => { sodium = await getSodium() })

afterEach(async () => {
  for (const p of raws.splice(0)) p.ws.terminate()
  await Promise.all(clients.splice(0).map(c => c.close()))
  await relay?.close()
  relay = undefined
})

async function raw (welcome: boolean): Promise<RawPeer> {
  relay ??= await startTestRelay()
  const p = await rawPeer(welcome ? withWelcome(relay.url) : relay.url)
  raws.push(p)
  return p
}

/** A space registered on the relay (by a connection of its own), and its keys. */
async function space (): Promise<SpaceKeys> {
  const keys = deriveKeys(sodium, newSpaceSecrets(sodium))
  const p = await raw(false)
  expect((await p.create(sodium, keys.spaceId, keys.access, keys.write!)).type).toBe('ok')
  return keys
}

const authOver = (keys: SpaceKeys, challenge: Uint8Array, reqId: number): Frame =>
  ({ type: 'auth', reqId, spaceId: keys.spaceId, signature: sodium.crypto_sign_detached(authMessage(keys.spaceId, challenge), keys.access.privateKey), after: 0 })

describe('welcome', () => {
  it('a connection that asks gets it first, with the caps; hello and auth sent together join; the hello\'s challenge is the same', async () => {
    const keys = await space()
    const p = await raw(true)
    const w = await p.next('welcome')
    expect(p.frames[0]?.type).toBe('welcome')
    expect(w.caps).toBe(wire.CAPS)
    // Not waiting for the answer to hello: both go at once.
    p.send({ type: 'hello', reqId: 1, spaceId: keys.spaceId })
    p.send(authOver(keys, w.challenge, 2))
    await p.next('ok', f => f.reqId === 2)
    await p.next('entries', f => f.reqId === 2 && !f.more)
    const ch = await p.next('challenge', f => f.reqId === 1)
    expect(equalBytes(ch.challenge, w.challenge)).toBe(true)
    expect(p.frames.some(f => f.type === 'error')).toBe(false)
  })

  it('a connection that does not ask gets none: the handshake as before', async () => {
    const keys = await space()
    const p = await raw(false)
    await p.join(sodium, keys.spaceId, keys.access)
    expect(p.frames.map(f => f.type)).not.toContain('welcome')
    expect(p.frames[0]?.type).toBe('challenge')
  })

  it('a signature over another connection\'s challenge is refused', async () => {
    const keys = await space()
    const a = await raw(true)
    const b = await raw(true)
    const [wa, wb] = [await a.next('welcome'), await b.next('welcome')]
    expect(equalBytes(wa.challenge, wb.challenge)).toBe(false)
    b.send({ type: 'hello', reqId: 1, spaceId: keys.spaceId })
    b.send(authOver(keys, wa.challenge, 2))
    const e = await b.next('error', f => f.reqId === 2)
    expect(e.code).toBe('relay/auth-failed')
    await b.closed
    expect(b.frames.some(f => f.type === 'ok')).toBe(false)
  })

  it('the welcome admits nobody by itself: auth still needs a hello first', async () => {
    const keys = await space()
    const p = await raw(true)
    const w = await p.next('welcome')
    p.send(authOver(keys, w.challenge, 1))
    expect((await p.next('error', f => f.reqId === 1)).code).toBe('relay/no-challenge')
    await p.closed
  })

  it('a client that sends a welcome (relay to client only) is cut off, and the relay serves the others', async () => {
    const keys = await space()
    const p = await raw(true)
    p.send({ type: 'welcome', spaceId: new Uint8Array(0), challenge: new Uint8Array(32), caps: wire.CAPS })
    expect((await p.next('error')).code).toBe('relay/unexpected-frame')
    await p.closed
    const q = await raw(true)
    await q.join(sodium, keys.spaceId, keys.access)
  })

  it('a space is created over the welcome\'s challenge, and joined in the same breath', async () => {
    const keys = deriveKeys(sodium, newSpaceSecrets(sodium))
    const p = await raw(true)
    const w = await p.next('welcome')
    p.send({ type: 'hello', reqId: 1, spaceId: keys.spaceId })
    p.send({ type: 'create', reqId: 2, spaceId: keys.spaceId, accessPk: keys.access.publicKey, writePk: keys.writePk, ...signCreate(sodium, keys.spaceId, keys.access, keys.write!, w.challenge) })
    p.send(authOver(keys, w.challenge, 3))
    expect((await p.next('ok', f => f.reqId === 2)).type).toBe('ok')
    await p.next('entries', f => f.reqId === 3 && !f.more)
  })

  it('the client asks, and sends its auth before any challenge comes (a round trip sooner); a relay that sends no welcome still admits it', async () => {
    relay = await startTestRelay()
    const events: string[] = []
    const urls: string[] = []
    // The real WebSocket transport, with every frame each way written down in order.
    const recording: Transport = {
      connect (url, h) {
        urls.push(url)
        const note = (dir: string, bytes: Uint8Array): void => {
          const f = readFrame(bytes)
          events.push(`${dir} ${f.ok ? f.value.type : 'compact'}`)
        }
        const c = wsTransport.connect(url, { ...h, onMessage: data => { note('in', data); h.onMessage(data) } })
        return { send (data) { note('out', data); c.send(data) }, close () { c.close() } }
      }
    }
    const client = await createClient({ transport: recording, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 } })
    clients.push(client)
    const { space: s } = await client.createSpace(relay.url, 'welcome')
    await s.whenCaughtUp(10_000)
    expect(urls.every(asksWelcome)).toBe(true)
    const firstChallenge = events.indexOf('in challenge')
    expect(events.slice(0, 2)).toEqual(['out hello', 'in welcome'])
    expect(events.indexOf('out create')).toBeGreaterThan(0)
    expect(events.indexOf('out auth')).toBeGreaterThan(0)
    expect(firstChallenge === -1 || events.indexOf('out auth') < firstChallenge).toBe(true)
    // Only one auth: the answer to the hello, which carries the same challenge, is not answered again.
    expect(events.filter(e => e === 'out auth')).toHaveLength(1)

    // A relay that sends no welcome (the request's query dropped on the way): the old handshake.
    events.length = 0
    const plain: Transport = {
      connect (url, h) { return recording.connect(url.split('?')[0]!, h) }
    }
    const old = await createClient({ transport: plain, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 } })
    clients.push(old)
    const again = await old.createSpace(relay.url, 'no welcome')
    await again.space.whenCaughtUp(10_000)
    expect(events).not.toContain('in welcome')
    expect(events.indexOf('out auth')).toBeGreaterThan(events.indexOf('in challenge'))
    expect(events.filter(e => e === 'out auth')).toHaveLength(1)
  })

  it('a lying relay\'s welcome (a challenge that is not the connection\'s) costs that join only: refused, said, and the next connection joins', async () => {
    relay = await startTestRelay()
    const target = relay.url
    // In front of the honest relay: the first `lies` connections get a forged welcome first.
    let lies = 2
    const forged: number[] = []
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    wss.on('connection', (down, req) => {
      if (lies > 0 && asksWelcome(req.url)) {
        lies--
        forged.push(1)
        down.send(writeFrame({ type: 'welcome', spaceId: new Uint8Array(0), challenge: globalThis.crypto.getRandomValues(new Uint8Array(32)), caps: wire.CAPS }))
      }
      const up = new WebSocket(target)
      const queued: Buffer[] = []
      down.on('message', d => { if (up.readyState === WebSocket.OPEN) up.send(d as Buffer); else queued.push(d as Buffer) })
      up.on('open', () => { for (const d of queued.splice(0)) up.send(d) })
      up.on('message', d => { if (down.readyState === WebSocket.OPEN) down.send(d as Buffer) })
      up.on('close', () => down.close())
      down.on('close', () => up.close())
      up.on('error', () => {})
      down.on('error', () => {})
    })
    await new Promise<void>(resolve => wss.once('listening', () => resolve()))
    try {
      const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`
      const opts = { transport: wsTransport, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 } }
      // The space is registered through the honest relay; the member opens it through the liar.
      const creator = await createClient(opts)
      clients.push(creator)
      const made = await creator.createSpace(target, 'lied to')
      await made.space.whenCaughtUp(10_000)
      const invite = parseLink(sodium, made.editLink)
      if (!invite.ok) throw new Error(invite.message)
      const member = await createClient(opts)
      clients.push(member)
      const s = await member.openSpace(invite.value, url)
      await s.whenCaughtUp(10_000)
      expect(forged).toHaveLength(2)
      await waitFor(() => s.status.connection === 'online')
      // Each refusal was said (the relay's auth-failed), and nobody was blamed for it.
      expect(s.alerts.some(a => a.code === 'sync/relay-error' && a.message.includes('relay/auth-failed'))).toBe(true)
      expect(s.alerts.every(a => a.code.startsWith('sync/'))).toBe(true)
      model.addTodo(s.doc, 'after the lies')
      await s.whenStored(5000)
      expect(s.status.unsynced).toBe(0)
      await waitFor(() => JSON.stringify(model.toJSON(made.space.doc)).includes('after the lies'))
    } finally {
      for (const c of wss.clients) c.terminate()
      await new Promise<void>(resolve => wss.close(() => resolve()))
    }
  })
})
