import { createClient, type Client } from '../../client/core/client.js'
import type { Space } from '../../client/core/space.js'
import { createMemorySpaceStore } from '../../client/core/store.js'
import { deriveKeys, parseLink, type Invite, type SpaceKeys } from '../../shared/keys.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'
import type { RelayServer } from '../../relay/server.js'
import { startMitm, type Mitm } from './mitm.js'
import type { RawPeer } from './raw-peer.js'
import { startTestRelay, wsTransport } from './relay.js'

/**
 * A real relay (SQLite on disk) with the lying MITM of mitm.ts in front, and clients that each
 * connect through their own tag: what test/relay/mitm.test.ts (the lies) and lying-relay.test.ts
 * (the defences) share. Call `cleanup` after each test.
 */
export interface MitmWorld {
  readonly relay: (RelayServer & { dir: string }) | undefined
  readonly mitm: Mitm | undefined
  /** Raw peers a test opened: closed by `cleanup`. */
  readonly peers: RawPeer[]
  client (): Promise<Client>
  /** A space created through `creator`'s tag and opened through each of `others`, every one caught up. */
  setup (creator: string, ...others: string[]): Promise<{ spaces: Record<string, Space>; editLink: string; keys: SpaceKeys; space: string; sodium: Sodium }>
  cleanup (): Promise<void>
}

export async function inviteOf (link: string): Promise<Invite> {
  const r = parseLink(await getSodium(), link)
  if (!r.ok) throw new Error(r.message)
  return r.value
}

export function mitmWorld (space: NonNullable<Parameters<typeof createClient>[0]['space']>): MitmWorld {
  let relay: (RelayServer & { dir: string }) | undefined
  let mitm: Mitm | undefined
  const clients: Client[] = []
  const peers: RawPeer[] = []
  const client = async (): Promise<Client> => {
    const c = await createClient({ transport: wsTransport, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 }, space })
    clients.push(c)
    return c
  }
  return {
    get relay () { return relay },
    get mitm () { return mitm },
    peers,
    client,
    async setup (creator, ...others) {
      relay = await startTestRelay({ pruneGraceMs: 60_000 })
      mitm = await startMitm(relay.url)
      const { space: first, editLink } = await (await client()).createSpace(await mitm.url(creator))
      await first.whenCaughtUp(5000)
      const spaces: Record<string, Space> = { [creator]: first }
      for (const t of others) {
        spaces[t] = await (await client()).openSpace(await inviteOf(editLink), await mitm.url(t))
        await spaces[t]!.whenCaughtUp(5000)
      }
      const sodium = await getSodium()
      return { spaces, editLink, keys: deriveKeys(sodium, (await inviteOf(editLink)).secrets), space: first.spaceKey, sodium }
    },
    async cleanup () {
      for (const p of peers.splice(0)) p.close()
      for (const c of clients.splice(0)) await c.close()
      await mitm?.close()
      mitm = undefined
      await relay?.close()
      relay = undefined
    }
  }
}
