import path from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../client/core/client.js'
import * as model from '../../client/core/model.js'
import { createMemorySpaceStore, type MemorySpaceStore } from '../../client/core/store.js'
import { toHex } from '../../shared/bytes.js'
import { signCreate } from '../../shared/create-proof.js'
import { deriveKeys, newSpaceSecrets, parseLink, type SpaceKeys } from '../../shared/keys.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'
import { freePort } from '../support/proc.js'
import { rawPeer, type RawPeer } from '../support/raw-peer.js'
import { startTestRelay, waitFor, wsTransport } from '../support/relay.js'

/**
 * Who may register a space (issue 8, item 6): `create` is signed with the space's write and access
 * keys over this connection's challenge, and the space id is derived from those keys, so a
 * view-link holder cannot claim a space its writers created offline; and one client cannot create
 * spaces without bound (per-connection and per-address limits).
 *
 * Shown failing with the defence off (run by hand): with the `checkCreate` call in relay/core.ts's
 * `create` handler removed, "a view-link holder cannot register…" fails at once (the forged proof is
 * answered `ok`); with only the signatures checked and not the id binding, it fails at (2) (the
 * attacker's registration under a write key of its own is `ok`: a signature alone proves nothing,
 * anyone can mint a write key); with the two limit checks removed, "300 creations…" fails (all 300
 * are `ok`) and so does the refused-create client test (no alert).
 */
type Relay = Awaited<ReturnType<typeof startTestRelay>>
let relay: Relay | undefined
let sodium: Sodium
const clients: Client[] = []
const raws: RawPeer[] = []

afterEach(async () => {
  for (const p of raws.splice(0)) p.ws.terminate()
  await Promise.all(clients.splice(0).map(c => c.close()))
  await relay?.close()
  relay = undefined
})

async function raw (): Promise<RawPeer> {
  const p = await rawPeer(relay!.url)
  raws.push(p)
  return p
}

/** A client over real WebSockets whose stores outlive it (`stores`), as a device's disk would. */
async function client (stores = new Map<string, MemorySpaceStore>()): Promise<Client> {
  const c = await createClient({
    transport: wsTransport,
    storeFor: id => {
      const s = stores.get(id)
      if (s !== undefined) return s.open()
      const fresh = createMemorySpaceStore()
      stores.set(id, fresh)
      return fresh
    },
    link: { backoffBaseMs: 20, backoffMaxMs: 200 }
  })
  clients.push(c)
  return c
}

function spacesOnRelay (): string[] {
  const db = new Database(path.join(relay!.dir, 'relay.sqlite'), { readonly: true })
  try {
    return (db.prepare('SELECT id FROM spaces').all() as { id: Buffer }[]).map(r => toHex(new Uint8Array(r.id)))
  } finally {
    db.close()
  }
}

const codeOf = (f: { type: string; code?: string }): string => f.type === 'error' ? f.code! : f.type

describe('creating a space needs the write key', () => {
  it('a view-link holder cannot register a space created offline; its writer registers it once online', async () => {
    sodium = await getSodium()
    relay = await startTestRelay()
    // The writer creates the space and writes in it while its relay is out of reach.
    const stores = new Map<string, MemorySpaceStore>()
    const offline = await client(stores)
    const { space: sw, editLink, viewLink } = await offline.createSpace(`ws://127.0.0.1:${await freePort()}`, 'Made offline')
    model.addNote(sw.doc, 'written before the relay knew the space')
    await sw.flush()
    await offline.close()
    clients.splice(clients.indexOf(offline), 1)

    // Someone holding only the view link gets to the relay first.
    const view = parseLink(sodium, viewLink)
    if (!view.ok) throw new Error(view.message)
    const vk: SpaceKeys = deriveKeys(sodium, view.value.secrets)
    expect(vk.write).toBeUndefined()
    const attacker = await raw()
    const mine = sodium.crypto_sign_keypair()
    // (1) The space's own keys, but no write secret to sign with.
    const forged = await attacker.create(sodium, vk.spaceId, vk.access, { publicKey: vk.writePk, privateKey: mine.privateKey })
    expect(codeOf(forged)).toBe('relay/bad-create-proof')
    // (2) A write key of its own (it can sign with that): the id is not the one those keys derive.
    expect(codeOf(await attacker.create(sodium, vk.spaceId, vk.access, mine))).toBe('relay/bad-space-id')
    // (3) A valid proof captured from another connection, replayed: it signed that connection's challenge.
    const ek = deriveKeys(sodium, (parseLink(sodium, editLink) as { ok: true; value: { secrets: Parameters<typeof deriveKeys>[1] } }).value.secrets)
    const victim = await raw()
    victim.send({ type: 'hello', reqId: 1, spaceId: ek.spaceId })
    const theirs = await victim.next('challenge', f => f.reqId === 1)
    attacker.send({ type: 'hello', reqId: 90, spaceId: ek.spaceId })
    await attacker.next('challenge', f => f.reqId === 90)
    attacker.send({ type: 'create', reqId: 91, spaceId: ek.spaceId, accessPk: ek.access.publicKey, writePk: ek.writePk, ...signCreate(sodium, ek.spaceId, ek.access, ek.write!, theirs.challenge) })
    expect((await attacker.next('error', f => f.reqId === 91)).code).toBe('relay/bad-create-proof')
    expect(spacesOnRelay()).not.toContain(toHex(vk.spaceId))
    expect(attacker.isClosed).toBe(false)

    // A view-only session waits for the space, saying so once, and writes (creates) nothing.
    const reader = await client()
    const sv = await reader.openSpace(view.value, relay.url)
    await waitFor(() => sv.alerts.some(a => a.code === 'sync/no-space'), 10_000, 'the view session to learn the space is not there')
    expect(spacesOnRelay()).not.toContain(toHex(vk.spaceId))

    // The writer comes online: its device registers the space and sends what it wrote offline.
    const online = await client(stores)
    const edit = parseLink(sodium, editLink)
    if (!edit.ok) throw new Error(edit.message)
    const sw2 = await online.openSpace(edit.value, relay.url)
    await sw2.whenStored(10_000)
    expect(spacesOnRelay()).toContain(toHex(vk.spaceId))
    await waitFor(() => model.toJSON(sv.doc).items.some(i => i.kind === 'note' && i.text === 'written before the relay knew the space'), 15_000, 'the reader to see the offline note')
    expect(model.toJSON(sv.doc).title).toBe('Made offline')
    expect(sw2.alerts).toEqual([])
    expect(sv.alerts.filter(a => a.code === 'sync/no-space')).toHaveLength(1)
    expect(sv.alerts.filter(a => a.code !== 'sync/no-space')).toEqual([])
  })

  it('300 creations from one client are refused past the per-connection limit, then past the per-address bucket', async () => {
    sodium = await getSodium()
    // The defaults: 32 per connection, a bucket of 64 per address.
    relay = await startTestRelay()
    const codes: string[] = []
    let p = await raw()
    for (let i = 0; i < 300; i++) {
      // The client reconnects every 100 attempts, as one trying to get round the per-connection limit would.
      if (i > 0 && i % 100 === 0) p = await raw()
      const keys = deriveKeys(sodium, newSpaceSecrets(sodium))
      codes.push(codeOf(await p.create(sodium, keys.spaceId, keys.access, keys.write!)))
    }
    const ok = (from: number, to: number): string[] => Array<string>(to - from).fill('ok')
    const limited = (from: number, to: number): string[] => Array<string>(to - from).fill('relay/create-limit')
    expect(codes).toEqual([...ok(0, 32), ...limited(32, 100), ...ok(100, 132), ...limited(132, 300)])
    expect(spacesOnRelay()).toHaveLength(64)
    // A refusal, not a violation: the connection stays, and still serves the spaces it made.
    expect(p.isClosed).toBe(false)
    // On the third connection the address's bucket is what refuses (until its own limit is reached too).
    const first = p.frames.find(f => f.type === 'error')
    expect(first?.type === 'error' && first.message).toMatch(/address/)
  })

  it('a client whose create is refused by a limit alerts once and registers the space on a later connection', async () => {
    sodium = await getSodium()
    relay = await startTestRelay({ createLimits: { perConnection: 1, perAddress: { burst: 100, perHour: 0 } } })
    const c = await client()
    // Two spaces over one connection: the second create passes the per-connection limit of 1.
    const [a, b] = await Promise.all([c.createSpace(relay.url, 'first'), c.createSpace(relay.url, 'second')])
    await Promise.all([a.space.whenStored(15_000), b.space.whenStored(15_000)])
    expect(spacesOnRelay().sort()).toEqual([toHex(a.space.secrets.spaceId), toHex(b.space.secrets.spaceId)].sort())
    const refused = [...a.space.alerts, ...b.space.alerts]
    expect(refused.map(x => x.code)).toEqual(['sync/create-refused'])
    expect(refused[0]!.message).toMatch(/relay\/create-limit/)
  })
})
