import { beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { writeBatch } from '../../client/core/apply.js'
import { StreamReader, type ReaderHost } from '../../client/core/reader.js'
import { readSnapshotBody, SNAPSHOT_STREAM, type SnapshotBody } from '../../client/core/snapshot.js'
import { PART_BYTES, Snapshotter, type SnapshotHost } from '../../client/core/snapshotter.js'
import { concat, equalBytes, toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, open, seal, type Device } from '../../shared/envelope.js'
import type { Frame } from '../../shared/frame.js'
import { MAX_ENVELOPE_BYTES, MsgType, STREAM_BYTES } from '../../shared/header.js'
import { certifyDevice, deriveKeys, newSpaceSecrets, type SpaceKeys } from '../../shared/keys.js'
import { hash } from '../../shared/sign.js'
import { getSodium, randomBytes, type Sodium } from '../../shared/sodium.js'

/**
 * Snapshotter (client/core/snapshotter.ts) on its own: a state larger than PART_BYTES is sealed
 * in parts the head names by hash (issue 7, item 5), and a member's check of someone's snapshot
 * (`verifyMember`, item 3).
 */
let sodium: Sodium
let keys: SpaceKeys

beforeAll(async () => {
  sodium = await getSodium()
  keys = deriveKeys(sodium, newSpaceSecrets(sodium))
})

function newDevice (): Device {
  const kp = sodium.crypto_sign_keypair()
  return { publicKey: kp.publicKey, privateKey: kp.privateKey, cert: certifyDevice(sodium, keys, kp.publicKey)! }
}

/** A relay that serves the part envelopes it was given (or `swap` for a chosen one). */
function partHost (parts: readonly Uint8Array[], swap?: (env: Uint8Array) => Uint8Array): SnapshotHost & { asked: number; alerts: string[] } {
  const byHash = new Map(parts.map(p => [toHex(hash(sodium, p)), p]))
  const host = {
    asked: 0,
    alerts: [] as string[],
    async request (make: (reqId: number) => Frame): Promise<Frame> {
      const f = make(1)
      if (f.type !== 'getSnapshotPart') throw new Error(`unexpected request ${f.type}`)
      host.asked++
      const env = byHash.get(toHex(f.hash))
      if (env === undefined) return { type: 'error', reqId: f.reqId, spaceId: f.spaceId, code: 'store/not-found', message: 'no such part' }
      return { type: 'snapshotPart', reqId: f.reqId, spaceId: f.spaceId, envelope: swap === undefined ? env : swap(env) }
    },
    alert (code: string): void { host.alerts.push(code) }
  }
  return host
}

const bodyOf = (author: Uint8Array): Omit<SnapshotBody, 'parts' | 'state'> => ({ createdAt: 1, covers: 10, heads: [], bindings: [[1, author]] })

function openHead (env: Uint8Array): { seq: number; prevHash: Uint8Array; author: Uint8Array; stream: Uint8Array; body: SnapshotBody } {
  const o = open(sodium, keys, env, { types: [MsgType.snapshot] })
  if (!o.ok) throw new Error(`${o.code}: ${o.message}`)
  const b = readSnapshotBody(o.value.plaintext)
  if (!b.ok) throw new Error(b.message)
  const h = o.value.header
  return { seq: h.seq, prevHash: h.prevHash, author: h.author, stream: h.stream, body: b.value }
}

describe('Snapshotter.seal', () => {
  it('a state that fits is sealed inline in one head envelope', () => {
    const device = newDevice()
    const s = new Snapshotter(sodium, keys, device, partHost([]))
    const state = randomBytes(1000)
    const sealed = s.seal(0, bodyOf(device.publicKey), state)
    expect(sealed.parts).toEqual([])
    const h = openHead(sealed.head)
    expect(h.body.parts).toEqual([])
    expect(h.body.state).toEqual(state)
    expect(h.seq).toBe(0)
    expect(equalBytes(h.stream, SNAPSHOT_STREAM)).toBe(true)
    expect(equalBytes(h.prevHash, GENESIS_HASH)).toBe(true)
  })

  it('a state larger than PART_BYTES is sealed in parts whose hashes the head names, each at most PART_BYTES of plaintext', async () => {
    const device = newDevice()
    const s = new Snapshotter(sodium, keys, device, partHost([]))
    const state = randomBytes(2 * PART_BYTES + 12_345)
    const sealed = s.seal(3, bodyOf(device.publicKey), state)
    expect(sealed.parts).toHaveLength(3)
    const h = openHead(sealed.head)
    expect(h.seq).toBe(3)
    expect(h.body.state).toHaveLength(0)
    expect(h.body.parts).toEqual(sealed.parts.map(p => hash(sodium, p)))
    expect(sealed.head.length).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES)
    const plains: Uint8Array[] = []
    for (const p of sealed.parts) {
      expect(p.length).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES)
      const o = open(sodium, keys, p, { types: [MsgType.snapshotPart] })
      if (!o.ok) throw new Error(`${o.code}: ${o.message}`)
      expect(o.value.plaintext.length).toBeLessThanOrEqual(PART_BYTES)
      expect(o.value.header.seq).toBe(3)
      expect(equalBytes(o.value.header.author, device.publicKey)).toBe(true)
      expect(equalBytes(o.value.header.stream, SNAPSHOT_STREAM)).toBe(true)
      plains.push(o.value.plaintext)
    }
    expect(plains.map(p => p.length)).toEqual([PART_BYTES, PART_BYTES, 12_345])
    expect(equalBytes(concat(...plains), state)).toBe(true)

    // And open() fetches the parts and joins them back.
    const host = partHost(sealed.parts)
    const reader = new Snapshotter(sodium, keys, undefined, host)
    const o = await reader.open(sealed.head)
    if (!o.ok) throw new Error(`${o.code}: ${o.message}`)
    expect(host.asked).toBe(3)
    expect(equalBytes(o.value.state, state)).toBe(true)
  })

  it('exactly PART_BYTES stays inline; one byte more makes two parts', () => {
    const device = newDevice()
    const s = new Snapshotter(sodium, keys, device, partHost([]))
    expect(s.seal(0, bodyOf(device.publicKey), randomBytes(PART_BYTES)).parts).toHaveLength(0)
    const two = s.seal(0, bodyOf(device.publicKey), randomBytes(PART_BYTES + 1))
    expect(two.parts.map(p => {
      const o = open(sodium, keys, p, { types: [MsgType.snapshotPart] })
      return o.ok ? o.value.plaintext.length : -1
    })).toEqual([PART_BYTES, 1])
  })

  it('open() refuses a part the relay swapped for another (even a genuine part of the same snapshot)', async () => {
    const device = newDevice()
    const s = new Snapshotter(sodium, keys, device, partHost([]))
    const sealed = s.seal(0, bodyOf(device.publicKey), randomBytes(PART_BYTES + 10))
    const r = await new Snapshotter(sodium, keys, undefined, partHost(sealed.parts, () => sealed.parts[1]!)).open(sealed.head)
    expect(r).toMatchObject({ ok: false, code: 'snapshot/part-unavailable' })
  })

  it('chains to the snapshot it holds', () => {
    const device = newDevice()
    const s = new Snapshotter(sodium, keys, device, partHost([]))
    const first = s.seal(0, bodyOf(device.publicKey), randomBytes(10))
    s.hold({ seq: 0, hash: hash(sodium, first.head), heads: [] }, 'good')
    const second = openHead(s.seal(1, bodyOf(device.publicKey), randomBytes(10)).head)
    expect(second.seq).toBe(1)
    expect(equalBytes(second.prevHash, hash(sodium, first.head))).toBe(true)
  })

  it('a view-only session cannot seal', () => {
    const s = new Snapshotter(sodium, keys, undefined, partHost([]))
    expect(() => s.seal(0, bodyOf(randomBytes(32)), randomBytes(10))).toThrow(/view-only/)
  })
})

describe('Snapshotter.verifyMember', () => {
  /**
   * A replica that applied member A's stream (clientID 1: "hello world", then clientID 1 again:
   * " (and more)") and member B's deletion of " (and more)". `snapshotOf` seals a snapshot by a
   * third member S of a given doc state naming A's and B's heads.
   */
  function setup (): {
    doc: Y.Doc
    reader: StreamReader
    bindings: Map<number, string>
    snapshotOf: (state: Uint8Array, opts?: { aSeq?: number }) => Promise<Parameters<Snapshotter['verifyMember']>[0]>
    judge: Snapshotter
    stateBeforeDelete: Uint8Array
  } {
    const doc = new Y.Doc()
    doc.getText('text')
    const host: ReaderHost = {
      apply (updates) {
        const before = toHex(Y.encodeStateVector(doc))
        Y.transact(doc, () => { for (const u of updates) Y.applyUpdate(doc, u) })
        return { ok: true, changed: toHex(Y.encodeStateVector(doc)) !== before }
      },
      alert () {},
      requestGap () {},
      clearGap () {}
    }
    const reader = new StreamReader(sodium, keys, host, () => 'none')
    const a = newDevice()
    const b = newDevice()
    const aStream = randomBytes(STREAM_BYTES)
    const bStream = randomBytes(STREAM_BYTES)

    const src = new Y.Doc()
    src.clientID = 1
    const updates: Uint8Array[] = []
    src.on('update', (u: Uint8Array) => { updates.push(u) })
    src.getText('text').insert(0, 'hello world')
    src.getText('text').insert(11, ' (and more)')
    const a0 = seal(sodium, keys, a, MsgType.update, { stream: aStream, seq: 0, prevHash: GENESIS_HASH }, writeBatch([updates[0]!]))
    const a1 = seal(sodium, keys, a, MsgType.update, { stream: aStream, seq: 1, prevHash: hash(sodium, a0) }, writeBatch([updates[1]!]))
    let cursor = 0
    expect(reader.receive({ cursor: ++cursor, envelope: a0 })).toBe('applied')
    expect(reader.receive({ cursor: ++cursor, envelope: a1 })).toBe('applied')
    const stateBeforeDelete = Y.encodeStateAsUpdateV2(doc)

    const del = new Y.Doc()
    Y.applyUpdate(del, Y.encodeStateAsUpdate(doc))
    del.clientID = 3
    const sv = Y.encodeStateVector(del)
    del.getText('text').delete(11, 11)
    const b0 = seal(sodium, keys, b, MsgType.update, { stream: bStream, seq: 0, prevHash: GENESIS_HASH }, writeBatch([Y.encodeStateAsUpdate(del, sv)]))
    expect(reader.receive({ cursor: ++cursor, envelope: b0 })).toBe('applied')
    expect(doc.getText('text').toString()).toBe('hello world')

    const bindings = new Map<number, string>([[1, toHex(a.publicKey)]])
    const sDevice = newDevice()
    const maker = new Snapshotter(sodium, keys, sDevice, partHost([]))
    const snapshotOf = async (state: Uint8Array, opts: { aSeq?: number } = {}): Promise<Parameters<Snapshotter['verifyMember']>[0]> => {
      const aSeq = opts.aSeq ?? 1
      const heads = [
        { author: a.publicKey, stream: aStream, seq: aSeq, hash: aSeq === 1 ? hash(sodium, a1) : randomBytes(32) },
        { author: b.publicKey, stream: bStream, seq: 0, hash: hash(sodium, b0) }
      ]
      const sealed = maker.seal(0, { createdAt: 1, covers: cursor, heads, bindings: [[1, a.publicKey]] }, state)
      const o = await new Snapshotter(sodium, keys, undefined, partHost(sealed.parts)).open(sealed.head)
      if (!o.ok) throw new Error(`${o.code}: ${o.message}`)
      return o.value
    }
    const judge = new Snapshotter(sodium, keys, newDevice(), partHost([]))
    return { doc, reader, bindings, snapshotOf, judge, stateBeforeDelete }
  }

  it('an honest snapshot is good, and once held it is known', async () => {
    const t = setup()
    const o = await t.snapshotOf(Y.encodeStateAsUpdateV2(t.doc))
    expect(t.judge.verifyMember(o, t.reader, t.bindings, t.doc, new Map())).toEqual({ verdict: 'good' })
    t.judge.hold({ seq: o.header.seq, hash: o.hash, heads: o.body.heads }, 'good')
    expect(t.judge.verifyMember(o, t.reader, t.bindings, t.doc, new Map())).toEqual({ verdict: 'known' })
  })

  it('heads this replica has not reached yet: not-yet', async () => {
    const t = setup()
    const o = await t.snapshotOf(Y.encodeStateAsUpdateV2(t.doc), { aSeq: 5 })
    expect(t.judge.verifyMember(o, t.reader, t.bindings, t.doc, new Map()).verdict).toBe('not-yet')
  })

  it('content under member A\'s clientID that A never wrote (same clocks): bad', async () => {
    const t = setup()
    const forged = new Y.Doc()
    forged.clientID = 1
    forged.getText('text').insert(0, 'helloEVIL!d')
    forged.getText('text').insert(11, ' (and EVIL)')
    expect(Y.decodeStateVector(Y.encodeStateVector(forged))).toEqual(Y.decodeStateVector(Y.encodeStateVector(t.doc)))
    const o = await t.snapshotOf(Y.encodeStateAsUpdateV2(forged))
    expect(t.judge.verifyMember(o, t.reader, t.bindings, t.doc, new Map())).toMatchObject({ verdict: 'bad', code: 'snapshot/content-mismatch' })
  })

  it('a snapshot in parts is checked on its joined state', async () => {
    const t = setup()
    // The replica's doc grows past PART_BYTES (a large value by another writer), so an honest
    // snapshot of it comes in parts; `o.body.state` is then empty and only `o.state` holds it.
    const big = new Y.Doc()
    Y.applyUpdate(big, Y.encodeStateAsUpdate(t.doc))
    big.clientID = 99
    big.getMap('blob').set('x', randomBytes(PART_BYTES + 100))
    Y.applyUpdate(t.doc, Y.encodeStateAsUpdate(big, Y.encodeStateVector(t.doc)))
    const o = await t.snapshotOf(Y.encodeStateAsUpdateV2(t.doc))
    expect(o.body.parts.length).toBeGreaterThan(1)
    expect(t.judge.verifyMember(o, t.reader, t.bindings, t.doc, new Map())).toEqual({ verdict: 'good' })
  })

  it('a snapshot that covers B\'s deletion but leaves it out: bad', async () => {
    const t = setup()
    const o = await t.snapshotOf(t.stateBeforeDelete)
    expect(t.judge.verifyMember(o, t.reader, t.bindings, t.doc, new Map()).verdict).toBe('bad')
  })
})
