import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { writeBatch } from '../../client/core/apply.js'
import { createClient, type Client } from '../../client/core/client.js'
import * as model from '../../client/core/model.js'
import type { Space } from '../../client/core/space.js'
import { createMemorySpaceStore } from '../../client/core/store.js'
import type { Transport } from '../../client/core/transport.js'
import { concat, equalBytes } from '../../shared/bytes.js'
import { GENESIS_HASH, open as openEnvelope, seal, type Device } from '../../shared/envelope.js'
import type { Frame, FrameOf } from '../../shared/frame.js'
import { MsgType } from '../../shared/header.js'
import { deriveKeys, parseLink, type SpaceKeys } from '../../shared/keys.js'
import { hash } from '../../shared/sign.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'
import * as wire from '../../shared/wire.js'
import { memberDevice } from '../support/member.js'
import { createPrng, testSeed } from '../support/prng.js'
import { rawPeer, type RawPeer } from '../support/raw-peer.js'
import { startTestRelay, waitFor, wsTransport } from '../support/relay.js'

/**
 * Compact frames through a real relay (ws + SQLite on 127.0.0.1; shared/wire.ts, issue 10): a
 * client that offers them and one that does not edit one space together; a reader that missed
 * part of a stream on its connection gets the prevHash it cannot derive; a compact frame that
 * lies or is garbage gets a typed error and a close of that socket only.
 */
const POLICY = 1008

let sodium: Sodium
let relay: Awaited<ReturnType<typeof startTestRelay>>
const raws: RawPeer[] = []
const clients: Client[] = []

/** Message types (first byte) a client sent and received, to show which form went where. */
interface Seen { sent: Set<number>; received: Set<number> }

function recorded (seen: Seen): Transport {
  return {
    connect (url, h) {
      const c = wsTransport.connect(url, { ...h, onMessage (data) { seen.received.add(data[0]!); h.onMessage(data) } })
      return { send (data) { seen.sent.add(data[0]!); c.send(data) }, close () { c.close() } }
    }
  }
}

async function client (seen: Seen, compact: boolean): Promise<Client> {
  const c = await createClient({ transport: recorded(seen), storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200, compact } })
  clients.push(c)
  return c
}

const raw = async (): Promise<RawPeer> => {
  const p = await rawPeer(relay.url)
  raws.push(p)
  return p
}

function keysOf (link: string): SpaceKeys {
  const inv = parseLink(sodium, link)
  if (!inv.ok) throw new Error(inv.message)
  return deriveKeys(sodium, inv.value.secrets)
}

const newDevice = (keys: SpaceKeys): Device => memberDevice(sodium, keys)

/** `n` update envelopes of one stream, each a real one-note batch (a reader could apply them). */
function chain (keys: SpaceKeys, d: Device, stream: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = []
  let prevHash: Uint8Array = GENESIS_HASH
  for (let seq = 0; seq < n; seq++) {
    const doc = new Y.Doc()
    model.addNote(doc, `raw ${seq}`)
    const env = seal(sodium, keys, d, MsgType.update, { stream, seq, prevHash }, writeBatch([Y.encodeStateAsUpdate(doc)]))
    out.push(env)
    prevHash = hash(sodium, env)
  }
  return out
}

const session = (): wire.WireSession => wire.createSession(env => hash(sodium, env))

/** A raw peer joined with caps; its sender table is on (the relay's challenge accepted). */
async function compactPeer (keys: SpaceKeys, after = 0): Promise<{ p: RawPeer; tx: wire.WireSession }> {
  const p = await raw()
  await p.join(sodium, keys.spaceId, keys.access, after, wire.CAP_COMPACT)
  const ch = p.frames.find((f): f is FrameOf<'challenge'> => f.type === 'challenge')
  expect(ch?.caps).toBe(wire.CAPS)
  const tx = session()
  tx.peerCompact = true
  return { p, tx }
}

/** Sends a compact append and waits for its answer (the relay answers in the old form). */
async function appendC (p: RawPeer, tx: wire.WireSession, spaceId: Uint8Array, envelope: Uint8Array, reqId: number): Promise<Frame> {
  const bytes = wire.writeWire(tx, { type: 'append', reqId, spaceId, envelope })
  expect(bytes[0]).toBe(wire.WireType.appendC)
  p.send(bytes)
  const seen = (f: Frame): boolean => (f.type === 'ok' || f.type === 'error') && f.reqId === reqId
  await waitFor(() => p.frames.some(seen) || p.isClosed, 5000, `an answer to append ${reqId}`)
  const f = p.frames.find(seen)
  if (f === undefined) throw new Error(`closed without an answer to append ${reqId}`)
  return f
}

/** The prevHash mode of the first envelope of a compact entries frame: 0 derived, 1 sent, 2 zero. */
function firstMode (bytes: Uint8Array): number {
  let i = 1
  for (let k = 0; k < 4; k++) { while (bytes[i]! >= 0x80) i++; i++ } // reqId, n, cursor, ref
  return bytes[i]! & 3
}

beforeAll(async () => {
  sodium = await getSodium()
  relay = await startTestRelay()
})

afterAll(async () => {
  for (const p of raws) p.ws.terminate()
  for (const c of clients) await c.close()
  await relay?.close()
})

describe('an older client and a compact one, one space', () => {
  it('both edit, both converge; the older one never sees a compact frame, the compact one sends and gets them', async () => {
    const seenNew: Seen = { sent: new Set(), received: new Set() }
    const seenOld: Seen = { sent: new Set(), received: new Set() }
    const seenCreator: Seen = { sent: new Set(), received: new Set() }
    const creator = await client(seenCreator, true)
    const made = await creator.createSpace(relay.url, 'Mixed')
    await made.space.whenStored(5000)
    const inv = parseLink(sodium, made.editLink)
    if (!inv.ok) throw new Error(inv.message)
    const spaces: Space[] = [made.space]
    spaces.push(await (await client(seenOld, false)).openSpace(inv.value))
    spaces.push(await (await client(seenNew, true)).openSpace(inv.value))
    for (const s of spaces) await s.whenCaughtUp(5000)
    const texts = spaces.map((s, i) => model.addNote(s.doc, `note ${i}`))
    for (const s of spaces) await s.whenStored(5000)
    const json = (s: Space): string => JSON.stringify(model.toJSON(s.doc))
    await waitFor(() => spaces.every(s => texts.every(t => json(s).includes(t))), 10_000, 'every note everywhere')
    // A few keystrokes more from each, interleaved.
    const start = model.title(spaces[0]!.doc).length
    for (let k = 0; k < 3; k++) {
      for (const s of spaces) model.title(s.doc).insert(0, 'x')
      for (const s of spaces) await s.whenStored(5000)
    }
    await waitFor(() => spaces.every(s => model.title(s.doc).toString() === model.title(spaces[0]!.doc).toString() && model.title(s.doc).length === start + 9), 10_000, 'titles to converge')
    for (const s of spaces) expect(model.toJSON(s.doc)).toEqual(model.toJSON(spaces[0]!.doc))
    for (const s of spaces) expect(s.alerts).toEqual([])
    const compactTypes = Object.values(wire.WireType) as number[]
    expect([...seenOld.sent].filter(t => compactTypes.includes(t))).toEqual([])
    expect([...seenOld.received].filter(t => compactTypes.includes(t))).toEqual([])
    expect(seenNew.sent.has(wire.WireType.appendC)).toBe(true)
    expect(seenNew.received.has(wire.WireType.entriesC)).toBe(true)
    expect(seenCreator.received.has(wire.WireType.entriesC)).toBe(true)
  })
})

describe('raw compact peers', () => {
  let keys: SpaceKeys
  beforeAll(async () => {
    const owner = await client({ sent: new Set(), received: new Set() }, true)
    const made = await owner.createSpace(relay.url, 'Raw')
    await made.space.whenStored(5000)
    keys = keysOf(made.editLink)
  })

  it('a hello without caps gets a challenge without caps (an older client parses it)', async () => {
    const p = await raw()
    await p.join(sodium, keys.spaceId, keys.access)
    expect(p.frames.find(f => f.type === 'challenge')).not.toHaveProperty('caps')
    expect(p.unparsed).toEqual([])
  })

  it('compact appends are stored as the envelopes they stand for; a reader across a gap gets prevHash, then derives it', async () => {
    const d = newDevice(keys)
    const envs = chain(keys, d, new Uint8Array(8).fill(3), 5)
    const w = await compactPeer(keys)
    const cursors: number[] = []
    for (let i = 0; i < 4; i++) {
      const a = await appendC(w.p, w.tx, keys.spaceId, envs[i]!, 100 + i)
      if (a.type !== 'ok') throw new Error(`append ${i} refused: ${a.type === 'error' ? a.code : a.type}`)
      cursors.push(a.cursor)
    }
    // An old-form reader gets exactly the envelopes that were sealed.
    const old = await raw()
    await old.join(sodium, keys.spaceId, keys.access)
    const stored = old.frames.flatMap(f => f.type === 'entries' ? f.entries : []).filter(e => cursors.includes(e.cursor))
    expect(stored.map(e => e.envelope)).toEqual(envs.slice(0, 4))

    // A compact reader resuming after seq 1: seq 2 comes with its ref's definition and its
    // prevHash (seq 1 never went by on this connection), seq 3 derives it.
    const r = await compactPeer(keys, cursors[1]!)
    const rx = session()
    const pages = r.p.messages.filter(m => m[0] === wire.WireType.entriesC)
    expect(pages.length).toBeGreaterThan(0)
    const got: Uint8Array[] = []
    for (const m of r.p.messages) {
      const f = wire.readWire(rx, m)
      if (!f.ok) throw new Error(`${f.code}: ${f.message}`)
      if (f.value.type === 'entries') got.push(...f.value.entries.map(e => e.envelope))
    }
    expect(got).toEqual([envs[2]!, envs[3]!])
    expect(firstMode(pages[0]!)).toBe(1)
    // Live: seq 4 follows seq 3 on the reader's connection: derived, and rebuilt exactly.
    const before = r.p.messages.length
    const a = await appendC(w.p, w.tx, keys.spaceId, envs[4]!, 104)
    expect(a.type).toBe('ok')
    const isLive = (m: Uint8Array): boolean => m[0] === wire.WireType.entriesC
    await waitFor(() => r.p.messages.slice(before).some(isLive), 5000, 'the live entry')
    const live = r.p.messages.slice(before).find(isLive)!
    expect(firstMode(live)).toBe(0)
    // The header's 226 bytes, less nonce and commitment, became a ref, flags and seq.
    expect(live.length).toBeLessThan(envs[4]!.length - 150)
    const f = wire.readWire(rx, live)
    if (!f.ok || f.value.type !== 'entries') throw new Error('expected entries')
    expect(f.value.entries[0]!.envelope).toEqual(envs[4]!)
    expect(openEnvelope(sodium, keys, f.value.entries[0]!.envelope, { types: [MsgType.update] }).ok).toBe(true)
    expect(r.p.isClosed).toBe(false)
    expect(w.p.isClosed).toBe(false)
  })

  it('a compact append whose ref was swapped rebuilds a forgery: refused like one (envelope/bad-signature), nothing stored', async () => {
    const d = newDevice(keys)
    const a = chain(keys, d, new Uint8Array(8).fill(4), 2)
    const b = chain(keys, d, new Uint8Array(8).fill(5), 2)
    const w = await compactPeer(keys)
    expect((await appendC(w.p, w.tx, keys.spaceId, a[0]!, 1)).type).toBe('ok')
    expect((await appendC(w.p, w.tx, keys.spaceId, b[0]!, 2)).type).toBe('ok')
    const bytes = wire.writeWire(w.tx, { type: 'append', reqId: 3, spaceId: keys.spaceId, envelope: b[1]! })
    expect(bytes.subarray(0, 4)).toEqual(new Uint8Array([wire.WireType.appendC, 3, 1, 0]))
    // Ref 1 (stream 5…) → ref 0 (stream 4…): seq 1 follows ref 0's seq 0, so the codec derives and rebuilds.
    w.p.send(concat(bytes.subarray(0, 2), new Uint8Array([0]), bytes.subarray(3)))
    const c = await w.p.closed
    expect(c.code).toBe(POLICY)
    expect(c.reason).toBe('envelope/bad-signature')
    const check = await raw()
    await check.join(sodium, keys.spaceId, keys.access)
    const authored = check.frames.flatMap(f => f.type === 'entries' ? f.entries : []).filter(e => equalBytes(e.envelope.subarray(30, 62), d.publicKey))
    expect(authored.map(e => e.envelope)).toEqual([a[0]!, b[0]!])
  })

  it.each([
    ['a ref never defined', 'wire/unknown-ref', (good: Uint8Array) => concat(good.subarray(0, 2), new Uint8Array([0, 0]), good.subarray(4 + 134))],
    ['a bad flag', 'wire/bad-flag', (good: Uint8Array) => concat(good.subarray(0, 3), new Uint8Array([0x44]), good.subarray(4))],
    ['a truncated frame', 'frame/truncated', (good: Uint8Array) => good.subarray(0, good.length - 1)]
  ])('%s: a typed error and a close of that socket only', async (_, code, make) => {
    const d = newDevice(keys)
    const env = chain(keys, d, new Uint8Array(8).fill(6), 1)[0]!
    const bystander = await compactPeer(keys)
    const p = await compactPeer(keys)
    const good = wire.writeWire(p.tx, { type: 'append', reqId: 9, spaceId: keys.spaceId, envelope: env })
    p.p.send(make(good))
    const c = await p.p.closed
    expect(c.code).toBe(POLICY)
    expect(c.reason).toBe(code)
    expect(p.p.frames.filter(f => f.type === 'error').map(f => (f as FrameOf<'error'>).code)).toEqual([code])
    // The bystander's socket and tables are untouched.
    expect((await appendC(bystander.p, bystander.tx, keys.spaceId, env, 1)).type).toBe('ok')
  })

  it('seeded garbage and mutated compact frames never bring the relay down', async () => {
    const prng = createPrng(testSeed('relay-compact fuzz'))
    const d = newDevice(keys)
    const codes = new Set<string>()
    for (let i = 0; i < 24; i++) {
      const envs = chain(keys, d, prng.bytes(8), 2)
      const { p, tx } = await compactPeer(keys)
      const valid = [
        wire.writeWire(tx, { type: 'append', reqId: 1, spaceId: keys.spaceId, envelope: envs[0]! }),
        wire.writeWire(tx, { type: 'append', reqId: 2, spaceId: keys.spaceId, envelope: envs[1]! })
      ]
      if (prng.bool()) p.send(valid[0]!)
      for (let k = prng.int(1, 4); k > 0 && !p.isClosed; k--) {
        let bytes: Uint8Array
        if (prng.bool(0.3)) {
          bytes = prng.bytes(prng.int(1, 300))
          bytes[0] = prng.pick(Object.values(wire.WireType))
        } else {
          bytes = prng.pick(valid).slice()
          for (let e = prng.int(1, 3); e > 0; e--) {
            const op = prng.int(0, 2)
            if (op === 0) bytes[prng.int(0, bytes.length - 1)] = prng.int(0, 255)
            else if (op === 1) bytes = bytes.subarray(0, prng.int(1, bytes.length))
            else bytes = concat(bytes, prng.bytes(prng.int(1, 8)))
          }
        }
        p.send(bytes)
      }
      await Promise.race([p.closed, new Promise(resolve => setTimeout(resolve, 150))])
      for (const f of p.frames) if (f.type === 'error') codes.add(f.code)
      p.ws.terminate()
    }
    for (const c of codes) expect(c).toMatch(/^(frame|wire|envelope|relay|store)\//)
    // Still serving: a fresh compact peer appends and reads.
    const envs = chain(keys, d, prng.bytes(8), 1)
    const after = await compactPeer(keys)
    expect((await appendC(after.p, after.tx, keys.spaceId, envs[0]!, 1)).type).toBe('ok')
  })
})
