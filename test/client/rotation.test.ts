import Database from 'better-sqlite3'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../client/core/client.js'
import { createMemorySpaceStore, type MemorySpaceStore } from '../../client/core/store.js'
import * as model from '../../client/core/model.js'
import type { Space } from '../../client/core/space.js'
import { toHex } from '../../shared/bytes.js'
import { open as openEnvelope } from '../../shared/envelope.js'
import { MsgType } from '../../shared/header.js'
import { parseLink, type Invite } from '../../shared/keys.js'
import { getSodium } from '../../shared/sodium.js'
import { startTestRelay, waitFor, wsTransport } from '../support/relay.js'

/**
 * Issue 11, parts 2 and 3, through a real relay (SQLite) on 127.0.0.1: three editors and a viewer;
 * one editor is removed. The others move to the new epoch without a new link and keep editing, the
 * viewer is re-keyed as a viewer, the removed device is told and can decrypt nothing sealed after
 * (checked on the relay's raw bytes), and the old links open nothing new.
 */
const cleanup: (() => Promise<void> | void)[] = []
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c() })

/** A device: its client and its current session, opened again whenever a key change moves it. */
interface Device { client: Client; space: Space; removed: boolean; moves: number }

async function device (open: (c: Client) => Promise<Space>, name: string): Promise<Device> {
  // One store per space that outlives a session (a reopen reads what the last session stored).
  const stores = new Map<string, MemorySpaceStore>()
  const client = await createClient({
    transport: wsTransport,
    storeFor: id => { const s = stores.get(id); if (s !== undefined) return s.open(); const n = createMemorySpaceStore(); stores.set(id, n); return n },
    link: { backoffBaseMs: 20, backoffMaxMs: 200 }
  })
  cleanup.push(() => client.close())
  const d: Device = { client, space: await open(client), removed: false, moves: 0 }
  const watch = (s: Space): void => {
    s.members.setProfile({ name, colour: 1 })
    s.events.on('epoch', e => {
      if (e.kind === 'removed') { d.removed = true; return }
      void client.reopen(s).then(n => { d.space = n; d.moves++; watch(n) })
    })
  }
  watch(d.space)
  return d
}

const texts = (s: Space): string[] => model.toJSON(s.doc).items.flatMap(i => i.kind === 'note' ? [i.text] : []).sort()

describe('removing a member rotates the space', () => {
  it('three editors and a viewer; one editor removed', async () => {
    const sodium = await getSodium()
    const relay = await startTestRelay()
    cleanup.push(() => relay.close())
    let links = { editLink: '', viewLink: '' }
    const a = await device(async c => { const r = await c.createSpace(relay.url, 'rotate'); links = r; return r.space }, 'Ann')
    const inv = (l: string): Invite => { const r = parseLink(sodium, l); if (!r.ok) throw new Error(r.message); return r.value }
    const b = await device(c => c.openSpace(inv(links.editLink), relay.url), 'Bob')
    const c = await device(c => c.openSpace(inv(links.editLink), relay.url), 'Cat')
    const v = await device(c => c.openSpace(inv(links.viewLink), relay.url), 'Vic')
    const all = [a, b, c, v]
    for (const d of all) await waitFor(() => d.space.status.caughtUp && d.space.members.list().length === 4, 10_000, 'four members')
    model.addNote(a.space.doc, 'before')
    for (const d of all) await waitFor(() => texts(d.space).includes('before'), 10_000, 'the first note everywhere')
    const oldKeys = a.space.keys
    const cDevice = toHex(c.space.devicePublicKey)

    const t0 = performance.now()
    expect(await a.space.epochs.rotate({ remove: [cDevice] })).toBe('stored')
    await waitFor(() => c.removed && [a, b, v].every(d => d.space.keys.epoch === 1 && d.space.status.caughtUp), 15_000, 'the rotation everywhere').catch(e => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(all.map(d => ({ epoch: d.space.keys.epoch, caughtUp: d.space.status.caughtUp, conn: d.space.status.connection, removed: d.removed, moves: d.moves, alerts: d.space.alerts.map(x => `${x.code}: ${x.message}`) })), null, 1)}`)
    })
    const rotationMs = performance.now() - t0
    expect(c.space.alerts.map(x => x.code)).toContain('space/removed')
    expect(v.space.readOnly).toBe(true)
    expect(b.space.readOnly).toBe(false)

    // The others keep editing without a new link; the viewer reads along.
    model.addNote(b.space.doc, 'after')
    for (const d of [a, b, v]) await waitFor(() => texts(d.space).includes('after'), 10_000, 'the new note')
    expect(texts(c.space)).toEqual(['before'])

    // Nothing the relay stored after the rotation opens under the old keys (the removed device's).
    const db = new Database(path.join(relay.dir, 'relay.sqlite'), { readonly: true })
    const rows = db.prepare('SELECT env FROM log').all() as Array<{ env: Buffer }>
    const snaps = db.prepare('SELECT env FROM snapshots').all() as Array<{ env: Buffer }>
    db.close()
    const newer = [...rows, ...snaps].map(r => new Uint8Array(r.env)).filter(e => new DataView(e.buffer, e.byteOffset + 18, 4).getUint32(0) === 1)
    expect(newer.length).toBeGreaterThan(0)
    for (const e of newer) expect(openEnvelope(sodium, oldKeys, e, { types: [MsgType.update, MsgType.snapshot] }).ok).toBe(false)

    // The removed device, opened again with what it holds: refused by the relay, told in words.
    const again = await c.client.reopen(c.space)
    model.addNote(again.doc, 'from the removed one')
    await waitFor(() => again.alerts.some(x => x.code === 'space/removed' || x.code === 'link/replaced'), 10_000, 'the removed device told again')
    await new Promise(resolve => setTimeout(resolve, 300))
    for (const d of [a, b, v]) expect(texts(d.space)).not.toContain('from the removed one')

    // Old links open nothing new, and say so; the new link opens the new epoch.
    const stranger = await device(c => c.openSpace(inv(links.viewLink), relay.url), 'Old')
    await waitFor(() => stranger.space.alerts.some(x => x.code === 'link/replaced'), 10_000, 'old link refused')
    expect(stranger.space.alerts.find(x => x.code === 'link/replaced')?.message).toBe('this link was replaced; ask a member for a new one')
    expect(texts(stranger.space)).toEqual([])
    const fresh = a.client.links(a.space, relay.url)
    const joiner = await device(c => c.openSpace(inv(fresh.viewLink), relay.url), 'New')
    await waitFor(() => texts(joiner.space).includes('after') && texts(joiner.space).includes('before'), 10_000, 'the new link opens everything')
    // Invited again with a new link: the removed device joins the new epoch, and what it wrote
    // while removed (kept on it) is sealed again and reaches the others.
    await again.close()
    const back = await c.client.openSpace(inv(fresh.editLink!), relay.url)
    await waitFor(() => texts(back).includes('after'), 10_000, 'the re-invited device catches up')
    await waitFor(() => texts(a.space).includes('from the removed one'), 10_000, 'its kept edit arrives')
    console.log(`rotation (4 devices, 1 removed): ${rotationMs.toFixed(0)} ms`)
  }, 60_000)
})

/** A port nothing listens on: a device opened through it is offline. */
async function deadUrl (): Promise<string> {
  const net = await import('node:net')
  const srv = net.createServer()
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', () => resolve()))
  const port = (srv.address() as { port: number }).port
  await new Promise<void>(resolve => srv.close(() => resolve()))
  return `ws://127.0.0.1:${port}/`
}

describe('rotation, the hard cases', () => {
  async function world (): Promise<{ sodium: Awaited<ReturnType<typeof getSodium>>; relayUrl: string; a: Device; b: Device; links: { editLink: string; viewLink: string }; inv: (l: string) => Invite }> {
    const sodium = await getSodium()
    const relay = await startTestRelay()
    cleanup.push(() => relay.close())
    let links = { editLink: '', viewLink: '' }
    const a = await device(async c => { const r = await c.createSpace(relay.url, 'hard'); links = r; return r.space }, 'Ann')
    const inv = (l: string): Invite => { const r = parseLink(sodium, l); if (!r.ok) throw new Error(r.message); return r.value }
    const b = await device(c => c.openSpace(inv(links.editLink), relay.url), 'Bob')
    for (const d of [a, b]) await waitFor(() => d.space.status.caughtUp && d.space.members.list().length === 2, 10_000, 'two members')
    return { sodium, relayUrl: relay.url, a, b, links, inv }
  }

  it('keeping only a chosen set (a lost phone): the others are removed, the kept one follows', async () => {
    const { a, b, links, inv, relayUrl } = await world()
    const lost = await device(c => c.openSpace(inv(links.editLink), relayUrl), 'Phone')
    await waitFor(() => a.space.members.list().length === 3, 10_000, 'three members')
    expect(await a.space.epochs.rotate({ keep: [toHex(b.space.devicePublicKey)] })).toBe('stored')
    await waitFor(() => lost.removed && [a, b].every(d => d.space.keys.epoch === 1 && d.space.status.caughtUp), 10_000, 'kept and removed')
    expect(lost.space.alerts.map(x => x.code)).toContain('space/removed')
  }, 30_000)

  it('two editors rotating at once converge on one epoch', async () => {
    const { a, b } = await world()
    const r = await Promise.all([a.space.epochs.rotate({}), b.space.epochs.rotate({})])
    expect(r.slice().sort()).toEqual(['conflict', 'stored'])
    await waitFor(() => [a, b].every(d => d.space.keys.epoch === 1 && d.space.status.caughtUp), 10_000, 'one epoch')
    expect(toHex(a.space.keys.keyId)).toBe(toHex(b.space.keys.keyId))
    model.addNote(a.space.doc, 'together')
    await waitFor(() => texts(b.space).includes('together'), 10_000, 'still in sync')
  }, 30_000)

  it('a member offline across the rotation merges its offline edits after it; a removed one keeps them with the message', async () => {
    const { a, b, links, inv, relayUrl } = await world()
    // Two more editors, who then go offline and edit there.
    const kept = await device(c => c.openSpace(inv(links.editLink), relayUrl), 'Kim')
    const gone = await device(c => c.openSpace(inv(links.editLink), relayUrl), 'Gus')
    for (const d of [a, kept, gone]) await waitFor(() => d.space.members.list().length === 4, 10_000, 'four members')
    const goneDevice = toHex(gone.space.devicePublicKey)
    const offline = await deadUrl()
    for (const d of [kept, gone]) {
      await d.space.close()
      d.space = await d.client.openSpace(inv(links.editLink), offline)
    }
    model.addNote(kept.space.doc, 'written offline by Kim')
    model.addNote(gone.space.doc, 'written offline by Gus')
    await kept.space.flush()
    await gone.space.flush()
    expect(kept.space.unsynced).toBeGreaterThan(0)

    expect(await a.space.epochs.rotate({ remove: [goneDevice] })).toBe('stored')
    await waitFor(() => [a, b].every(d => d.space.keys.epoch === 1 && d.space.status.caughtUp), 10_000, 'the rotation')

    // Back online: the old access key is refused, the key change taken from what the relay hands back.
    const t0 = performance.now()
    for (const d of [kept, gone]) {
      await d.space.close()
      d.space = await d.client.openSpace(inv(links.editLink), relayUrl)
      const s = d.space
      s.events.on('epoch', e => {
        if (e.kind === 'removed') { d.removed = true; return }
        void d.client.reopen(s).then(n => { d.space = n; d.moves++ })
      })
    }
    await waitFor(() => texts(a.space).includes('written offline by Kim') && texts(b.space).includes('written offline by Kim'), 15_000, 'the kept member\'s offline edit merged')
    const catchUpMs = performance.now() - t0
    expect(kept.space.keys.epoch).toBe(1)
    await waitFor(() => gone.removed, 10_000, 'the removed member told')
    expect(gone.space.alerts.find(x => x.code === 'space/removed')?.message).toMatch(/You were removed/)
    expect(texts(gone.space)).toContain('written offline by Gus')
    expect(texts(a.space)).not.toContain('written offline by Gus')
    console.log(`offline member catch-up across one rotation: ${catchUpMs.toFixed(0)} ms`)
  }, 60_000)

  it('the relay replaying an old key change or old-epoch envelopes changes nothing and raises an alert', async () => {
    const { sodium, a, b } = await world()
    const oldKeys = b.space.keys
    const replayed: Uint8Array[] = []
    b.space.events.on('epoch', () => {})
    const capture = b.space.onFrame.bind(b.space)
    b.space.onFrame = f => { if (f.type === 'keyChanges') replayed.push(...f.envelopes); capture(f) }
    expect(await a.space.epochs.rotate({})).toBe('stored')
    await waitFor(() => [a, b].every(d => d.space.keys.epoch === 1 && d.space.status.caughtUp), 10_000, 'the rotation')
    expect(replayed.length).toBe(1)
    const before = texts(b.space)
    // The relay hands the old key change again, and an update sealed in epoch 0 after the rotation.
    b.space.onFrame({ type: 'keyChanges', reqId: 0, spaceId: oldKeys.spaceId, envelopes: replayed })
    const { certifyDevice } = await import('../../shared/keys.js')
    const { seal } = await import('../../shared/envelope.js')
    const Y = await import('yjs')
    const dev = sodium.crypto_sign_keypair()
    const doc = new Y.Doc()
    model.addNote(doc, 'old epoch, after the rotation')
    const { writeBatch } = await import('../../client/core/apply.js')
    const env = seal(sodium, oldKeys, { ...dev, cert: certifyDevice(sodium, oldKeys, dev.publicKey)! }, MsgType.update, { stream: new Uint8Array(8).fill(7), seq: 0, prevHash: new Uint8Array(32) }, writeBatch([Y.encodeStateAsUpdate(doc)]))
    b.space.onFrame({ type: 'entries', reqId: 0, spaceId: oldKeys.spaceId, entries: [{ cursor: 1_000_000, envelope: env }], head: 1_000_000, more: false })
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(b.space.keys.epoch).toBe(1)
    expect(texts(b.space)).toEqual(before)
    expect(b.space.alerts.filter(x => x.code === 'sync/old-epoch').length).toBe(2)
  }, 30_000)
})
