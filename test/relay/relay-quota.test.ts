import path from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { writeBatch } from '../../client/core/apply.js'
import { createClient, type Client } from '../../client/core/client.js'
import * as model from '../../client/core/model.js'
import { createMemorySpaceStore, type MemorySpaceStore } from '../../client/core/store.js'
import { GENESIS_HASH, seal } from '../../shared/envelope.js'
import { MsgType } from '../../shared/header.js'
import { certifyDevice, deriveKeys, parseLink } from '../../shared/keys.js'
import { getSodium, randomBytes } from '../../shared/sodium.js'
import { freePort } from '../support/proc.js'
import { rawPeer, type RawPeer } from '../support/raw-peer.js'
import { startTestRelay, tempDir, testClient, waitFor, wsTransport } from '../support/relay.js'

/**
 * The per-space log quota (issue 8, item 6): a space over `maxLogBytes` gets its appends refused
 * with `relay/quota`; the writing client keeps the envelope (the same bytes, never re-sealed or
 * dropped), alerts `sync/quota`, backs off, and sends it once the relay has room again.
 *
 * Shown failing with the defence off (run by hand): with the quota not passed to the store in
 * relay/core.ts's `append`, the first test fails (the big note is stored, no alert).
 */
type Relay = Awaited<ReturnType<typeof startTestRelay>>
let relay: Relay | undefined
const clients: Client[] = []
const raws: RawPeer[] = []

afterEach(async () => {
  for (const p of raws.splice(0)) p.ws.terminate()
  await Promise.all(clients.splice(0).map(c => c.close()))
  await relay?.close()
  relay = undefined
})

/** Incompressible-looking text of `n` characters. */
function bulk (n: number): string {
  let s = ''
  let x = 12345
  while (s.length < n) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    s += x.toString(36)
  }
  return s.slice(0, n)
}

function logRows (dir: string): Uint8Array[] {
  const db = new Database(path.join(dir, 'relay.sqlite'), { readonly: true })
  try {
    return (db.prepare('SELECT env FROM log ORDER BY cursor').all() as { env: Buffer }[]).map(r => new Uint8Array(r.env))
  } finally {
    db.close()
  }
}

const QUOTA = 8 * 1024

describe('per-space log quota', () => {
  it('an append over the quota is refused with relay/quota; the client keeps the same envelope, alerts, and sends it once there is room', async () => {
    const dir = tempDir('cove-quota-')
    const port = await freePort()
    relay = await startTestRelay({ dir, port, maxLogBytes: QUOTA })
    const stores = new Map<string, MemorySpaceStore>()
    const a = await createClient({ transport: wsTransport, storeFor: id => { const s = createMemorySpaceStore(); stores.set(id, s); return s }, link: { backoffBaseMs: 20, backoffMaxMs: 200 } })
    clients.push(a)
    const { space: sa, viewLink } = await a.createSpace(relay.url, 'Quota')
    model.addNote(sa.doc, 'small enough')
    await sa.whenStored(10_000)
    expect(sa.alerts).toEqual([])
    const before = logRows(dir)

    model.addNote(sa.doc, bulk(12_000))
    await waitFor(() => sa.alerts.some(x => x.code === 'sync/quota'), 10_000, 'the quota alert')
    const alert = sa.alerts.find(x => x.code === 'sync/quota')!
    expect(alert.message).toMatch(/relay's storage quota/)
    expect(sa.unsynced).toBe(1)
    const store = stores.get([...stores.keys()][0]!)!
    // The refused envelope is the newest in the outbox (the ones before it were acknowledged and
    // wait there until another member is seen holding them: issue 8, keep until seen).
    const all = (await store.load()).outbox
    const kept = all.slice(-1)
    expect(sa.unsynced).toBe(1)
    // Across a few refusals and reconnects (1 s, 2 s…): the same bytes stay, nothing re-sealed,
    // nothing reached the log, one alert per refusal cycle (not one per envelope or frame).
    await new Promise(resolve => setTimeout(resolve, 3500))
    expect((await store.load()).outbox).toEqual(all)
    expect(sa.stats.resealed).toBe(0)
    expect(logRows(dir)).toEqual(before)
    expect(sa.alerts.filter(x => x.code === 'sync/quota').length).toBeLessThanOrEqual(3)
    expect(sa.alerts.filter(x => x.code !== 'sync/quota')).toEqual([])

    // Other members never see what is not stored.
    const b = await testClient()
    clients.push(b)
    const inv = parseLink(b.sodium, viewLink)
    if (!inv.ok) throw new Error(inv.message)
    const sb = await b.openSpace(inv.value, relay.url)
    await sb.whenCaughtUp(10_000)
    expect(model.toJSON(sb.doc).items).toHaveLength(1)

    // The operator raises the quota: the kept envelope goes through as it was sealed.
    await relay.close()
    relay = await startTestRelay({ dir, port, maxLogBytes: 1024 * 1024 })
    await sa.whenStored(90_000)
    const stored = logRows(dir)
    expect(stored.slice(0, before.length)).toEqual(before)
    expect(stored.slice(before.length)).toEqual(kept)
    await waitFor(() => model.toJSON(sb.doc).items.length === 2, 20_000, 'the reader to get the note')
    expect(model.toJSON(sb.doc)).toEqual(model.toJSON(sa.doc))
  }, 120_000)

  it('a resend of a stored envelope is acknowledged even when the space is full', async () => {
    const sodium = await getSodium()
    relay = await startTestRelay({ maxLogBytes: QUOTA })
    const c = await testClient()
    clients.push(c)
    const { space, editLink } = await c.createSpace(relay.url, 'Full')
    await space.whenStored(10_000)
    const inv = parseLink(sodium, editLink)
    if (!inv.ok) throw new Error(inv.message)
    const keys = deriveKeys(sodium, inv.value.secrets)
    const kp = sodium.crypto_sign_keypair()
    const device = { ...kp, cert: certifyDevice(sodium, keys, kp.publicKey)! }
    const stream = randomBytes(8)
    const d = new Y.Doc()
    model.addNote(d, bulk(QUOTA - 2000))
    const env = seal(sodium, keys, device, MsgType.update, { stream, seq: 0, prevHash: GENESIS_HASH }, writeBatch([Y.encodeStateAsUpdate(d)]))
    const p = await rawPeer(relay.url)
    raws.push(p)
    await p.join(sodium, keys.spaceId, keys.access)
    p.send({ type: 'append', reqId: 500, spaceId: keys.spaceId, envelope: env })
    const ok = await p.next('ok', f => f.reqId === 500)
    // Now full: a next envelope is refused with the typed code, the socket stays open…
    const e2 = seal(sodium, keys, device, MsgType.update, { stream, seq: 1, prevHash: sodium.crypto_generichash(32, env, null) }, writeBatch([Y.encodeStateAsUpdate(d)]))
    p.send({ type: 'append', reqId: 501, spaceId: keys.spaceId, envelope: e2 })
    expect((await p.next('error', f => f.reqId === 501)).code).toBe('relay/quota')
    // …and the first one again (a resend after a lost ack) is still acknowledged at its cursor.
    p.send({ type: 'append', reqId: 502, spaceId: keys.spaceId, envelope: env })
    expect((await p.next('ok', f => f.reqId === 502)).cursor).toBe(ok.cursor)
    expect(p.isClosed).toBe(false)
  })
})
