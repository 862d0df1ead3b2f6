import { afterEach, describe, expect, it } from 'vitest'
import { createClient, parseLink, type Client } from '../../client/core/client.js'
import { createMemoryTransport } from '../../client/core/memory-transport.js'
import { createPresence, parseState, type Presence } from '../../client/core/presence.js'
import type { Space } from '../../client/core/space.js'
import { createMemorySpaceStore } from '../../client/core/store.js'
import { createRelayCore } from '../../relay/core.js'
import { createMemoryStore } from '../../relay/storage/memory.js'
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

  it('shows each member to the other, with name, colour and cursor, and drops a replay', async () => {
    const { a, b, captured } = await setup()
    const pa = await hub(a, 'Ann')
    const pb = await hub(b, 'Bob')
    await waitFor(() => pb.peers().length === 1 && pa.peers().length === 1)
    expect(pb.peers()[0]!.state.name).toBe('Ann')
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

  it('drops stale states, and forgets a member who leaves', async () => {
    const { a, b, captured } = await setup()
    const pa = await hub(a, 'Ann')
    const late = await hub(b, 'Late', { now: () => Date.now() + 60_000 })
    await waitFor(() => captured.length > 0)
    // Timestamps 60 s in the past from this receiver's point of view: never shown.
    expect(late.peers()).toEqual([])
    late.close()
    const pb = await hub(b, 'Bob')
    pa.setLocal({ name: 'Ann' })
    await waitFor(() => pb.peers().length === 1)
    await a.close()
    await waitFor(() => pb.peers().length === 0, 5000, 'peerLeft')
  })

  it('a view-only member sees others but cannot publish', async () => {
    const { a, viewLink, client } = await setup()
    const sodium = await getSodium()
    const inv = parseLink(sodium, viewLink)
    if (!inv.ok) throw new Error(inv.message)
    const c = await (await client()).openSpace(inv.value)
    await waitFor(() => c.status.connection === 'online')
    expect(c.sealPresence(new Uint8Array(1), new Uint8Array(8), 1)).toBeUndefined()
    const pc = await hub(c, 'Reader')
    const pa = await hub(a, 'Ann')
    await waitFor(() => pc.peers().length === 1)
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(pa.peers()).toEqual([])
  })

  it('rejects malformed states', () => {
    const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
    expect(parseState(enc({ v: 1, n: 1, t: 1, name: 'x', color: 0, cursor: null }))).toBeDefined()
    expect(parseState(enc({ v: 1, n: 1, t: 1, name: 'x', color: 99, cursor: null }))).toBeUndefined()
    expect(parseState(enc({ v: 1, n: 1, t: 1, name: 5, color: 0 }))).toBeUndefined()
    expect(parseState(enc({ v: 1, n: 1, t: 1, name: 'x', color: 0, cursor: { item: 3 } }))).toBeUndefined()
    expect(parseState(new Uint8Array([0xff, 0xfe]))).toBeUndefined()
    expect(parseState(new Uint8Array(5000))).toBeUndefined()
  })
})
