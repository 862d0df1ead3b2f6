import path from 'node:path'
import Database from 'better-sqlite3'
import * as encoding from 'lib0/encoding'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { writeBatch } from '../../client/core/apply.js'
import type { Client } from '../../client/core/client.js'
import * as model from '../../client/core/model.js'
import type { Space } from '../../client/core/space.js'
import { createSqliteStore } from '../../relay/storage/sqlite.js'
import { GENESIS_HASH, open as openEnvelope, seal, type Device } from '../../shared/envelope.js'
import { FrameType, MAX_FRAME_BYTES, writeFrame } from '../../shared/frame.js'
import { MsgType, parseEnvelope } from '../../shared/header.js'
import { certifyDevice, deriveKeys, newSpaceSecrets, parseLink, type SpaceKeys } from '../../shared/keys.js'
import { authMessage, certMessage, hash } from '../../shared/sign.js'
import { getSodium, randomBytes, type Sodium } from '../../shared/sodium.js'
import { createPrng, testSeed } from '../support/prng.js'
import { rawPeer, type RawPeer } from '../support/raw-peer.js'
import { startTestRelay, tempDir, testClient, waitFor } from '../support/relay.js'

/**
 * The relay never trusts its input (DESIGN.md §9): whatever one socket sends, the relay answers
 * with an error frame where it still can, closes only that socket, and keeps serving everyone
 * else. Everything here runs against a real relay (ws + SQLite) with real clients next to the
 * attacker's raw sockets.
 */
const seed = testSeed('relay-hostile-input')
const POLICY = 1008

let sodium: Sodium
let relay: Awaited<ReturnType<typeof startTestRelay>>
const logLines: string[] = []
let a: Client
let b: Client
let sa: Space
let sb: Space
let editLink: string
let viewLink: string
const raws: RawPeer[] = []

const raw = async (): Promise<RawPeer> => {
  const p = await rawPeer(relay.url)
  raws.push(p)
  return p
}

/** Rows in the relay's durable log, read straight from its SQLite file. */
function logCount (): number {
  const db = new Database(path.join(relay.dir, 'relay.sqlite'), { readonly: true })
  try {
    return (db.prepare('SELECT count(*) AS n FROM log').get() as { n: number }).n
  } finally {
    db.close()
  }
}

function keysOf (link: string): SpaceKeys {
  const inv = parseLink(sodium, link)
  if (!inv.ok) throw new Error(inv.message)
  return deriveKeys(sodium, inv.value.secrets)
}

/** A real Yjs update adding one note, as a client would put in an envelope. */
function noteUpdate (text: string): Uint8Array {
  const d = new Y.Doc()
  model.addNote(d, text)
  return Y.encodeStateAsUpdate(d)
}

const docText = (s: Space): string => JSON.stringify(model.toJSON(s.doc))

/** One edit on each side, then both replicas must be equal (the clients were not disturbed). */
async function expectStillSyncing (tag: string): Promise<void> {
  const na = model.addNote(sa.doc, `from a ${tag}`)
  const nb = model.addTodo(sb.doc, `from b ${tag}`)
  await waitFor(() => docText(sb).includes(na) && docText(sa).includes(nb), 10_000, `both edits of ${tag}`)
  await Promise.all([sa.whenStored(5000), sb.whenStored(5000)])
  expect(model.toJSON(sa.doc)).toEqual(model.toJSON(sb.doc))
  expect(sa.alerts).toEqual([])
  expect(sb.alerts).toEqual([])
}

/**
 * The relay closed the socket with the policy code and, just before, sent an error frame whose code
 * is `code` (or matches it) and is also the close reason.
 */
async function expectRefusedAndClosed (p: RawPeer, code: string | RegExp): Promise<string> {
  const c = await within(p.closed, 5000, 'the relay to close the socket')
  const errors = p.frames.filter(f => f.type === 'error')
  const e = errors[errors.length - 1]
  if (e === undefined) throw new Error(`closed (${c.code} ${c.reason}) without an error frame`)
  if (typeof code === 'string') expect(e.code).toBe(code)
  else expect(e.code).toMatch(code)
  expect(c.code).toBe(POLICY)
  expect(c.reason).toBe(e.code)
  expect(p.unparsed).toEqual([])
  return e.code
}

function within<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const t = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms) })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

beforeAll(async () => {
  sodium = await getSodium()
  relay = await startTestRelay({ log: line => logLines.push(line) })
  a = await testClient()
  b = await testClient()
  const created = await a.createSpace(relay.url, 'Hostile')
  sa = created.space
  editLink = created.editLink
  viewLink = created.viewLink
  await sa.whenStored(5000)
  const inv = parseLink(b.sodium, editLink)
  if (!inv.ok) throw new Error(inv.message)
  sb = await b.openSpace(inv.value)
  await sb.whenCaughtUp(5000)
  await expectStillSyncing('before')
})

afterAll(async () => {
  for (const p of raws) p.ws.terminate()
  await a?.close()
  await b?.close()
  await relay?.close()
})

describe('malformed frames', () => {
  it('each gets an error frame and closes only its own socket; clients and relay carry on', async () => {
    const keys = keysOf(editLink)
    // A raw member of the same space that behaves: it must stay connected and keep receiving.
    const bystander = await raw()
    await bystander.join(sodium, keys.spaceId, keys.access)
    const peersBefore = relay.core.peerCount
    const rowsBefore = logCount()

    const prng = createPrng(seed)
    const validHello = writeFrame({ type: 'hello', reqId: 7, spaceId: keys.spaceId })
    const validAppend = writeFrame({ type: 'append', reqId: 8, spaceId: keys.spaceId, envelope: prng.bytes(400) })
    const enc = (fn: (e: encoding.Encoder) => void): Uint8Array => {
      const e = encoding.createEncoder()
      fn(e)
      return encoding.toUint8Array(e)
    }

    const cases: Array<{ name: string; bytes: Uint8Array; code: string | RegExp }> = []
    for (let i = 0; i < 12; i++) cases.push({ name: `random bytes #${i}`, bytes: prng.bytes(prng.int(1, 300)), code: /^(frame|relay|wire)\// })
    cases.push({ name: 'empty binary message', bytes: new Uint8Array(0), code: 'frame/truncated' })
    for (const cut of [1, 2, 10, validHello.length - 1]) cases.push({ name: `hello truncated to ${cut}`, bytes: validHello.slice(0, cut), code: 'frame/truncated' })
    for (const cut of [3, 20, 200, validAppend.length - 1]) cases.push({ name: `append truncated to ${cut}`, bytes: validAppend.slice(0, cut), code: 'frame/truncated' })
    cases.push({ name: 'unknown type 99', bytes: Uint8Array.of(99, 1, 2, 3), code: 'frame/unknown-type' })
    cases.push({ name: 'unknown type 0', bytes: Uint8Array.of(0), code: 'frame/unknown-type' })
    cases.push({ name: 'type above the varint cap', bytes: enc(e => encoding.writeVarUint(e, 100_000)), code: 'frame/too-large' })
    cases.push({ name: 'overlong varint', bytes: Uint8Array.of(0x82, 0x80, 0x80, 0x00), code: 'frame/bad-varint' })
    cases.push({ name: 'relay-to-client frame sent by a client', bytes: writeFrame({ type: 'ok', reqId: 1, spaceId: keys.spaceId, cursor: 5 }), code: 'relay/unexpected-frame' })
    // One varUint after a hello is its caps (shared/wire.ts): a byte after those is trailing.
    cases.push({ name: 'trailing bytes after a valid hello', bytes: Uint8Array.of(...validHello, 0, 0), code: 'frame/trailing-bytes' })
    cases.push({
      name: 'spaceId length prefix of 2^40',
      bytes: enc(e => { encoding.writeVarUint(e, FrameType.hello); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 2 ** 40) }),
      code: 'frame/too-large'
    })
    cases.push({
      name: 'envelope length prefix above the envelope cap',
      bytes: enc(e => { encoding.writeVarUint(e, FrameType.append); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, keys.spaceId); encoding.writeVarUint(e, 2 ** 31); encoding.writeUint8Array(e, new Uint8Array(64)) }),
      code: 'frame/too-large'
    })
    cases.push({
      name: 'envelope length prefix past the end of the frame',
      bytes: enc(e => { encoding.writeVarUint(e, FrameType.append); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, keys.spaceId); encoding.writeVarUint(e, 1_000_000); encoding.writeUint8Array(e, new Uint8Array(64)) }),
      code: 'frame/truncated'
    })
    cases.push({
      name: 'entry count above the cap in a client-sent entries frame',
      bytes: enc(e => { encoding.writeVarUint(e, FrameType.entries); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, keys.spaceId); encoding.writeVarUint(e, 1e9) }),
      code: 'frame/too-large'
    })
    cases.push({
      name: 'spaceId of the wrong length',
      bytes: enc(e => { encoding.writeVarUint(e, FrameType.hello); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, new Uint8Array(15)) }),
      code: 'frame/bad-field'
    })

    // The snapshot part and attestation frames (issue 7).
    const validAttest = writeFrame({ type: 'attest', reqId: 9, spaceId: keys.spaceId, snapshotHash: prng.bytes(32), device: prng.bytes(32), cert: prng.bytes(64), signature: prng.bytes(64) })
    for (const cut of [1, 20, 60, validAttest.length - 1]) cases.push({ name: `attest truncated to ${cut}`, bytes: validAttest.slice(0, cut), code: 'frame/truncated' })
    cases.push({ name: 'snapshotPart (relay-to-client) sent by a client', bytes: writeFrame({ type: 'snapshotPart', reqId: 1, spaceId: keys.spaceId, envelope: prng.bytes(300) }), code: 'relay/unexpected-frame' })
    cases.push({ name: 'getSnapshotPart with a 31-byte hash', bytes: enc(e => { encoding.writeVarUint(e, FrameType.getSnapshotPart); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, keys.spaceId); encoding.writeVarUint8Array(e, new Uint8Array(31)) }), code: 'frame/bad-field' })
    cases.push({
      name: 'putSnapshot announcing 1025 parts',
      bytes: enc(e => { encoding.writeVarUint(e, FrameType.putSnapshot); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, keys.spaceId); encoding.writeVarUint(e, 0); encoding.writeVarUint8Array(e, prng.bytes(300)); encoding.writeVarUint(e, 1025) }),
      code: 'frame/too-large'
    })
    cases.push({
      name: 'putSnapshot announcing 1024 parts with none present',
      bytes: enc(e => { encoding.writeVarUint(e, FrameType.putSnapshot); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, keys.spaceId); encoding.writeVarUint(e, 0); encoding.writeVarUint8Array(e, prng.bytes(300)); encoding.writeVarUint(e, 1024) }),
      code: 'frame/truncated'
    })
    cases.push({ name: 'putSnapshotPart before joining', bytes: writeFrame({ type: 'putSnapshotPart', reqId: 1, spaceId: keys.spaceId, envelope: prng.bytes(400) }), code: 'relay/not-joined' })
    cases.push({ name: 'getSnapshotPart before joining', bytes: writeFrame({ type: 'getSnapshotPart', reqId: 1, spaceId: keys.spaceId, hash: prng.bytes(32) }), code: 'relay/not-joined' })

    for (const c of cases) {
      const p = await raw()
      p.send(c.bytes)
      try {
        await expectRefusedAndClosed(p, c.code)
      } catch (e) {
        throw new Error(`${c.name} (${Buffer.from(c.bytes.slice(0, 32)).toString('hex')}): ${String(e)}`)
      }
    }

    // A text frame is not part of the protocol: refused with an error frame, socket closed.
    const text = await raw()
    text.send('{"type":"hello"}')
    await expectRefusedAndClosed(text, 'frame/not-binary')

    // A frame over maxPayload: `ws` itself fails the connection (1009) while reading it, before the
    // relay sees a message; the socket is already closing, so no error frame can be sent.
    const huge = await raw()
    huge.send(new Uint8Array(MAX_FRAME_BYTES + 1))
    const hc = await within(huge.closed, 10_000, 'the oversized frame to close its socket')
    expect(hc.code).toBe(1009)
    expect(huge.frames).toEqual([])

    // Only the offenders were closed: the bystander is still connected and still served.
    await waitFor(() => relay.core.peerCount === peersBefore, 5000, 'offending peers to be gone')
    expect(bystander.isClosed).toBe(false)
    expect(logCount()).toBe(rowsBefore)
    const seen = bystander.frames.length
    await expectStillSyncing('after malformed frames')
    await waitFor(() => bystander.frames.slice(seen).filter(f => f.type === 'entries' && f.reqId === 0).length >= 2, 5000, 'live entries at the bystander')
    expect(bystander.frames.some(f => f.type === 'error')).toBe(false)

    // The relay still accepts new connections.
    const fresh = await raw()
    fresh.send({ type: 'hello', reqId: 1, spaceId: keys.spaceId })
    await fresh.next('challenge')
  })

  it('a socket the relay cut off gets nothing more acted upon, even frames already on the wire', async () => {
    const keys = keysOf(editLink)
    const p = await raw()
    await p.join(sodium, keys.spaceId, keys.access)
    const rowsBefore = logCount()
    // A valid, certified envelope right behind a text frame, in the same TCP burst.
    const device = sodium.crypto_sign_keypair()
    const cert = certifyDevice(sodium, keys, device.publicKey)!
    const env = seal(sodium, keys, { ...device, cert }, MsgType.update, { stream: randomBytes(8), seq: 0, prevHash: GENESIS_HASH }, writeBatch([noteUpdate('after the cut')]))
    p.send('not a frame')
    p.send({ type: 'append', reqId: 99, spaceId: keys.spaceId, envelope: env })
    await expectRefusedAndClosed(p, 'frame/not-binary')
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(p.frames.some(f => f.type === 'ok' && f.reqId === 99)).toBe(false)
    expect(logCount()).toBe(rowsBefore)
    expect(docText(sa)).not.toContain('after the cut')
  })
})

describe('protocol violations', () => {
  it('append before auth is refused and the socket closed', async () => {
    const keys = keysOf(editLink)
    const p = await raw()
    const rows = logCount()
    const device = sodium.crypto_sign_keypair()
    const env = seal(sodium, keys, { ...device, cert: certifyDevice(sodium, keys, device.publicKey)! }, MsgType.update, { stream: randomBytes(8), seq: 0, prevHash: GENESIS_HASH }, writeBatch([noteUpdate('unauthenticated')]))
    p.send({ type: 'append', reqId: 1, spaceId: keys.spaceId, envelope: env })
    await expectRefusedAndClosed(p, 'relay/not-joined')
    // A hello alone does not admit either.
    const q = await raw()
    q.send({ type: 'hello', reqId: 1, spaceId: keys.spaceId })
    await q.next('challenge')
    q.send({ type: 'append', reqId: 2, spaceId: keys.spaceId, envelope: env })
    await expectRefusedAndClosed(q, 'relay/not-joined')
    // Nor does fetching.
    const r = await raw()
    r.send({ type: 'fetch', reqId: 1, spaceId: keys.spaceId, after: 0, limit: 100 })
    await expectRefusedAndClosed(r, 'relay/not-joined')
    expect(r.frames.some(f => f.type === 'entries')).toBe(false)
    expect(logCount()).toBe(rows)
  })

  it('auth without a challenge, or with a wrong signature, is refused', async () => {
    const keys = keysOf(editLink)
    const noHello = await raw()
    noHello.send({ type: 'auth', reqId: 1, spaceId: keys.spaceId, signature: new Uint8Array(64), after: 0 })
    await expectRefusedAndClosed(noHello, 'relay/no-challenge')

    // Signed by a key that is not the space's access key.
    const stranger = sodium.crypto_sign_keypair()
    const wrongKey = await raw()
    wrongKey.send({ type: 'hello', reqId: 1, spaceId: keys.spaceId })
    const ch = await wrongKey.next('challenge')
    wrongKey.send({ type: 'auth', reqId: 2, spaceId: keys.spaceId, signature: sodium.crypto_sign_detached(authMessage(keys.spaceId, ch.challenge), stranger.privateKey), after: 0 })
    await expectRefusedAndClosed(wrongKey, 'relay/auth-failed')
    expect(wrongKey.frames.some(f => f.type === 'ok' || f.type === 'entries')).toBe(false)

    // The right key over the wrong challenge (a replayed signature) is refused as well.
    const replay = await raw()
    replay.send({ type: 'hello', reqId: 1, spaceId: keys.spaceId })
    await replay.next('challenge')
    replay.send({ type: 'auth', reqId: 2, spaceId: keys.spaceId, signature: sodium.crypto_sign_detached(authMessage(keys.spaceId, ch.challenge), keys.access.privateKey), after: 0 })
    await expectRefusedAndClosed(replay, 'relay/auth-failed')
  })

  it('an append whose envelope names another space than its frame is refused', async () => {
    const keys = keysOf(editLink)
    const other = deriveKeys(sodium, newSpaceSecrets(sodium))
    const device = sodium.crypto_sign_keypair()
    // Validly sealed and certified, but for another space.
    const env = seal(sodium, other, { ...device, cert: certifyDevice(sodium, other, device.publicKey)! }, MsgType.update, { stream: randomBytes(8), seq: 0, prevHash: GENESIS_HASH }, writeBatch([noteUpdate('wrong space')]))
    const rows = logCount()
    const p = await raw()
    await p.join(sodium, keys.spaceId, keys.access)
    p.send({ type: 'append', reqId: 5, spaceId: keys.spaceId, envelope: env })
    await expectRefusedAndClosed(p, 'relay/wrong-space-or-type')
    expect(logCount()).toBe(rows)

    // A presence envelope in an append frame (right space, wrong type) is refused the same way.
    const cert = certifyDevice(sodium, keys, device.publicKey)!
    const presence = seal(sodium, keys, { ...device, cert }, MsgType.presence, { stream: randomBytes(8), seq: 0, prevHash: GENESIS_HASH }, new Uint8Array(8))
    const q = await raw()
    await q.join(sodium, keys.spaceId, keys.access)
    q.send({ type: 'append', reqId: 6, spaceId: keys.spaceId, envelope: presence })
    await expectRefusedAndClosed(q, 'relay/wrong-space-or-type')
    expect(logCount()).toBe(rows)
  })

  it('a second create of an existing space id is refused and keeps the original keys', async () => {
    const keys = keysOf(editLink)
    const attacker = sodium.crypto_sign_keypair()
    const p = await raw()
    // With the space's own keys (anyone holding the edit link could sign this): the id is taken.
    const again = await p.create(sodium, keys.spaceId, keys.access, keys.write!)
    expect(again.type === 'error' ? again.code : again.type).toBe('relay/space-exists')
    // With keys of the attacker's own: the id is not theirs to register (it is derived from the keys).
    const e = await p.create(sodium, keys.spaceId, attacker, attacker)
    expect(e.type === 'error' ? e.code : e.type).toBe('relay/bad-space-id')
    // Not a protocol violation (a client whose create ack was lost sends it again): the socket stays.
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(p.isClosed).toBe(false)
    const db = new Database(path.join(relay.dir, 'relay.sqlite'), { readonly: true })
    try {
      const row = db.prepare('SELECT access_pk, write_pk FROM spaces WHERE id = ?').get(keys.spaceId) as { access_pk: Buffer; write_pk: Buffer }
      expect(Buffer.from(row.access_pk).equals(Buffer.from(keys.access.publicKey))).toBe(true)
      expect(Buffer.from(row.write_pk).equals(Buffer.from(keys.writePk))).toBe(true)
    } finally {
      db.close()
    }
    // The attacker's access key does not open the space.
    p.send({ type: 'hello', reqId: 40, spaceId: keys.spaceId })
    const ch = await p.next('challenge', f => f.reqId === 40)
    p.send({ type: 'auth', reqId: 41, spaceId: keys.spaceId, signature: sodium.crypto_sign_detached(authMessage(keys.spaceId, ch.challenge), attacker.privateKey), after: 0 })
    await expectRefusedAndClosed(p, 'relay/auth-failed')
    await expectStillSyncing('after a second create')
  })
})

describe('view-only links cannot write', () => {
  it('(a) the client core marks a view-only space read-only and sends nothing', async () => {
    const c = await testClient()
    try {
      const inv = parseLink(c.sodium, viewLink)
      if (!inv.ok) throw new Error(inv.message)
      expect(inv.value.mode).toBe('view')
      const sc = await c.openSpace(inv.value)
      await sc.whenCaughtUp(5000)
      expect(sc.readOnly).toBe(true)
      expect(model.toJSON(sc.doc)).toEqual(model.toJSON(sa.doc))
      const rows = logCount()
      model.addNote(sc.doc, 'VIEWER-EDIT')
      expect(sc.alerts.map(x => x.code)).toContain('space/read-only')
      expect(sc.unsynced).toBe(0)
      await sc.flush()
      await new Promise(resolve => setTimeout(resolve, 300))
      expect(logCount()).toBe(rows)
      expect(docText(sa)).not.toContain('VIEWER-EDIT')
      expect(docText(sb)).not.toContain('VIEWER-EDIT')
      // Reading still works: an edit from a reaches the viewer.
      const id = model.addNote(sa.doc, 'for the viewer')
      await waitFor(() => docText(sc).includes(id), 5000, 'edit at the viewer')
    } finally {
      await c.close()
    }
  })

  it('(b) a forged write from a view link (cert signed by another key) is refused by the relay and never stored', async () => {
    // Everything a view-link holder has: K (so every read key and the access key) and write.pk.
    const inv = parseLink(sodium, viewLink)
    if (!inv.ok) throw new Error(inv.message)
    expect(inv.value.secrets.writeSeed).toBeUndefined()
    const keys = deriveKeys(sodium, inv.value.secrets)
    expect(keys.write).toBeUndefined()
    expect(certifyDevice(sodium, keys, new Uint8Array(32))).toBeUndefined()

    const device = sodium.crypto_sign_keypair()
    const forge = (signer: Uint8Array, text: string, stream = randomBytes(8)): Uint8Array => {
      const d: Device = { publicKey: device.publicKey, privateKey: device.privateKey, cert: sodium.crypto_sign_detached(certMessage(keys.spaceId, device.publicKey), signer) }
      return seal(sodium, keys, d, MsgType.update, { stream, seq: 0, prevHash: GENESIS_HASH }, writeBatch([noteUpdate(text)]))
    }
    const otherWrite = sodium.crypto_sign_keypair()
    const forgeries = [
      { what: 'a cert signed by an unrelated write key', env: forge(otherWrite.privateKey, 'FORGED-BY-VIEWER') },
      // The strongest key a viewer holds is the access key: it is no write capability either.
      { what: 'a cert signed by the access key', env: forge(keys.access.privateKey, 'FORGED-WITH-ACCESS-KEY') },
      { what: 'a cert signed by the device itself', env: forge(device.privateKey, 'FORGED-SELF-SIGNED') }
    ]
    const rows = logCount()
    const seenA = sa.stats.applied + sa.stats.rejected
    const seenB = sb.stats.applied + sb.stats.rejected
    for (const f of forgeries) {
      const p = await raw()
      // The view link's access key does admit this socket: reading is allowed.
      await p.join(sodium, keys.spaceId, keys.access)
      p.send({ type: 'append', reqId: 42, spaceId: keys.spaceId, envelope: f.env })
      try {
        await expectRefusedAndClosed(p, 'envelope/bad-cert')
      } catch (e) {
        throw new Error(`${f.what}: ${String(e)}`)
      }
      expect(p.frames.some(x => x.type === 'ok' && x.reqId === 42)).toBe(false)
    }
    expect(logCount()).toBe(rows)
    await new Promise(resolve => setTimeout(resolve, 200))
    // The edit-link clients never received anything (not even something to reject).
    expect(sa.stats.applied + sa.stats.rejected).toBe(seenA)
    expect(sb.stats.applied + sb.stats.rejected).toBe(seenB)
    for (const s of [sa, sb]) expect(docText(s)).not.toMatch(/FORGED/)
    // A fresh device joining with the edit link does not get it from the log either.
    const late = await testClient()
    try {
      const ei = parseLink(late.sodium, editLink)
      if (!ei.ok) throw new Error(ei.message)
      const sl = await late.openSpace(ei.value)
      await sl.whenCaughtUp(5000)
      expect(docText(sl)).not.toMatch(/FORGED/)
      expect(model.toJSON(sl.doc)).toEqual(model.toJSON(sa.doc))
      expect(sl.alerts).toEqual([])
    } finally {
      await late.close()
    }
    await expectStillSyncing('after forged writes')
  })

  it('defence off: the same forgery WOULD be stored if the relay skipped verifyEnvelope', async () => {
    // The storage port checks only the stream chain, not who may write: it takes any envelope that
    // extends a stream. So it is the relay core's verifyEnvelope (write certificate + device
    // signature) that keeps a view-link holder's forged write out of the log; this control shows
    // the forged envelope is otherwise well-formed enough to be accepted, i.e. that the refusal
    // above is the certificate check at work and not some incidental failure.
    const inv = parseLink(sodium, viewLink)
    if (!inv.ok) throw new Error(inv.message)
    const keys = deriveKeys(sodium, inv.value.secrets)
    const device = sodium.crypto_sign_keypair()
    const otherWrite = sodium.crypto_sign_keypair()
    const d: Device = { ...device, cert: sodium.crypto_sign_detached(certMessage(keys.spaceId, device.publicKey), otherWrite.privateKey) }
    const env = seal(sodium, keys, d, MsgType.update, { stream: randomBytes(8), seq: 0, prevHash: GENESIS_HASH }, writeBatch([noteUpdate('FORGED-BY-VIEWER')]))
    const parsed = parseEnvelope(env)
    if (!parsed.ok) throw new Error(parsed.message)
    const h = parsed.value.header

    const dir = tempDir('cove-defence-off-')
    const store = createSqliteStore(path.join(dir, 'relay.sqlite'))
    try {
      expect(await store.createSpace(keys.spaceId, { accessPk: keys.access.publicKey, writePk: keys.writePk })).toBe(true)
      // Exactly what relay/core.ts passes to the store after its checks, without the checks.
      const r = await store.append(keys.spaceId, { author: h.author, stream: h.stream, seq: h.seq, prevHash: h.prevHash, hash: hash(sodium, env), envelope: env, kind: 'update' })
      expect(r).toEqual({ ok: true, cursor: 1, duplicate: false, prev: 0 })
      expect((await store.readAfter(keys.spaceId, 0, 10)).map(x => Buffer.from(x.envelope).equals(Buffer.from(env)))).toEqual([true])
    } finally {
      await store.close()
    }
    // Clients would still refuse it (they verify everything again), for the same reason.
    const opened = openEnvelope(sodium, keysOf(editLink), env, { types: [MsgType.update] })
    expect(opened.ok ? 'opened' : opened.code).toBe('envelope/bad-cert')
  })
})
