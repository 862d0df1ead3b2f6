/**
 * Wire size of a one-keystroke edit (issue 7 changes no envelope field; a batch may carry an
 * optional "ended streams" trailer; issue 10 adds compact frames). A writer types single
 * characters into the title, each flushed and acknowledged before the next; every `append` frame
 * it sends is decoded and its envelope measured, and so is every live `entries` frame a reader (the
 * space's creator, on its own connection) receives for it. Session 2 reopens the same store (same
 * device key), as a second CLI command would. Run twice: once with clients that speak only
 * frame.ts's frames (the lines of before issue 10, unchanged), once with compact frames
 * (shared/wire.ts) on both connections.
 *
 *   npx tsx bench/envelope-size.ts
 */
import WebSocket from 'ws'
import { createClient } from '../client/core/client.js'
import * as model from '../client/core/model.js'
import { createMemorySpaceStore } from '../client/core/store.js'
import type { Connection, Transport } from '../client/core/transport.js'
import { createWsTransport, type WebSocketCtor } from '../client/core/ws-transport.js'
import { parseLink } from '../shared/keys.js'
import { hash } from '../shared/sign.js'
import { getSodium, type Sodium } from '../shared/sodium.js'
import * as wire from '../shared/wire.js'
import { startTestRelay } from '../test/support/relay.js'

const ws = createWsTransport(WebSocket as unknown as WebSocketCtor)

interface Seen { readonly frame: number; readonly env: number }

/**
 * A transport that decodes what goes by with tables of its own (one pair per connection, like the
 * two ends), recording the sizes of `append` frames sent and of live `entries` frames received.
 */
function recording (sodium: Sodium, appends: Seen[], entries: Seen[]): Transport {
  return {
    connect (url, h): Connection {
      const up = wire.createSession(env => hash(sodium, env))
      const down = wire.createSession(env => hash(sodium, env))
      const c = ws.connect(url, {
        ...h,
        onMessage (data) {
          const f = wire.readWire(down, data)
          if (f.ok && f.value.type === 'entries' && f.value.reqId === 0 && f.value.entries.length === 1) entries.push({ frame: data.byteLength, env: f.value.entries[0]!.envelope.length })
          h.onMessage(data)
        }
      })
      return {
        send (data) {
          const f = wire.readWire(up, data)
          if (f.ok && f.value.type === 'append') appends.push({ frame: data.byteLength, env: f.value.envelope.length })
          c.send(data)
        },
        close () { c.close() }
      }
    }
  }
}

async function run (sodium: Sodium, url: string, compact: boolean): Promise<void> {
  const appends: Seen[] = []
  const entries: Seen[] = []
  const transport = recording(sodium, appends, entries)
  const junk: Seen[] = []
  const link = { compact }
  const creator = await createClient({ transport: recording(sodium, junk, entries), storeFor: () => createMemorySpaceStore(), link })
  const { space: c, editLink } = await creator.createSpace(url)
  await c.whenCaughtUp(10_000)
  const inv = parseLink(sodium, editLink)
  if (!inv.ok) throw new Error(inv.message)
  const label = compact ? 'compact frames: ' : ''
  let stored = createMemorySpaceStore()
  for (let session = 1; session <= 2; session++) {
    const store = session === 1 ? stored : createMemorySpaceStore(stored.snapshot())
    stored = store
    const client = await createClient({ transport, storeFor: () => store, link })
    const s = await client.openSpace(inv.value, url)
    await s.whenCaughtUp(10_000)
    const before = appends.length
    const seenBefore = entries.length
    for (let k = 0; k < 5; k++) {
      const t = model.title(s.doc)
      t.insert(t.length, 'x')
      await s.whenStored(10_000)
    }
    // The reader's live entry of the last keystroke may still be on its way.
    const want = seenBefore + 5
    for (let i = 0; i < 200 && entries.length < want; i++) await new Promise(resolve => setTimeout(resolve, 10))
    const mine = appends.slice(before)
    const got = entries.slice(seenBefore)
    console.log(`${label}session ${session}: envelope bytes per keystroke ${mine.map(a => a.env).join(', ')} (append frame ${mine.map(a => a.frame).join(', ')})`)
    console.log(`${label}session ${session}: a reader's live entries frame per keystroke ${got.map(a => a.frame).join(', ')} (envelope ${got.map(a => a.env).join(', ')})`)
    await client.close()
  }
  await creator.close()
}

async function main (): Promise<void> {
  const sodium = await getSodium()
  const relay = await startTestRelay()
  try {
    await run(sodium, relay.url, false)
    await run(sodium, relay.url, true)
  } finally {
    await relay.close()
  }
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1) })
