import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Space } from '../../client/core/space.js'
import { toHex } from '../../shared/bytes.js'
import { bundleCli, cove, type CliRunner } from '../support/cli.js'
import { inviteOf, mitmWorld } from '../support/mitm-world.js'
import { startTestRelay, tempDir, testClient, waitFor } from '../support/relay.js'

/**
 * Issue 8, item 4 without the members' receipts: a relay serves a NEW device snapshot #0 and
 * nothing after it, and drops every receipt on the way to it (mitm.ts lies 4 and 6), so the only
 * thing that can tell the device its state is old is the invite link's checkpoint
 * (shared/checkpoint.ts, client/core/freshness.ts). Real relay on 127.0.0.1 (SQLite on disk),
 * the lying MITM in front, real clients over WebSockets, and one real `cove cat` process.
 *
 * Run with the defence off (done once while building it, with `FreshnessCheck.caughtUp` returning
 * at once): the first test timed out waiting for `sync/stale-join` (dave showed "note1 " as the
 * space, no alert at all), the honest one timed out waiting for 'reached' (the status stayed
 * 'checking'), and `cove cat` through the same lie exited 0 with nothing on stderr. The last test
 * is that run kept as a test: the same lie, a link without a checkpoint (as older clients made
 * them), and nothing notices; the device only says it cannot check.
 */
const SPACE = { snapshotIdleMs: 0, snapshotEvery: 0, snapshotBytes: 1 << 30, receiptMs: 200, withholdMs: 1500, gapTimeoutMs: 500 }
const world = mitmWorld(SPACE)
const { client, setup } = world
let cli: CliRunner
beforeAll(async () => { cli = await bundleCli() })
afterAll(() => cli.dispose())
afterEach(() => world.cleanup())

const text = (s: Space): string => s.doc.getText('text').toString()
const codes = (s: Space): string[] => s.alerts.map(a => a.code)
async function writeStored (s: Space, what: string): Promise<void> {
  const t = s.doc.getText('text')
  t.insert(t.length, what)
  await s.whenStored(5000)
}

/** Alice and bob hold four notes and two snapshots (#1 attested by bob); alice makes links now. */
async function fourNotes (): Promise<{ alice: Space; bob: Space; links: { editLink?: string; viewLink: string } }> {
  const { spaces: { alice, bob } } = await setup('alice', 'bob')
  await writeStored(alice!, 'note1 ')
  await waitFor(() => text(bob!) === 'note1 ', 5000, 'bob has note1')
  expect(await alice!.snapshot()).toBe('stored')
  for (const n of ['note2 ', 'note3 ', 'note4 ']) await writeStored(alice!, n)
  await waitFor(() => text(bob!) === 'note1 note2 note3 note4 ', 5000, 'bob has all')
  expect(await alice!.snapshot()).toBe('stored')
  await new Promise(resolve => setTimeout(resolve, 500))
  const links = (await client()).links(alice!, await world.mitm!.url('alice'))
  return { alice: alice!, bob: bob!, links }
}

describe('a new device and the invite link\'s checkpoint', () => {
  it('served an old snapshot and no receipts, the device says its state is older than the link, and clears it once served', async () => {
    const { alice, links } = await fourNotes()
    const cp = (await inviteOf(links.viewLink)).checkpoint!
    expect(cp.heads.map(h => [toHex(h.author), h.seq])).toEqual([[toHex(alice.devicePublicKey), 3]])

    world.mitm!.rollback('dave')
    world.mitm!.dropReceipts('dave')
    const dave = await (await client()).openSpace(await inviteOf(links.viewLink), await world.mitm!.url('dave'))
    expect(dave.status.freshness?.state).toBe('checking')
    await dave.whenCaughtUp(5000)
    expect(text(dave)).toBe('note1 ')
    await waitFor(() => codes(dave).includes('sync/stale-join'), 5000, 'dave is told his state is older than the link')
    const alert = dave.alerts.find(a => a.code === 'sync/stale-join')!
    expect(alert.author).toBe(toHex(alice.devicePublicKey))
    expect(alert.message).toMatch(/3 change\(s\) in 1 stream\(s\)/)
    expect(dave.status.freshness).toEqual({ state: 'behind', behind: 3 })
    // Only the checkpoint spoke: no receipt reached dave.
    expect(codes(dave)).not.toContain('sync/withheld')
    expect(world.mitm!.countsFor('dave').droppedFrames).toBeGreaterThan(0)

    // A `cove cat` on another new device, through the same lie: exit 76, the alert on stderr.
    world.mitm!.rollback('erin')
    world.mitm!.dropReceipts('erin')
    const home = tempDir('cove-stale-join-')
    try {
      const r = await cove(cli, home, ['cat', links.viewLink, '--relay', await world.mitm!.url('erin')])
      expect(r.code, r.stderr).toBe(76)
      expect(r.stderr).toMatch(/cannot be trusted: .*sync\/stale-join/)
      expect(r.stderr).toMatch(/security alert: sync\/stale-join: .*3 change\(s\) in 1 stream\(s\)/)
      expect(() => JSON.parse(r.stdout) as unknown).not.toThrow() // the local copy is still printed
    } finally {
      fs.rmSync(home, { recursive: true, force: true })
    }

    // The relay stops lying: dave, still asking, gets the rest; the alert no longer stands.
    const cleared: string[] = []
    dave.events.on('cleared', c => cleared.push(c))
    world.mitm!.honest()
    await waitFor(() => text(dave) === 'note1 note2 note3 note4 ', 10_000, 'dave gets the rest')
    await waitFor(() => dave.status.freshness?.state === 'reached', 5000, 'dave reaches the checkpoint')
    expect(codes(dave)).not.toContain('sync/stale-join')
    expect(cleared).toEqual(['sync/stale-join'])
  })

  it('through an honest relay the same link is reached with no alert', async () => {
    const { links } = await fourNotes()
    const carol = await (await client()).openSpace(await inviteOf(links.editLink!), await world.mitm!.url('carol'))
    await carol.whenCaughtUp(5000)
    await waitFor(() => carol.status.freshness?.state === 'reached', 5000, 'carol reaches the checkpoint')
    expect(text(carol)).toBe('note1 note2 note3 note4 ')
    expect(carol.alerts).toEqual([])
  })

  it('an honest relay that pruned what the checkpoint names serves a snapshot claiming it: reached, no alert', async () => {
    const relay = await startTestRelay({ pruneGraceMs: 0, pruneTailPercent: 0 })
    const clients = [await testClient(), await testClient(), await testClient()]
    try {
      const { space: alice, editLink } = await clients[0]!.createSpace(relay.url)
      const bob = await clients[1]!.openSpace(await inviteOf(editLink))
      await Promise.all([alice.whenCaughtUp(5000), bob.whenCaughtUp(5000)])
      for (const n of ['a1 ', 'a2 ']) await writeStored(alice, n)
      await writeStored(bob, 'b1 ')
      await waitFor(() => text(alice).length === 9 && text(bob).length === 9, 5000, 'both hold everything')
      expect(await alice.snapshot()).toBe('stored')
      // Bob checks and attests it; the relay then prunes every entry under it.
      const rows = (): number => { const db = new Database(path.join(relay.dir, 'relay.sqlite'), { readonly: true }); try { return (db.prepare('SELECT count(*) AS n FROM log').get() as { n: number }).n } finally { db.close() } }
      await waitFor(() => rows() === 0, 5000, 'prune')
      const { viewLink } = clients[0]!.links(alice, relay.url)
      expect((await inviteOf(viewLink)).checkpoint!.heads).toHaveLength(2)
      const dave = await clients[2]!.openSpace(await inviteOf(viewLink))
      await dave.whenCaughtUp(5000)
      await waitFor(() => dave.status.freshness?.state === 'reached', 5000, 'dave reaches the checkpoint from the snapshot')
      expect(text(dave)).toBe(text(alice))
      expect(dave.alerts).toEqual([])
    } finally {
      for (const c of clients) await c.close()
      await relay.close()
    }
  })

  it('defence off: the same lie with a link without a checkpoint (an old link) goes unnoticed; the device says it cannot check', async () => {
    const { links } = await fourNotes()
    const old = links.viewLink.slice(0, links.viewLink.lastIndexOf('.'))
    expect((await inviteOf(old)).checkpoint).toBeUndefined()
    world.mitm!.rollback('frank')
    world.mitm!.dropReceipts('frank')
    const frank = await (await client()).openSpace(await inviteOf(old), await world.mitm!.url('frank'))
    await frank.whenCaughtUp(5000)
    await new Promise(resolve => setTimeout(resolve, 2 * SPACE.withholdMs))
    expect(text(frank)).toBe('note1 ')
    expect(frank.alerts).toEqual([])
    expect(frank.status.freshness).toEqual({ state: 'unchecked', behind: 0, code: 'sync/freshness-unchecked' })
  })
})
