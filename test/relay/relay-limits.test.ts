import WebSocket from 'ws'
import { afterEach, describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../client/core/client.js'
import * as model from '../../client/core/model.js'
import type { Space } from '../../client/core/space.js'
import { createMemorySpaceStore } from '../../client/core/store.js'
import { MAX_FRAME_BYTES } from '../../shared/frame.js'
import { deriveKeys, parseLink, type SpaceKeys } from '../../shared/keys.js'
import { getSodium } from '../../shared/sodium.js'
import { rawPeer, type RawPeer } from '../support/raw-peer.js'
import { startTestRelay, testClient, waitFor, wsTransport } from '../support/relay.js'

/**
 * The limits that keep one client from hurting the relay or the others (DESIGN.md §9): a reader
 * that stops reading is cut off once its unsent bytes pass the cap (instead of growing the relay's
 * memory without bound), a client over its frame rate is cut off, and a connection that stops
 * answering pings is terminated.
 */
type Relay = Awaited<ReturnType<typeof startTestRelay>>
let relay: Relay | undefined
const clients: Client[] = []
const raws: RawPeer[] = []
let restoreSend: (() => void) | undefined

afterEach(async () => {
  restoreSend?.()
  restoreSend = undefined
  for (const p of raws.splice(0)) p.ws.terminate()
  // In parallel: a writer that made many changes seals a snapshot on close (best effort, bounded).
  await Promise.all(clients.splice(0).map(c => c.close()))
  await relay?.close()
  relay = undefined
})

async function client (): Promise<Client> {
  const c = await testClient()
  clients.push(c)
  return c
}

async function open (c: Client, link: string): Promise<Space> {
  const inv = parseLink(c.sodium, link)
  if (!inv.ok) throw new Error(inv.message)
  const s = await c.openSpace(inv.value)
  await s.whenCaughtUp(10_000)
  return s
}

async function keysOf (link: string): Promise<SpaceKeys> {
  const sodium = await getSodium()
  const inv = parseLink(sodium, link)
  if (!inv.ok) throw new Error(inv.message)
  return deriveKeys(sodium, inv.value.secrets)
}

/** Incompressible-looking text (padding and AEAD hide nothing here; it just makes bytes). */
function bulk (n: number, salt: number): string {
  let s = ''
  let x = (salt * 2654435761) >>> 0
  while (s.length < n) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    s += x.toString(36)
  }
  return s.slice(0, n)
}

/**
 * Records, for every server-side socket, the largest `bufferedAmount` right after the relay handed
 * it a message: the bytes the relay process holds for that peer beyond what the kernel took.
 */
function watchServerBuffers (): Map<number, number> {
  const max = new Map<number, number>()
  const proto = WebSocket.prototype as unknown as { send: (...args: unknown[]) => void }
  const original = proto.send
  proto.send = function (this: WebSocket & { _isServer?: boolean; _socket?: { remotePort?: number } }, ...args: unknown[]) {
    original.apply(this, args)
    if (this._isServer === true && this._socket?.remotePort !== undefined) {
      const port = this._socket.remotePort
      max.set(port, Math.max(max.get(port) ?? 0, this.bufferedAmount))
    }
  }
  restoreSend = () => { proto.send = original }
  return max
}

describe('slow readers', () => {
  it('a paused reader is cut off at maxBufferedBytes; the writer and the other readers converge', async () => {
    const CAP = 256 * 1024
    const logs: string[] = []
    relay = await startTestRelay({ maxBufferedBytes: CAP, log: l => logs.push(l) })
    const buffers = watchServerBuffers()

    const writer = await client()
    const { space: sw, editLink, viewLink } = await writer.createSpace(relay.url, 'Flood')
    await sw.whenStored(5000)
    const sr = await open(await client(), viewLink)

    // The attacker: authenticates with the view link's access key, then stops reading.
    const keys = await keysOf(viewLink)
    const paused = await rawPeer(relay.url)
    raws.push(paused)
    await paused.join(await getSodium(), keys.spaceId, keys.access)
    const port = (paused.ws as unknown as { _socket: { localPort: number; pause (): void; resume (): void } })._socket
    port.pause()
    const peersBefore = relay.core.peerCount

    // Flood: 8 MiB of notes, 32 KiB each, through the real client, one envelope per note (each
    // frame well under the cap: only the backlog of unread frames may reach it).
    const NOTES = 256
    const SIZE = 32 * 1024
    const t0 = Date.now()
    for (let i = 0; i < NOTES; i++) {
      model.addNote(sw.doc, bulk(SIZE, i))
      await sw.whenStored(10_000)
    }
    const floodMs = Date.now() - t0

    await waitFor(() => logs.some(l => l.includes('cut off: relay/slow-reader')), 10_000, 'the relay to cut the paused reader off')
    await waitFor(() => relay!.core.peerCount === peersBefore - 1, 5000, 'the paused reader to be gone')
    // Only the paused reader was cut off.
    expect(logs.filter(l => l.includes('cut off'))).toHaveLength(1)
    // What the relay held for it never passed the cap.
    const held = buffers.get(port.localPort) ?? 0
    expect(held).toBeGreaterThan(0)
    expect(held).toBeLessThanOrEqual(CAP)
    // It was the cap that stopped it: the relay had buffered close to the cap when it cut it off.
    expect(held).toBeGreaterThan(CAP / 2)
    console.log(`paused reader: the relay held at most ${held} bytes for it (cap ${CAP}) while ${(NOTES * SIZE / 1e6).toFixed(1)} MB were written in ${floodMs} ms`)

    // The live reader got everything.
    await waitFor(() => model.toJSON(sr.doc).items.length === NOTES, 20_000, 'the live reader to get every note')
    expect(model.toJSON(sr.doc)).toEqual(model.toJSON(sw.doc))
    // A reader that joins after the flood catches up on the whole backlog, although its catch-up
    // (the newest snapshot if the writer made one, several MB in one frame, then pages of entries)
    // is far larger than the cap: the cap bounds a backlog, it must not refuse a reader that reads.
    const late = await open(await client(), editLink)
    await waitFor(() => model.toJSON(late.doc).items.length === NOTES, 20_000, 'the late reader to catch up')
    expect(model.toJSON(late.doc)).toEqual(model.toJSON(sw.doc))
    for (const s of [sw, sr, late]) expect(s.alerts).toEqual([])
    // Writing still works for everyone left.
    const id = model.addNote(late.doc, 'after the flood')
    await waitFor(() => JSON.stringify(model.toJSON(sw.doc)).includes(id) && JSON.stringify(model.toJSON(sr.doc)).includes(id), 10_000, 'a last edit everywhere')

    // Once it reads again, the paused client finds its connection closed.
    port.resume()
    const closed = await paused.closed
    expect([1006, 1008]).toContain(closed.code)
  })
})

describe('catch-up pages', () => {
  it('a reader joining after a backlog larger than one frame catches up (pages are bounded in bytes)', async () => {
    relay = await startTestRelay()
    // Snapshots off: the joiner must page through the log itself.
    const writer = await createClient({ transport: wsTransport, storeFor: () => createMemorySpaceStore(), space: { snapshotEvery: 0, snapshotBytes: Number.POSITIVE_INFINITY, snapshotIdleMs: 0 } })
    clients.push(writer)
    const { space: sw, editLink } = await writer.createSpace(relay.url)
    // 40 envelopes of ~450 KB: all of them fit one count-bounded page (512 entries), which would
    // be ~18 MB, above MAX_FRAME_BYTES, so the client would refuse to read it.
    const NOTES = 40
    const SIZE = 450_000
    for (let i = 0; i < NOTES; i++) {
      model.addNote(sw.doc, bulk(SIZE, i))
      await sw.whenStored(10_000)
    }
    expect(NOTES * SIZE).toBeGreaterThan(MAX_FRAME_BYTES)
    const late = await open(await client(), editLink)
    await waitFor(() => model.toJSON(late.doc).items.length === NOTES, 20_000, 'the late reader to catch up')
    expect(model.toJSON(late.doc)).toEqual(model.toJSON(sw.doc))
    expect(late.alerts).toEqual([])
  })
})

describe('rate limits', () => {
  it('a client above framesPerSecond/frameBurst is cut off with relay/rate-limited; others are not', async () => {
    const logs: string[] = []
    relay = await startTestRelay({ framesPerSecond: 20, frameBurst: 10, log: l => logs.push(l) })
    const a = await client()
    const { space: sa, editLink } = await a.createSpace(relay.url, 'Rate')
    await sa.whenStored(5000)
    const sb = await open(await client(), editLink)

    const keys = await keysOf(editLink)
    const flooder = await rawPeer(relay.url)
    raws.push(flooder)
    // Within the burst: every frame is served.
    for (let i = 0; i < 8; i++) flooder.send({ type: 'hello', reqId: i + 1, spaceId: keys.spaceId })
    await waitFor(() => flooder.frames.filter(f => f.type === 'challenge').length === 8, 5000, 'eight challenges')
    // Far above it: cut off, with an error frame naming the reason.
    for (let i = 8; i < 60; i++) flooder.send({ type: 'hello', reqId: i + 1, spaceId: keys.spaceId })
    const c = await flooder.closed
    expect(c).toEqual({ code: 1008, reason: 'relay/rate-limited' })
    const errors = flooder.frames.filter(f => f.type === 'error')
    expect(errors.map(e => e.type === 'error' ? e.code : '')).toEqual(['relay/rate-limited'])
    // Nothing past the limit was answered.
    expect(flooder.frames.filter(f => f.type === 'challenge').length).toBeLessThanOrEqual(11)

    // A client within the limit keeps working.
    const polite = await rawPeer(relay.url)
    raws.push(polite)
    for (let i = 0; i < 5; i++) {
      polite.send({ type: 'hello', reqId: i + 1, spaceId: keys.spaceId })
      await polite.next('challenge', f => f.reqId === i + 1)
      await new Promise(resolve => setTimeout(resolve, 60))
    }
    expect(polite.isClosed).toBe(false)
    const n = model.addNote(sa.doc, 'still within limits')
    await waitFor(() => JSON.stringify(model.toJSON(sb.doc)).includes(n), 5000, 'the note at b')
    expect(model.toJSON(sa.doc)).toEqual(model.toJSON(sb.doc))
    expect(logs.filter(l => l.includes('cut off'))).toHaveLength(1)
  })

  it('a client above bytesPerSecond is cut off with relay/rate-limited', async () => {
    relay = await startTestRelay({ bytesPerSecond: 64 * 1024 })
    const keys = await keysOf((await (await client()).createSpace(relay.url)).viewLink)
    const p = await rawPeer(relay.url)
    raws.push(p)
    p.send({ type: 'hello', reqId: 1, spaceId: keys.spaceId })
    await p.next('challenge')
    // 100 KiB at once: within maxPayload, above the byte budget.
    p.send({ type: 'append', reqId: 2, spaceId: keys.spaceId, envelope: new Uint8Array(100 * 1024) })
    expect(await p.closed).toEqual({ code: 1008, reason: 'relay/rate-limited' })
    expect(p.frames.filter(f => f.type === 'error').map(f => f.type === 'error' ? f.code : '')).toEqual(['relay/rate-limited'])
  })
})

describe('heartbeats', () => {
  it('a connection that does not answer pings is terminated; ones that do stay', async () => {
    relay = await startTestRelay({ heartbeatMs: 200 })
    const silent = await rawPeer(relay.url, { autoPong: false })
    const alive = await rawPeer(relay.url)
    raws.push(silent, alive)
    let pings = 0
    silent.ws.on('ping', () => { pings++ })
    const a = await client()
    const { space: sa, editLink } = await a.createSpace(relay.url, 'Beat')
    const sb = await open(await client(), editLink)

    const started = Date.now()
    const c = await silent.closed
    const took = Date.now() - started
    expect(pings).toBeGreaterThanOrEqual(1)
    expect(c.code).toBe(1006) // terminated, no close handshake
    expect(took).toBeLessThan(3000)

    // Several more heartbeat periods: the ponging sockets and clients are still there and syncing.
    await new Promise(resolve => setTimeout(resolve, 800))
    expect(alive.isClosed).toBe(false)
    expect(sa.status.connection).toBe('online')
    const n = model.addNote(sb.doc, 'heartbeat ok')
    await waitFor(() => JSON.stringify(model.toJSON(sa.doc)).includes(n), 5000, 'the note at a')
    expect(sa.alerts).toEqual([])
  })
})
