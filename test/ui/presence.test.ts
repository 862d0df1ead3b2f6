import { afterEach, describe, expect, it } from 'vitest'
import { createClient, parseLink, type Client } from '../../client/core/client.js'
import { createMemoryTransport } from '../../client/core/memory-transport.js'
import { createPresence, type Presence } from '../../client/core/presence.js'
import type { Space } from '../../client/core/space.js'
import { createMemorySpaceStore } from '../../client/core/store.js'
import { createRelayCore } from '../../relay/core.js'
import { createMemoryStore } from '../../relay/storage/memory.js'
import { toHex } from '../../shared/bytes.js'
import { getSodium } from '../../shared/sodium.js'
import { waitFor } from '../support/relay.js'

/** Sealed presence (DESIGN.md §8) between real sessions over an in-process relay core. */
describe('presence', () => {
  const cleanup: (() => Promise<void> | void)[] = []
  afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c() })

  async function setup (): Promise<{ a: Space; b: Space; viewLink: string; client: () => Promise<Client>; captured: Uint8Array[] }> {
    const sodium = await getSodium()
    const core = createRelayCore({ store: createMemoryStore(), sodium })
    const transport = createMemoryTransport(core)
    const client = async (): Promise<Client> => {
      const c = await createClient({ transport, storeFor: () => createMemorySpaceStore() })
      cleanup.push(() => c.close())
      return c
    }
    const ca = await client()
    const { space: a, editLink, viewLink } = await ca.createSpace('ws://relay.test', 'p')
    const inv = parseLink(sodium, editLink)
    if (!inv.ok) throw new Error(inv.message)
    const b = await (await client()).openSpace(inv.value)
    await waitFor(() => a.status.connection === 'online' && b.status.connection === 'online')
    const captured: Uint8Array[] = []
    b.events.on('presence', f => { if (f.type === 'presenceOut') captured.push(f.envelope) })
    return { a, b, viewLink, client, captured }
  }

  const hub = async (s: Space, name: string, opts = {}): Promise<Presence> => {
    const p = createPresence(s, await getSodium(), { name, color: 1, cursor: null }, { throttleMs: 0, ...opts })
    cleanup.push(() => p.close())
    return p
  }

  it('shows each member to the other, with name, colour and cursor, keyed by device, and drops a replay', async () => {
    const { a, b, captured } = await setup()
    const pa = await hub(a, 'Ann')
    const pb = await hub(b, 'Bob')
    await waitFor(() => pb.peers().length === 1 && pa.peers().length === 1)
    expect(pb.peers()[0]!.state.name).toBe('Ann')
    expect(pb.peers()[0]!.key).toBe(toHex(a.devicePublicKey))
    expect(pb.peers()[0]!.certified).toBe(true)
    // Status changes while online (unsynced counts) are no reconnection: nobody is hidden.
    b.events.emit('status', { ...b.status })
    expect(pb.peers()).toHaveLength(1)
    pa.setLocal({ cursor: { item: 'n1', anchor: { a: 1 }, head: { a: 2 } }, color: 5 })
    await waitFor(() => pb.peers()[0]?.state.cursor?.item === 'n1')
    expect(pb.peers()[0]!.state.color).toBe(5)

    // The relay replays an old envelope: the counter is not above the last one, so nothing changes.
    const old = captured[0]!
    pa.setLocal({ name: 'Ann 2' })
    await waitFor(() => pb.peers()[0]?.state.name === 'Ann 2')
    b.events.emit('presence', { type: 'presenceOut', spaceId: b.keys.spaceId, envelope: old })
    expect(pb.peers()[0]!.state.name).toBe('Ann 2')
  })

  it('no clock of the sender is trusted: a member whose clock is a minute off is still shown', async () => {
    const { a, b } = await setup()
    const pa = await hub(a, 'Ann', { now: () => Date.now() - 60_000 })
    const pb = await hub(b, 'Bob', { now: () => Date.now() + 60_000 })
    await waitFor(() => pb.peers().length === 1 && pa.peers().length === 1)
  })

  it('forgets a member who leaves, and a replay of its states never shows it again', async () => {
    const { a, b, captured } = await setup()
    const pa = await hub(a, 'Ann')
    const pb = await hub(b, 'Bob')
    await waitFor(() => pb.peers().length === 1)
    const before = captured.length
    pa.close()
    // The signed goodbye arrives first (the relay's peerLeft only when the socket closes).
    await waitFor(() => captured.length > before && pb.peers().length === 0, 5000, 'goodbye')
    for (const env of [...captured]) b.events.emit('presence', { type: 'presenceOut', spaceId: b.keys.spaceId, envelope: env })
    expect(pb.peers()).toEqual([])
    await a.close()
  })

  it('drops a member whose socket closes without a goodbye (peerLeft)', async () => {
    const { a, b } = await setup()
    await hub(a, 'Ann')
    const pb = await hub(b, 'Bob')
    await waitFor(() => pb.peers().length === 1)
    await a.close()
    await waitFor(() => pb.peers().length === 0, 5000, 'peerLeft')
  })

  it('a view-only member is shown as an unverified viewer, without a cursor', async () => {
    const { a, viewLink, client } = await setup()
    const sodium = await getSodium()
    const inv = parseLink(sodium, viewLink)
    if (!inv.ok) throw new Error(inv.message)
    const c = await (await client()).openSpace(inv.value)
    await waitFor(() => c.status.connection === 'online')
    const pc = await hub(c, 'Ann')
    pc.setLocal({ cursor: { item: 'n1', anchor: 1, head: 1 } })
    const pa = await hub(a, 'Ann')
    await waitFor(() => pc.peers().length === 1 && pa.peers().length === 1)
    expect(pa.peers()[0]).toMatchObject({ device: toHex(c.devicePublicKey), certified: false, state: { name: 'Ann', cursor: null } })
    expect(pc.peers()[0]).toMatchObject({ device: toHex(a.devicePublicKey), certified: true })
    expect(c.status.connection).toBe('online')
    expect(c.alerts).toEqual([])
  })
})
