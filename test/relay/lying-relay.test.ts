import { afterEach, describe, expect, it } from 'vitest'
import type { Alert, Space } from '../../client/core/space.js'
import { toHex } from '../../shared/bytes.js'
import { twoVersions } from '../support/member.js'
import { inviteOf, mitmWorld } from '../support/mitm-world.js'
import { rawPeer } from '../support/raw-peer.js'
import { waitFor } from '../support/relay.js'

/**
 * Issue 8: a relay that lies is caught and shown. Each test tells one lie with the man in the
 * middle of test/support/mitm.ts (in front of a real relay on 127.0.0.1, SQLite on disk, real
 * clients over WebSockets; test/relay/mitm.test.ts shows each lie takes effect) and asserts the
 * defence: receipts (client/core/receipts.ts) and the read-back of acknowledged writes
 * (client/core/receipt-sync.ts).
 *
 * Run with the defence off (each was run once so before it was built, on the code of 0ca5f11 plus
 * the MITM; notes per test): the forged ack lost the write with no alert, withholding and the fork
 * raised no alert, the split equivocation raised none.
 */
/** Receipts every 200 ms, withholding alerted after 1.5 s: the production defaults (30 s, 15 s) scaled down. */
const SPACE = { snapshotIdleMs: 0, snapshotEvery: 0, snapshotBytes: 1 << 30, receiptMs: 200, withholdMs: 1500, gapTimeoutMs: 500 }
const world = mitmWorld(SPACE)
const { peers, client, setup } = world
afterEach(() => world.cleanup())

const text = (s: Space): string => s.doc.getText('text').toString()
async function writeStored (s: Space, what: string): Promise<void> {
  const t = s.doc.getText('text')
  t.insert(t.length, what)
  await s.whenStored(5000)
}
const codes = (s: Space): string[] => s.alerts.map(a => a.code)
const named = (s: Space, code: string, author: string): Alert | undefined => s.alerts.find(a => a.code === code && a.author === author)

describe('a lying relay is caught', () => {
  it('1. a swallowed append with a forged ack: the write is kept, read back, found missing, sent again; everyone gets it', async () => {
    const { spaces: { alice, bob } } = await setup('alice', 'bob')
    await writeStored(alice!, 'kept ')
    await waitFor(() => text(bob!).includes('kept'), 5000, 'bob has kept')

    world.mitm!.swallowNextAppend('alice')
    await writeStored(alice!, 'lost ')
    expect(world.mitm!.counts.forgedAcks).toBe(1)
    // Defence off: bob never got "lost" and nobody was told.
    await waitFor(() => text(bob!).includes('lost'), 5000, 'bob gets the swallowed write')
    expect(codes(alice!)).toContain('sync/ack-unbacked')
    // Later writes still go through (no seq-gap wedge).
    await writeStored(alice!, 'after ')
    await waitFor(() => text(bob!) === 'kept lost after ', 5000, 'bob has everything')
    // And once bob's receipt names them, alice's outbox is empty.
    await waitFor(() => alice!.stats.sealed > 0 && (alice as unknown as { writer: { outbox: unknown[] } }).writer.outbox.length === 0, 5000, 'outbox emptied by receipts')
  })

  it('2. withholding one author from one reader: the reader says who and how much, from another member\'s receipt', async () => {
    const { spaces: { alice, bob, carol } } = await setup('alice', 'bob', 'carol')
    await writeStored(alice!, 'base ')
    await waitFor(() => text(bob!).includes('base') && text(carol!).includes('base'), 5000, 'base everywhere')
    const aliceHex = toHex(alice!.devicePublicKey)

    world.mitm!.dropAuthor('bob', aliceHex)
    const t0 = Date.now()
    await writeStored(alice!, 'secret1 ')
    await writeStored(alice!, 'secret2 ')
    await waitFor(() => text(carol!).includes('secret2'), 5000, 'carol has secret2')
    // Defence off: no alert anywhere.
    await waitFor(() => named(bob!, 'sync/withheld', aliceHex) !== undefined, 10_000, 'bob alerts withholding')
    const ms = Date.now() - t0
    console.log(`[lying-relay] withholding to alert: ${ms} ms (withholdMs ${SPACE.withholdMs})`)
    expect(named(bob!, 'sync/withheld', aliceHex)!.message).toMatch(/withholding \d+ change/)
    expect(text(bob!)).not.toContain('secret')
    // Nobody blames an honest member for anything else.
    expect(carol!.alerts).toEqual([])
  })

  it('3. a fork (two groups, two histories): each side names a member of the other', async () => {
    const { spaces: { alice, bob, carol } } = await setup('alice', 'bob', 'carol')
    await writeStored(alice!, 'shared ')
    await waitFor(() => text(bob!).includes('shared') && text(carol!).includes('shared'), 5000, 'shared everywhere')

    world.mitm!.fork([['alice', 'bob'], ['carol']])
    await writeStored(alice!, 'A ')
    await writeStored(carol!, 'C ')
    const [a, c] = [toHex(alice!.devicePublicKey), toHex(carol!.devicePublicKey)]
    // Defence off: no alert anywhere.
    await waitFor(() => named(carol!, 'sync/withheld', a) !== undefined, 10_000, 'carol sees alice withheld')
    await waitFor(() => named(alice!, 'sync/withheld', c) !== undefined && named(bob!, 'sync/withheld', c) !== undefined, 10_000, 'alice and bob see carol withheld')
  })

  it('4. an old snapshot and nothing after it, served to a new device: the device is told, from the members\' receipts', async () => {
    const { spaces: { alice, bob }, editLink } = await setup('alice', 'bob')
    await writeStored(alice!, 'note1 ')
    await waitFor(() => text(bob!) === 'note1 ', 5000, 'bob has note1')
    expect(await alice!.snapshot()).toBe('stored')
    for (const n of ['note2 ', 'note3 ', 'note4 ']) await writeStored(alice!, n)
    await waitFor(() => text(bob!) === 'note1 note2 note3 note4 ', 5000, 'bob has all')
    expect(await alice!.snapshot()).toBe('stored')
    // Attested by bob: the relay serves it to joiners; the MITM serves dave #0 instead.
    await new Promise(resolve => setTimeout(resolve, 500))

    world.mitm!.rollback('dave')
    const dave = await (await client()).openSpace(await inviteOf(editLink), await world.mitm!.url('dave'))
    await dave.whenCaughtUp(5000)
    expect(text(dave)).toBe('note1 ')
    // Defence off: dave shows one note of four as the current space, and nothing says otherwise.
    const a = toHex(alice!.devicePublicKey)
    await waitFor(() => named(dave, 'sync/withheld', a) !== undefined, 10_000, 'dave is told changes are withheld')
    expect(text(dave)).not.toContain('note4')
  })

  it('5. two envelopes for one (author, seq) served to two groups: equivocation is alerted with the receipt kept', async () => {
    const { spaces: { alice, bob, carol }, keys, sodium } = await setup('alice', 'bob', 'carol')
    const { device, v1, v2 } = twoVersions(sodium, keys)
    world.mitm!.equivocate(v2, ['carol'])
    const mallory = await rawPeer(await world.mitm!.url('mallory'))
    peers.push(mallory)
    await mallory.join(sodium, keys.spaceId, keys.access)
    mallory.send({ type: 'append', reqId: 50, spaceId: keys.spaceId, envelope: v1 })
    await mallory.next('ok', f => f.reqId === 50)
    await waitFor(() => text(alice!).includes('version') && text(carol!).includes('version'), 5000, 'both versions out')
    const m = toHex(device.publicKey)
    // Defence off: no alert anywhere; each side keeps its version silently.
    await waitFor(() => [alice!, bob!, carol!].some(s => named(s, 'sync/equivocation', m) !== undefined), 10_000, 'equivocation alerted')
    const who = [alice!, bob!, carol!].find(s => named(s, 'sync/equivocation', m) !== undefined)!
    expect((who as unknown as { rsync: { receipts: { evidence: { code: string }[] } } }).rsync.receipts.evidence.some(e => e.code === 'sync/equivocation')).toBe(true)
  })
})
