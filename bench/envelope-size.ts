/**
 * Wire size of a one-keystroke edit (issue 7 changes no envelope field; a batch may carry an
 * optional "ended streams" trailer). A writer types single characters into the title, each flushed
 * and acknowledged before the next; every `append` frame it sends is decoded and its envelope
 * measured. Session 2 reopens the same store (same device key), as a second CLI command would.
 * Uses only APIs the pre-issue-7 code also has.
 *
 *   npx tsx bench/envelope-size.ts
 */
import WebSocket from 'ws'
import { createClient } from '../client/core/client.js'
import * as model from '../client/core/model.js'
import { createMemorySpaceStore } from '../client/core/store.js'
import type { Connection, Transport } from '../client/core/transport.js'
import { createWsTransport, type WebSocketCtor } from '../client/core/ws-transport.js'
import * as frame from '../shared/frame.js'
import { parseLink } from '../shared/keys.js'
import { getSodium } from '../shared/sodium.js'
import { startTestRelay } from '../test/support/relay.js'

const ws = createWsTransport(WebSocket as unknown as WebSocketCtor)
const appends: { frame: number, env: number }[] = []
const recording: Transport = {
  connect (url: string, h: Parameters<Transport['connect']>[1]): Connection {
    const c = ws.connect(url, h)
    return {
      send (data) {
        const f = frame.readFrame(data)
        if (f.ok && f.value.type === 'append') appends.push({ frame: data.byteLength, env: f.value.envelope.length })
        c.send(data)
      },
      close () { c.close() }
    }
  }
}

async function main (): Promise<void> {
  const sodium = await getSodium()
  const relay = await startTestRelay()
  try {
    const creator = await createClient({ transport: ws, storeFor: () => createMemorySpaceStore() })
    const { space: c, editLink } = await creator.createSpace(relay.url)
    await c.whenCaughtUp(10_000)
    const inv = parseLink(sodium, editLink)
    if (!inv.ok) throw new Error(inv.message)
    let stored = createMemorySpaceStore()
    for (let session = 1; session <= 2; session++) {
      const store = session === 1 ? stored : createMemorySpaceStore(stored.snapshot())
      stored = store
      const client = await createClient({ transport: recording, storeFor: () => store })
      const s = await client.openSpace(inv.value, relay.url)
      await s.whenCaughtUp(10_000)
      const before = appends.length
      for (let k = 0; k < 5; k++) {
        const t = model.title(s.doc)
        t.insert(t.length, 'x')
        await s.whenStored(10_000)
      }
      console.log(`session ${session}: envelope bytes per keystroke ${appends.slice(before).map(a => a.env).join(', ')} (append frame ${appends.slice(before).map(a => a.frame).join(', ')})`)
      await client.close()
    }
    await creator.close()
  } finally {
    await relay.close()
  }
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1) })
