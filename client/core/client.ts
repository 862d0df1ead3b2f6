import { toHex } from '../../shared/bytes.js'
import { assert } from '../../shared/errors.js'
import { formatLink, newSpaceSecrets, parseLink, relayWsUrl, type Invite } from '../../shared/keys.js'
import { hash } from '../../shared/sign.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'
import { RelayLink, type LinkOptions } from './link.js'
import * as model from './model.js'
import { Space, type SpaceOptions } from './space.js'
import type { SpaceStore } from './store.js'
import type { Transport } from './transport.js'

/**
 * The client: one relay link per relay address shared by all spaces on it, and one store per space.
 * The same code runs in Node (CLI, tests, benchmark) and in the browser; only the transport and
 * the store adapters differ.
 */
export interface ClientOptions {
  readonly transport: Transport
  readonly storeFor: (spaceIdHex: string) => SpaceStore
  readonly link?: LinkOptions
  /**
   * Every relay address that serves the same spaces (several relays on one database, issue 12):
   * a link to any of them falls back to the others, in this order, when its relay is gone.
   */
  readonly relays?: readonly string[]
  readonly space?: Pick<SpaceOptions, 'gapTimeoutMs' | 'maxInflight' | 'ackTimeoutMs' | 'batchMs' | 'snapshotEvery' | 'snapshotBytes' | 'snapshotIdleMs' | 'snapshotStateFactor' | 'receiptMs' | 'withholdMs' | 'receipts'>
}

export interface Client {
  readonly sodium: Sodium
  /** Creates a space (registered on the relay on first connect) and returns it with its links (their checkpoint: the empty space). */
  createSpace (relayUrl: string, title?: string): Promise<{ space: Space; editLink: string; viewLink: string }>
  /**
   * Opens a space from an invite link or parsed invite; `relayUrl` overrides the address the link
   * names. The invite's checkpoint (if any) is what the session must reach before it calls its state current.
   */
  openSpace (invite: Invite, relayUrl?: string): Promise<Space>
  /**
   * The same space opened again from its stored state, after its session ended with a key change
   * (event `epoch`, kind `moved`: issue 11): the new session is in the new epoch.
   */
  reopen (space: Space): Promise<Space>
  /** Links to share now: they carry a checkpoint of what this replica verified (freshness.ts). */
  links (space: Space, origin: string): { editLink?: string; viewLink: string }
  close (): Promise<void>
}

export async function createClient (opts: ClientOptions): Promise<Client> {
  const sodium = await getSodium()
  const links = new Map<string, RelayLink>()
  const spaces = new Set<Space>()
  const linkFor = (url: string): RelayLink => {
    const ws = relayWsUrl(url)
    let l = links.get(ws)
    const fallbacks = (opts.relays ?? []).map(relayWsUrl).filter(u => u !== ws)
    if (l === undefined) links.set(ws, l = new RelayLink(ws, opts.transport, { hash: env => hash(sodium, env), ...opts.link, ...(fallbacks.length === 0 ? {} : { fallbacks }) }))
    return l
  }
  const relayOf = new WeakMap<Space, string>()
  const track = (s: Space, relayUrl: string): Space => {
    spaces.add(s)
    relayOf.set(s, relayUrl)
    return s
  }

  const client: Client = {
    sodium,
    async createSpace (relayUrl, title) {
      const secrets = newSpaceSecrets(sodium)
      const space = track(await Space.open({ sodium, store: opts.storeFor(toHex(secrets.spaceId)), link: linkFor(relayUrl), secrets, create: true, ...opts.space }), relayUrl)
      if (title !== undefined && title !== '') model.setTitle(space.doc, title)
      const { editLink, viewLink } = client.links(space, relayUrl)
      assert(editLink !== undefined, 'a created space holds its write key')
      return { space, editLink, viewLink }
    },
    async openSpace (invite, relayUrl) {
      const checkpoint = invite.checkpoint === undefined ? {} : { checkpoint: invite.checkpoint }
      return track(await Space.open({ sodium, store: opts.storeFor(toHex(invite.secrets.spaceId)), link: linkFor(relayUrl ?? invite.relayUrl), secrets: invite.secrets, ...checkpoint, ...opts.space }), relayUrl ?? invite.relayUrl)
    },
    async reopen (old) {
      const url = relayOf.get(old)
      assert(url !== undefined, 'reopen: a space this client did not open')
      await old.close()
      spaces.delete(old)
      return track(await Space.open({ sodium, store: opts.storeFor(old.spaceKey), link: linkFor(url), ...opts.space }), url)
    },
    links (space, origin) {
      const cp = space.checkpoint()
      const view = formatLink(origin, space.secrets, 'view', cp)
      return space.secrets.writeSeed === undefined ? { viewLink: view } : { editLink: formatLink(origin, space.secrets, 'edit', cp), viewLink: view }
    },
    async close () {
      await Promise.all([...spaces].map(s => s.close()))
      spaces.clear()
      for (const l of links.values()) l.close()
      links.clear()
    }
  }
  return client
}

export { parseLink }
