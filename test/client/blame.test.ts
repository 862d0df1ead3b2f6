import fs from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createClient, type Client } from '../../client/core/client.js'
import * as model from '../../client/core/model.js'
import type { Space } from '../../client/core/space.js'
import { createMemorySpaceStore } from '../../client/core/store.js'
import type { RelayServer } from '../../relay/server.js'
import { concat, toHex } from '../../shared/bytes.js'
import { open as openEnvelope, seal, type Device } from '../../shared/envelope.js'
import { readFrame, writeFrame } from '../../shared/frame.js'
import { HEADER_BYTES, MsgType, parseEnvelope, writeHeader } from '../../shared/header.js'
import { deriveKeys, parseLink, type Invite, type SpaceKeys } from '../../shared/keys.js'
import { envelopeMessage, hash } from '../../shared/sign.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'
import { memberDevice, writeBatch } from '../support/member.js'
import { rawPeer, type RawPeer } from '../support/raw-peer.js'
import { closeAll, openTracked, QUIET_SNAPSHOTS as QUIET, startTestRelay, tempDir, waitFor, wsTransport } from '../support/relay.js'
import { startTamperProxy, type TamperProxy } from '../support/tamper-proxy.js'

/**
 * Issue 7, items 4 and 6: blame the right party.
 *
 * A member's device can sign an envelope whose content nobody can open: a wrong key commitment, or
 * a ciphertext that fails AEAD (sealed normally, then altered and signed again with the member's
 * own key). Only its author can have made it: the relay cannot forge a device signature. It must
 * be alerted once, naming the author, and skipped; sync goes on: the member's next (valid)
 * envelope and other members' updates are applied, nobody reconnects in a loop (connections
 * counted at the relay over 3 s), and honest writers can still snapshot.
 *
 * Bytes changed in transit (the signature no longer verifies) are what the relay or the network
 * could have done: those are retried, and the reader recovers once the tampering stops (a control
 * for the above: it passes before the fix too).
 *
 * And a `sync/cursor-ahead` reset against an honest relay (one restored from a backup: its head is
 * below the client's resume point) reads the space again from the start, which makes the relay
 * send the snapshot the client already holds: that is no `snapshot/regression`.
 *
 * Before the fix the bad envelope was taken for relay tampering: re-read and reconnect for ever
 * (backing off), the member's later envelopes stayed buffered behind it, and with the retry point
 * set no writer could snapshot again; the reset raised a false snapshot/regression.
 */
let relay: (RelayServer & { dir: string }) | undefined
let proxy: TamperProxy | undefined
const clients: Client[] = []
afterEach(async () => {
  await closeAll(clients, proxy, relay)
  proxy = undefined
  relay = undefined
})

const open = (invite: Invite, via?: string): Promise<Space> => openTracked(clients, invite, via)

const texts = (s: Space): string[] => model.toJSON(s.doc).items.map(i => i.kind === 'note' ? i.text : '').filter(t => t !== '')
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function compacts (s: Space): Promise<string[]> {
  const results: string[] = []
  for (let i = 0; i < 3; i++) {
    const r = await s.snapshot()
    results.push(r)
    if (r === 'stored') break
    await sleep(100)
  }
  return results
}

/** A note as one Yjs update of `doc`. */
function noteUpdate (doc: Y.Doc, text: string): Uint8Array {
  const out: Uint8Array[] = []
  const off = (u: Uint8Array): void => { out.push(u) }
  doc.on('update', off)
  model.addNote(doc, text)
  doc.off('update', off)
  return Y.mergeUpdates(out)
}

/** Alters a sealed envelope and signs it again with the author's device key: valid signature, bad content. */
function resigned (sodium: Sodium, device: Device, env: Uint8Array, what: 'commitment' | 'ciphertext'): Uint8Array {
  const p = parseEnvelope(env)
  if (!p.ok) throw new Error(p.message)
  let header = p.value.header
  const ct = p.value.ciphertext.slice()
  if (what === 'commitment') {
    const commitment = header.commitment.slice()
    commitment[0] = commitment[0]! ^ 0x01
    header = { ...header, commitment }
  } else {
    const at = Math.floor(ct.length / 2)
    ct[at] = ct[at]! ^ 0x01
  }
  const headerBytes = writeHeader(header)
  return concat(headerBytes, ct, sodium.crypto_sign_detached(envelopeMessage(sodium, headerBytes, ct), device.privateKey))
}

/** A member's own stream, appended through a raw connection (no client-side checks). */
function memberStream (sodium: Sodium, keys: SpaceKeys, device: Device, peer: RawPeer): { append (env: Uint8Array): Promise<void>; next (plaintext: Uint8Array): Uint8Array } {
  const stream = sodium.randombytes_buf(8)
  let seq = 0
  let prev: Uint8Array = new Uint8Array(32)
  let reqId = 1000
  return {
    next (plaintext) {
      const env = seal(sodium, keys, device, MsgType.update, { stream, seq, prevHash: prev }, plaintext)
      return env
    },
    async append (env) {
      const id = reqId++
      peer.send({ type: 'append', reqId: id, spaceId: keys.spaceId, envelope: env })
      await waitFor(() => peer.frames.some(f => (f.type === 'ok' || f.type === 'error') && f.reqId === id), 5000, 'the relay to answer an append')
      const answer = peer.frames.find(f => (f.type === 'ok' || f.type === 'error') && f.reqId === id)!
      if (answer.type !== 'ok') throw new Error(`the relay refused the member's envelope: ${answer.type === 'error' ? answer.code : answer.type}`)
      seq++
      prev = hash(sodium, env)
    }
  }
}

describe('an envelope only its author can have made is the author\'s fault', () => {
  for (const what of ['commitment', 'ciphertext'] as const) {
    it(`a correctly signed envelope with a wrong ${what === 'commitment' ? 'key commitment' : 'ciphertext (AEAD fails)'}: alerted once naming the author, skipped, sync goes on`, async () => {
      const sodium = await getSodium()
      const relayLog: string[] = []
      relay = await startTestRelay({ log: line => { relayLog.push(line) } })
      const connections = (): number => relayLog.filter(l => /peer \d+ connected/.test(l)).length

      const hc = await createClient({ transport: wsTransport, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 }, space: QUIET })
      clients.push(hc)
      const made = await hc.createSpace(relay.url)
      const h = made.space
      await h.whenCaughtUp(5000)
      model.addNote(h.doc, 'hello')
      await h.whenStored(5000)
      const inv = parseLink(sodium, made.editLink)
      if (!inv.ok) throw new Error(inv.message)
      const r = await open(inv.value)
      await r.whenCaughtUp(5000)

      // The member M: a certified device and a stream of its own.
      const keys = deriveKeys(sodium, inv.value.secrets)
      const m = memberDevice(sodium, keys)
      const mHex = toHex(m.publicKey)
      const peer = await rawPeer(relay.url)
      await peer.join(sodium, keys.spaceId, keys.access)
      const mine = memberStream(sodium, keys, m, peer)
      const mDoc = new Y.Doc()
      await mine.append(mine.next(writeBatch([noteUpdate(mDoc, 'from M before')])))
      await waitFor(() => texts(h).includes('from M before') && texts(r).includes('from M before'), 5000, 'M\'s first note everywhere')

      const bad = resigned(sodium, m, mine.next(writeBatch([noteUpdate(new Y.Doc(), 'M bad envelope')])), what)
      const opened = openEnvelope(sodium, keys, bad, { types: [MsgType.update] })
      expect(opened.ok ? 'opens' : opened.code).toBe(what === 'commitment' ? 'envelope/bad-commitment' : 'envelope/bad-ciphertext')
      const before = connections()
      await mine.append(bad)
      model.addNote(h.doc, 'from H after the bad one')
      await h.whenStored(5000)
      // M's next envelope extends its chain past the bad one and does not depend on its content.
      await mine.append(mine.next(writeBatch([noteUpdate(mDoc, 'from M after')])))
      await sleep(3000)
      const reconnects = connections() - before

      for (const [name, s] of [['H', h], ['R', r]] as const) {
        const about = s.alerts.filter(a => a.author === mHex)
        expect.soft(about.map(a => a.code), `${name}: alerts naming M (exactly one, for the bad envelope)`).toHaveLength(1)
        expect.soft(about[0]?.code ?? '', `${name}: what the alert says`).toMatch(what === 'commitment' ? /commitment/ : /ciphertext/)
        expect.soft(texts(s), `${name}: M's later envelope and H's update are applied`).toEqual(expect.arrayContaining(['from M after', 'from H after the bad one', 'from M before', 'hello']))
        expect.soft(texts(s), `${name}: the bad envelope's content`).not.toContain('M bad envelope')
      }
      expect.soft(reconnects, `connections to the relay in the 3 s after the bad envelope (relay log: ${relayLog.slice(-6).join(' | ')})`).toBeLessThanOrEqual(1)
      expect.soft(await compacts(r), 'R snapshot()').toContain('stored')
      expect.soft(await compacts(h), 'H snapshot()').toContain('stored')

      // A fresh joiner gets everything but the bad envelope, and is not wedged by it either.
      const j = await open(inv.value)
      await j.whenCaughtUp(5000).catch(() => {})
      await waitFor(() => texts(j).includes('from M after'), 3000, 'J has M\'s later note').catch(() => {})
      expect.soft(texts(j).sort(), 'J').toEqual(['from H after the bad one', 'from M after', 'from M before', 'hello'])
      peer.close()
    })
  }

  it('control: bytes changed in transit (the signature fails) are retried, and the reader recovers once the tampering stops', async () => {
    const sodium = await getSodium()
    relay = await startTestRelay()
    proxy = await startTamperProxy(relay.url)
    const hc = await createClient({ transport: wsTransport, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 }, space: QUIET })
    clients.push(hc)
    const made = await hc.createSpace(relay.url)
    const h = made.space
    await h.whenCaughtUp(5000)
    model.addNote(h.doc, 'hello')
    await h.whenStored(5000)
    const inv = parseLink(sodium, made.editLink)
    if (!inv.ok) throw new Error(inv.message)
    const r = await open(inv.value, proxy.url)
    await r.whenCaughtUp(5000)

    // The next two frames carrying H's envelope toward R get one byte of the envelope's ciphertext flipped.
    let tampered = 0
    const hHex = toHex(h.devicePublicKey)
    proxy.tamper = (direction, bytes) => {
      if (direction !== 'toClient' || tampered >= 2) return bytes
      const f = readFrame(bytes)
      if (!f.ok || f.value.type !== 'entries') return bytes
      const frame = f.value
      const entries = frame.entries.map(e => {
        const p = parseEnvelope(e.envelope)
        if (!p.ok || toHex(p.value.header.author) !== hHex || !texts(h).includes('tampered in transit')) return e
        const env = e.envelope.slice()
        env[HEADER_BYTES + 7] = env[HEADER_BYTES + 7]! ^ 0x01
        return { ...e, envelope: env }
      })
      if (entries.every((e, i) => e === frame.entries[i])) return bytes
      tampered++
      return writeFrame({ ...frame, entries })
    }
    model.addNote(h.doc, 'tampered in transit')
    await h.whenStored(5000)
    await waitFor(() => texts(r).includes('tampered in transit'), 15_000, 'R to recover the tampered update')
    expect(tampered).toBeGreaterThan(0)
    expect(r.alerts.map(a => a.code)).toContain('envelope/bad-signature')
    // Once intact, nothing loops: no more connections (a retry may or may not have used one).
    const settled = proxy.accepted
    await sleep(1500)
    expect(proxy.accepted).toBe(settled)
    expect(await compacts(r)).toContain('stored')
  })
})

describe('a reset after sync/cursor-ahead', () => {
  it('reading again from the start after the relay was restored from a backup raises no snapshot/regression', async () => {
    const dir = tempDir('cove-blame-relay-')
    relay = await startTestRelay({ dir })
    const port = relay.port
    const hc = await createClient({ transport: wsTransport, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 }, space: QUIET })
    clients.push(hc)
    const made = await hc.createSpace(relay.url)
    const a = made.space
    await a.whenCaughtUp(5000)
    model.addNote(a.doc, 'one')
    await a.whenStored(5000)
    expect(await a.snapshot()).toBe('stored')
    model.addNote(a.doc, 'two')
    await a.whenStored(5000)

    // The relay's data is backed up (relay stopped cleanly first), then the relay goes on.
    await relay.close()
    const backup = tempDir('cove-blame-backup-')
    for (const f of fs.readdirSync(dir)) if (f.startsWith('relay.sqlite')) fs.copyFileSync(path.join(dir, f), path.join(backup, f))
    relay = await startTestRelay({ dir, port })
    await a.whenCaughtUp(10_000)
    for (const t of ['three', 'four']) {
      model.addNote(a.doc, t)
      await a.whenStored(5000)
    }

    // The relay is restored from the backup: its head is now below the client's resume point.
    await relay.close()
    relay = await startTestRelay({ dir: backup, port })
    await waitFor(() => a.alerts.some(x => x.code === 'sync/cursor-ahead'), 10_000, 'the client to notice the relay is behind')
    await waitFor(() => a.status.caughtUp, 10_000, 'the client to read the space again').catch(() => {})
    await sleep(1000)
    expect(a.alerts.map(x => x.code)).not.toContain('snapshot/regression')
    // It still holds everything it wrote.
    expect(texts(a).sort()).toEqual(['four', 'one', 'three', 'two'])
  })
})
