/**
 * Issue 11: what a rotation costs. For 2, 10 and 100 member devices (each a real session with its
 * own WebSocket to one relay in this process, SQLite storage): the time from `rotate()` until every
 * kept device is joined in the new epoch, and the bytes of the key change (the `rotate` frame
 * carries it once; the relay pushes it to each joined device). Then the time for a member offline
 * during one rotation to catch up on return (its old access key refused with the key change, the
 * switch, the join in the new epoch).
 *
 *   npx tsx bench/rotation.ts [--sizes 2,10,100]
 */
import { createClient, type Client } from '../client/core/client.js'
import * as model from '../client/core/model.js'
import type { Space } from '../client/core/space.js'
import { createMemorySpaceStore, type MemorySpaceStore } from '../client/core/store.js'
import { parseLink, type Invite } from '../shared/keys.js'
import { getSodium } from '../shared/sodium.js'
import { startTestRelay, waitFor, wsTransport } from '../test/support/relay.js'

interface Dev { client: Client; space: Space }

async function dev (open: (c: Client) => Promise<Space>): Promise<Dev> {
  const stores = new Map<string, MemorySpaceStore>()
  const client = await createClient({
    transport: wsTransport,
    storeFor: id => { const s = stores.get(id); if (s !== undefined) return s.open(); const n = createMemorySpaceStore(); stores.set(id, n); return n },
    link: { backoffBaseMs: 20, backoffMaxMs: 200 },
    space: { receiptMs: 60_000 }
  })
  const d: Dev = { client, space: await open(client) }
  const follow = (s: Space): void => { s.events.on('epoch', e => { if (e.kind === 'moved') void client.reopen(s).then(n => { d.space = n; follow(n) }) }) }
  follow(d.space)
  return d
}

async function run (n: number): Promise<{ n: number; ms: number; keyChangeBytes: number; catchUpMs: number }> {
  const sodium = await getSodium()
  const relay = await startTestRelay()
  const inv = (l: string): Invite => { const r = parseLink(sodium, l); if (!r.ok) throw new Error(r.message); return r.value }
  let links = { editLink: '', viewLink: '' }
  const a = await dev(async c => { const r = await c.createSpace(relay.url, 'bench'); links = r; return r.space })
  a.space.members.setProfile({ name: 'A', colour: 0 })
  const others: Dev[] = []
  for (let i = 1; i < n; i++) others.push(await dev(c => c.openSpace(inv(i % 5 === 0 ? links.viewLink : links.editLink), relay.url)))
  const all = [a, ...others]
  await waitFor(() => all.every(d => d.space.status.caughtUp) && a.space.members.list().length === n, 60_000, 'all members known')
  model.addNote(a.space.doc, 'hello')
  await a.space.whenStored(10_000)
  let keyChangeBytes = 0
  const onFrame = a.space.onFrame.bind(a.space)
  a.space.onFrame = f => { if (f.type === 'keyChanges') keyChangeBytes = f.envelopes[0]?.length ?? 0; onFrame(f) }
  const t0 = performance.now()
  const r = await a.space.epochs.rotate({})
  if (r !== 'stored') throw new Error(`rotation ${r}`)
  const storedMs = performance.now() - t0
  await waitFor(() => all.every(d => d.space.keys.epoch === 1 && d.space.status.caughtUp), 120_000, 'all in epoch 1')
  const ms = performance.now() - t0
  console.log(`${n} devices: key change sealed and stored by the relay in ${storedMs.toFixed(0)} ms; ${ms.toFixed(0)} ms until all ${n} joined the new epoch; key change ${keyChangeBytes} bytes`)

  // One member offline across a second rotation, then back.
  const late = others[0]!
  await late.space.close()
  await a.space.epochs.rotate({})
  await waitFor(() => a.space.keys.epoch === 2 && a.space.status.caughtUp, 60_000, 'epoch 2')
  const t1 = performance.now()
  late.space = await late.client.openSpace(inv(links.editLink), relay.url)
  const s = late.space
  s.events.on('epoch', e => { if (e.kind === 'moved') void late.client.reopen(s).then(x => { late.space = x }) })
  await waitFor(() => late.space.keys.epoch === 2 && late.space.status.caughtUp, 60_000, 'the offline member back')
  const catchUpMs = performance.now() - t1
  for (const d of all) await d.client.close()
  await relay.close()
  return { n, ms, keyChangeBytes, catchUpMs }
}

const arg = process.argv.indexOf('--sizes')
const sizes = arg > 0 ? (process.argv[arg + 1] ?? '').split(',').map(Number) : [2, 10, 100]
for (const n of sizes) {
  const r = await run(n)
  console.log(`${r.n} devices: offline member catch-up across one rotation ${r.catchUpMs.toFixed(0)} ms`)
}
process.exit(0)
