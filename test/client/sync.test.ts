import { afterEach, describe, expect, it } from 'vitest'
import { createClient } from '../../client/core/client.js'
import * as model from '../../client/core/model.js'
import { createMemorySpaceStore, type MemorySpaceStore } from '../../client/core/store.js'
import { parseLink } from '../../shared/keys.js'
import { startTestRelay, testClient, waitFor, wsTransport } from '../support/relay.js'
import type { Client } from '../../client/core/client.js'
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
})
