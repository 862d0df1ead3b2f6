import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { afterEach, describe, expect, it } from 'vitest'
import { createClient } from '../../client/core/client.js'
import * as model from '../../client/core/model.js'
import { createMemorySpaceStore, type MemorySpaceStore } from '../../client/core/store.js'
import { createWsTransport, type WebSocketCtor } from '../../client/core/ws-transport.js'
import { parseLink } from '../../shared/keys.js'
import { startTestRelay, testClient, waitFor, wsTransport } from '../support/relay.js'
import type { Client } from '../../client/core/client.js'
import type { Space } from '../../client/core/space.js'
import type { RelayServer } from '../../relay/server.js'

let relay: RelayServer | undefined
const clients: Client[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close()
  await relay?.close()
  relay = undefined
})

describe('sync through a real relay', () => {
  it('two clients edit one space and converge', async () => {
    relay = await startTestRelay()
    const a = await testClient(); const b = await testClient(); clients.push(a, b)
    const { space: sa, editLink } = await a.createSpace(relay.url, 'Trip')
    model.addNote(sa.doc, 'hello from a')
    await sa.whenStored(5000)
    const inv = parseLink(b.sodium, editLink)
    if (!inv.ok) throw new Error(inv.message)
    const sb = await b.openSpace(inv.value)
    await sb.whenCaughtUp(5000)
    expect(model.toJSON(sb.doc).title).toBe('Trip')
    model.addTodo(sb.doc, 'pack')
    await waitFor(() => model.toJSON(sa.doc).items.length === 2, 5000, 'todo at a')
    expect(model.toJSON(sa.doc)).toEqual(model.toJSON(sb.doc))
    expect(sa.alerts).toEqual([])
    expect(sb.alerts).toEqual([])
  })

  it('keeps the time of the last sync across a restart with the relay gone (issue 9.6)', async () => {
    relay = await startTestRelay()
    const stores = new Map<string, MemorySpaceStore>()
    const storeFor = (id: string): MemorySpaceStore => stores.get(id)?.open() ?? (stores.set(id, createMemorySpaceStore()), stores.get(id)!)
    const a = await createClient({ transport: wsTransport, storeFor, link: { backoffBaseMs: 20, backoffMaxMs: 200 } })
    const { space, editLink } = await a.createSpace(relay.url, 'Trip')
    model.addNote(space.doc, 'hello')
    await space.whenStored(5000)
    await space.whenCaughtUp(5000)
    const synced = space.status.lastSyncedAt
    expect(synced).toBeGreaterThan(0)
    await a.close()
    const url = relay.url
    await relay.close()
    relay = undefined

    const again = await createClient({ transport: wsTransport, storeFor, link: { backoffBaseMs: 20, backoffMaxMs: 200 } })
    clients.push(again)
    const inv = parseLink(again.sodium, editLink)
    if (!inv.ok) throw new Error(inv.message)
    const reopened = await again.openSpace(inv.value, url)
    expect(model.toJSON(reopened.doc).items).toHaveLength(1)
    expect(reopened.status.caughtUp).toBe(false)
    expect(reopened.status.lastSyncedAt).toBe(synced)
  })

  it('a session\'s envelopes leave its device\'s outbox within seconds, not the 30 s receipt cadence; one member says so for all', async () => {
    relay = await startTestRelay()
    // The product's receipt cadence (30 s) and no snapshots: only a prompt receipt can empty the outbox in time.
    const opts = { transport: createWsTransport(WebSocket as unknown as WebSocketCtor), link: { backoffBaseMs: 20, backoffMaxMs: 200 }, space: { snapshotEvery: 0, snapshotBytes: 2 ** 40, snapshotIdleMs: 0 } }
    const home = createMemorySpaceStore()
    const a = await createClient({ ...opts, storeFor: () => home.open() }); clients.push(a)
    const { space: sa, editLink } = await a.createSpace(relay.url)
    await sa.whenStored(5000)
    const inv = parseLink(a.sodium, editLink)
    if (!inv.ok) throw new Error(inv.message)
    const others: Space[] = []
    for (let i = 0; i < 3; i++) {
      const c = await createClient({ ...opts, storeFor: () => createMemorySpaceStore() }); clients.push(c)
      const s = await c.openSpace(inv.value)
      await s.whenCaughtUp(5000)
      others.push(s)
    }
    await sleep(1500) // what the join receipts named has settled
    const sentBefore = others.map(s => s.receipts.stats.sent)
    // A CLI command: a session of device A writes and leaves at once; the next one of the same
    // device names that stream in its own join receipt, which keeps nothing out of its outbox.
    model.addNote(sa.doc, 'from a short session')
    await sa.whenStored(5000)
    await a.close()
    const a2 = await createClient({ ...opts, storeFor: () => home.open() }); clients.push(a2)
    const sa2 = await a2.openSpace(inv.value)
    await sa2.whenCaughtUp(5000)
    const outbox = (s: Space): number => (s as unknown as { writer: { outbox: unknown[] } }).writer.outbox.length
    await waitFor(() => outbox(sa2) === 0, 5000, 'a member\'s receipt naming the earlier session\'s envelope')
    await sleep(1500)
    const prompted = others.map((s, i) => s.receipts.stats.sent - (sentBefore[i] ?? 0)).reduce((x, y) => x + y, 0)
    // Each sends at most one; seeing another's receipt name the stream first, the rest send none.
    expect(prompted).toBeGreaterThanOrEqual(1)
    expect(prompted).toBeLessThan(3)
    for (const s of [sa2, ...others]) expect(s.alerts).toEqual([])
  })

  it('no receipt answers a stream while it is being written (the cadence does); one does once it pauses', async () => {
    relay = await startTestRelay()
    const opts = { transport: createWsTransport(WebSocket as unknown as WebSocketCtor), storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 }, space: { snapshotEvery: 0, snapshotBytes: 2 ** 40, snapshotIdleMs: 0 } }
    const a = await createClient(opts); clients.push(a)
    const { space: sa, editLink } = await a.createSpace(relay.url)
    await sa.whenStored(5000)
    const inv = parseLink(a.sodium, editLink)
    if (!inv.ok) throw new Error(inv.message)
    const others: Space[] = []
    for (let i = 0; i < 2; i++) {
      const c = await createClient(opts); clients.push(c)
      const s = await c.openSpace(inv.value)
      await s.whenCaughtUp(5000)
      others.push(s)
    }
    const w = await createClient(opts); clients.push(w)
    const sw = await w.openSpace(inv.value)
    await sw.whenCaughtUp(5000)
    await sleep(1500)
    const sent = (): number => others.reduce((n, s) => n + s.receipts.stats.sent, 0)
    const before = sent()
    const t = sw.doc.getText('text')
    for (let i = 0; i < 30; i++) { t.insert(t.length, 'x'); await sleep(100) }
    expect(sent()).toBe(before)
    const outbox = (s: Space): number => (s as unknown as { writer: { outbox: unknown[] } }).writer.outbox.length
    await waitFor(() => outbox(sw) === 0, 5000, 'a receipt once the writer paused')
    expect(sent() - before).toBeLessThan(3)
  })
})
