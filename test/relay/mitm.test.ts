import path from 'node:path'
import Database from 'better-sqlite3'
import * as Y from 'yjs'
import { afterEach, describe, expect, it } from 'vitest'
import type { Space } from '../../client/core/space.js'
import { toHex } from '../../shared/bytes.js'
import type { Frame } from '../../shared/frame.js'
import { parseEnvelope } from '../../shared/header.js'
import type { SpaceKeys } from '../../shared/keys.js'
import { hash } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'
import type { RelayServer } from '../../relay/server.js'
import { openLog, twoVersions } from '../support/member.js'
import { startMitm, type Mitm } from '../support/mitm.js'
import { inviteOf, mitmWorld } from '../support/mitm-world.js'
import { rawPeer } from '../support/raw-peer.js'
import { startTestRelay, waitFor } from '../support/relay.js'

/**
 * The lying relay of test/support/mitm.ts against the real relay (SQLite on disk) and real
 * clients over WebSockets. Each test shows that the MITM can tell one lie (issue 8, items 1–5):
 * the lie is checked where it happens, in the frames it sent and in the relay's database, and by
 * what each client ends up holding. Whether a client notices is not asserted here: these tests
 * document what a relay can do today; the defences are tested on top of this proxy.
 */
// No automatic snapshots: the lies about the log are seen in the log alone (test 4 snapshots by hand).
const world = mitmWorld({ snapshotIdleMs: 0, snapshotEvery: 0, snapshotBytes: 1 << 30 })
const { peers, client, setup } = world
/** The last test's own relay and MITM (it needs no space set up). */
let own: { relay: RelayServer; mitm: Mitm } | undefined
afterEach(async () => {
  await world.cleanup()
  await own?.mitm.close()
  await own?.relay.close()
  own = undefined
})

const text = (s: Space): string => s.doc.getText('text').toString()
function write (s: Space, what: string): void {
  const t = s.doc.getText('text')
  t.insert(t.length, what)
}
async function writeStored (s: Space, what: string): Promise<void> {
  write(s, what)
  await s.whenStored(5000)
}
const settle = (ms = 300): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function db<T> (fn: (d: Database.Database) => T): T {
  const d = new Database(path.join(world.relay!.dir, 'relay.sqlite'), { readonly: true })
  try { return fn(d) } finally { d.close() }
}
const logCount = (): number => db(d => (d.prepare('SELECT count(*) AS n FROM log').get() as { n: number }).n)
const relayHead = (): number => db(d => (d.prepare('SELECT max(cursor) AS c FROM log').get() as { c: number }).c)
const storedHashesOf = (authorHex: string): string[] =>
  db(d => (d.prepare('SELECT hash FROM log WHERE author = ? ORDER BY cursor').all(Buffer.from(authorHex, 'hex')) as { hash: Buffer }[]).map(r => r.hash.toString('hex')))
const attestations = (): number => db(d => (d.prepare('SELECT count(*) AS n FROM attestations').get() as { n: number }).n)

/** The text of the space as the relay stores it: every log entry read by an honest peer straight from the relay. */
async function relayText (sodium: Sodium, keys: SpaceKeys): Promise<string> {
  const p = await rawPeer(world.relay!.url)
  peers.push(p)
  await p.join(sodium, keys.spaceId, keys.access)
  const doc = new Y.Doc()
  for (const e of openLog(sodium, keys, p.frames)) for (const u of e.updates) Y.applyUpdate(doc, u)
  return doc.getText('text').toString()
}

/** Entries in frames sent to a tag: cursor, author (hex) and the envelope as sent. */
function entriesSent (frames: readonly Frame[]): { cursor: number; author: string; envelope: Uint8Array }[] {
  return frames.flatMap(f => f.type === 'entries' ? f.entries.map(e => { const p = parseEnvelope(e.envelope); return { cursor: e.cursor, author: p.ok ? toHex(p.value.header.author) : '', envelope: e.envelope } }) : [])
}
const headsSent = (frames: readonly Frame[]): number[] => frames.flatMap(f => f.type === 'entries' ? [f.head] : [])

/** Cuts `tag`'s connection and waits until its client has joined and caught up again. */
async function reconnect (tag: string, s: Space): Promise<void> {
  world.mitm!.cut(tag)
  await waitFor(() => s.status.connection !== 'online', 5000, `${tag} offline`)
  await waitFor(() => s.status.connection === 'online' && s.status.caughtUp, 5000, `${tag} back`)
}

describe('a lying relay (MITM in front of an honest relay)', () => {
  it('1. swallows one append and forges its ack: the writer counts it stored, the relay never had it', async () => {
    const { spaces: { alice, bob }, sodium } = await setup('alice', 'bob')
    await writeStored(alice!, 'kept ')
    await waitFor(() => text(bob!).includes('kept'), 5000, 'bob has kept')
    const before = logCount()

    world.mitm!.swallowNextAppend('alice')
    await writeStored(alice!, 'lost ')
    expect(alice!.status.unsynced).toBe(0)
    expect(world.mitm!.counts).toMatchObject({ swallowed: 1, forgedAcks: 1 })
    const [lost] = world.mitm!.swallowed
    expect(logCount()).toBe(before)
    expect(storedHashesOf(toHex(alice!.devicePublicKey))).not.toContain(toHex(hash(sodium, lost!.envelope)))

    // Bob writes next: the relay gives his entry the very cursor the MITM forged for alice, and
    // alice is told it one higher, so every cursor she sees after the forged ack is above it.
    await writeStored(bob!, 'later ')
    await waitFor(() => text(alice!).includes('later'), 5000, 'alice has later')
    const toAlice = world.mitm!.sent('alice')
    const at = toAlice.findIndex(f => f.type === 'ok' && f.cursor === lost!.forgedCursor)
    expect(at).toBeGreaterThan(0)
    const cursorsBefore = toAlice.slice(0, at).flatMap(f => f.type === 'ok' ? [f.cursor] : f.type === 'entries' ? [f.head, ...f.entries.map(e => e.cursor)] : [])
    expect(Math.max(...cursorsBefore)).toBeLessThan(lost!.forgedCursor)
    const after = entriesSent(toAlice.slice(at + 1))
    expect(after.map(e => e.cursor)).toEqual([relayHead() + 1])
    expect(relayHead()).toBe(lost!.forgedCursor)

    await settle()
    expect(text(bob!)).toBe('kept later ')
    expect(text(alice!)).toContain('lost')
  })

  it('2. withholds one author from one reader: catch-up, live and fetchStream, heads lowered to match', async () => {
    const { spaces: { alice, bob, carol }, keys, space, sodium } = await setup('alice', 'bob', 'carol')
    await writeStored(alice!, 'base ')
    await waitFor(() => text(bob!).includes('base') && text(carol!).includes('base'), 5000, 'base everywhere')
    const aliceHex = toHex(alice!.devicePublicKey)
    const mark = world.mitm!.sent('bob').length

    world.mitm!.dropAuthor('bob', aliceHex)
    await writeStored(alice!, 'secret1 ')
    await waitFor(() => text(carol!).includes('secret1'), 5000, 'carol has secret1')
    // At the front: an edit after secret1 would hang on it in bob's doc (Yjs keeps it pending).
    carol!.doc.getText('text').insert(0, 'carol ')
    await carol!.whenStored(5000)
    await writeStored(alice!, 'secret2 ')
    await waitFor(() => text(carol!).includes('secret2'), 5000, 'carol has secret2')
    await waitFor(() => text(bob!).includes('carol'), 5000, 'bob has carol')
    await settle()
    expect(text(bob!)).toBe('carol base ')
    expect(text(carol!)).toBe('carol base secret1 secret2 ')
    expect(await relayText(sodium, keys)).toBe('carol base secret1 secret2 ')

    // Reconnecting: the catch-up leaves alice out too, and no head names her last entry.
    await reconnect('bob', bob!)
    await settle()
    expect(text(bob!)).toBe('carol base ')
    const toBob = world.mitm!.sent('bob').slice(mark)
    expect(entriesSent(toBob).filter(e => e.author === aliceHex)).toEqual([])
    const carolCursor = Math.max(...entriesSent(toBob).map(e => e.cursor))
    expect(Math.max(...headsSent(toBob))).toBe(carolCursor)
    expect(relayHead()).toBeGreaterThan(carolCursor)
    expect(world.mitm!.countsFor('bob').hidden).toBeGreaterThanOrEqual(2)
    expect(world.mitm!.countsFor('bob').headsLowered).toBeGreaterThanOrEqual(1)
    expect(world.mitm!.countsFor('carol').hidden).toBe(0)

    // Asked for alice's stream by (author, stream, seq), bob is answered what he had before the
    // lie began (her first entry) and nothing after it; carol all of it.
    const stream = world.mitm!.log(space).filter(e => e.author === aliceHex).at(-1)!.stream
    const ask = async (tag: string): Promise<Frame & { type: 'entries' }> => {
      const p = await rawPeer(await world.mitm!.url(tag))
      peers.push(p)
      await p.join(sodium, keys.spaceId, keys.access)
      p.send({ type: 'fetchStream', reqId: 99, spaceId: keys.spaceId, author: alice!.devicePublicKey, stream: Buffer.from(stream, 'hex'), fromSeq: 0, limit: 100 })
      return await p.next('entries', f => f.reqId === 99)
    }
    const forBob = await ask('bob')
    expect(forBob.entries.map(e => e.cursor)).toEqual([1])
    expect(forBob.head).toBe(carolCursor)
    const forCarol = await ask('carol')
    expect(forCarol.entries.length).toBe(3)
    expect(forCarol.head).toBe(relayHead())
  })

  it('3. forks the space: two groups, two histories, the relay stores both', async () => {
    const { spaces: { alice, bob, carol }, keys, sodium } = await setup('alice', 'bob', 'carol')
    await writeStored(alice!, 'shared ')
    await waitFor(() => text(bob!).includes('shared') && text(carol!).includes('shared'), 5000, 'shared everywhere')

    world.mitm!.fork([['alice', 'bob'], ['carol']])
    await writeStored(alice!, 'A ')
    await writeStored(carol!, 'C ')
    await waitFor(() => text(bob!).includes('A'), 5000, 'bob has A')
    await writeStored(bob!, 'B ')
    await waitFor(() => text(alice!).includes('B'), 5000, 'alice has B')
    await settle()

    expect(text(alice!)).toBe('shared A B ')
    expect(text(bob!)).toBe('shared A B ')
    expect(text(carol!)).toBe('shared C ')
    const stored = await relayText(sodium, keys)
    for (const w of ['shared', 'A', 'B', 'C']) expect(stored).toContain(w)

    // A reconnect does not heal it: each group's catch-up leaves the other out.
    await reconnect('carol', carol!)
    await reconnect('alice', alice!)
    await settle()
    expect(text(carol!)).toBe('shared C ')
    expect(text(alice!)).toBe('shared A B ')
    const group1 = [...world.mitm!.devices('alice'), ...world.mitm!.devices('bob')]
    const carolHex = toHex(carol!.devicePublicKey)
    expect(entriesSent(world.mitm!.sent('carol')).filter(e => group1.includes(e.author)).map(e => e.cursor)).toEqual([1])
    for (const t of ['alice', 'bob']) expect(entriesSent(world.mitm!.sent(t)).filter(e => e.author === carolHex)).toEqual([])
    expect(world.mitm!.counts.hidden).toBeGreaterThanOrEqual(3)
  })

  it('4. serves an old snapshot, and nothing after it, to a new device', async () => {
    const { spaces: { alice, bob }, editLink, space } = await setup('alice', 'bob')
    await writeStored(alice!, 'note1 ')
    await waitFor(() => text(bob!) === 'note1 ', 5000, 'bob has note1')
    expect(await alice!.snapshot()).toBe('stored')
    await waitFor(() => attestations() === 1, 10_000, 'bob attests #0')
    for (const n of ['note2 ', 'note3 ', 'note4 ']) await writeStored(alice!, n)
    await waitFor(() => text(bob!) === 'note1 note2 note3 note4 ', 5000, 'bob has all')
    expect(await alice!.snapshot()).toBe('stored')
    await waitFor(() => attestations() === 2, 10_000, 'bob attests #1')
    const [old, newest] = world.mitm!.snapshots(space)
    expect(old).toBeDefined()
    expect(newest).toBeDefined()
    expect(old!.seq).toBe(0)

    world.mitm!.rollback('dave')
    const dave = await (await client()).openSpace(await inviteOf(editLink), await world.mitm!.url('dave'))
    const erin = await (await client()).openSpace(await inviteOf(editLink), await world.mitm!.url('erin'))
    await Promise.all([dave.whenCaughtUp(5000), erin.whenCaughtUp(5000)])
    await settle()
    expect(text(erin)).toBe('note1 note2 note3 note4 ')
    expect(text(dave)).toBe('note1 ')

    // The relay chose the newest attested snapshot for both; dave was served #0 instead, no entry
    // after what #0 covers, and no head beyond it.
    // The join answer is the first snapshots frame (a member's receipt may make the client list them later).
    const joinSnap = (tag: string): number[] => { const f = world.mitm!.sent(tag).find(f => f.type === 'snapshots'); return f?.type === 'snapshots' ? f.snapshots.map(s => s.id) : [] }
    expect(joinSnap('erin')).toEqual([newest!.id])
    expect(joinSnap('dave')).toEqual([old!.id])
    const toDave = world.mitm!.sent('dave')
    expect(entriesSent(toDave).filter(e => e.cursor > old!.covers)).toEqual([])
    expect(Math.max(...headsSent(toDave), ...toDave.flatMap(f => f.type === 'ok' ? [f.cursor] : []))).toBe(old!.covers)
    expect(world.mitm!.countsFor('dave').snapshotsReplaced).toBe(1)
    expect(world.mitm!.countsFor('erin').snapshotsReplaced).toBe(0)
  })

  it('5. serves two signed envelopes for one (author, stream, seq) to two groups', async () => {
    const { spaces: { alice, bob, carol }, editLink, keys, sodium } = await setup('alice', 'bob', 'carol')
    // Mallory holds the edit link: a certified device of her own, and one Yjs clientID in two versions.
    const { device, v1, v2 } = twoVersions(sodium, keys)
    world.mitm!.equivocate(v2, ['carol'])

    const mallory = await rawPeer(await world.mitm!.url('mallory'))
    peers.push(mallory)
    await mallory.join(sodium, keys.spaceId, keys.access)
    mallory.send({ type: 'append', reqId: 50, spaceId: keys.spaceId, envelope: v1 })
    const ack = await mallory.next('ok', f => f.reqId === 50)
    await waitFor(() => text(alice!).includes('version') && text(bob!).includes('version') && text(carol!).includes('version'), 5000, 'all have a version')

    expect(text(alice!)).toBe('version-one ')
    expect(text(bob!)).toBe('version-one ')
    expect(text(carol!)).toBe('version-two ')
    expect(storedHashesOf(toHex(device.publicKey))).toEqual([toHex(hash(sodium, v1))])
    const served = (tag: string): string[] => entriesSent(world.mitm!.sent(tag)).filter(e => e.cursor === ack.cursor).map(e => toHex(hash(sodium, e.envelope)))
    expect(served('bob')).toEqual([toHex(hash(sodium, v1))])
    expect(served('carol')).toEqual([toHex(hash(sodium, v2))])
    expect(world.mitm!.countsFor('carol').equivocated).toBe(1)
    expect(world.mitm!.countsFor('bob').equivocated).toBe(0)

    // And again in a catch-up: another device of carol's group joins.
    const carol2 = await (await client()).openSpace(await inviteOf(editLink), await world.mitm!.url('carol'))
    await carol2.whenCaughtUp(5000)
    await settle()
    expect(text(carol2)).toBe('version-two ')
    expect(world.mitm!.countsFor('carol').equivocated).toBe(2)
  })

  it('forwards what it cannot parse as it is, and keeps going', async () => {
    const relay = await startTestRelay()
    const mitm = await startMitm(relay.url)
    own = { relay, mitm }
    const junk = await rawPeer(await mitm.url('junk'))
    peers.push(junk)
    junk.send(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]))
    const closed = await junk.closed
    expect(junk.frames.map(f => f.type)).toEqual(['error'])
    expect(closed.code).toBeGreaterThan(1000)
    expect(mitm.countsFor('junk').unparsed).toBe(1)
    const { space } = await (await client()).createSpace(await mitm.url('ok'))
    await space.whenCaughtUp(5000)
    await writeStored(space, 'fine')
  })
})
