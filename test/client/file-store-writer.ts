/**
 * A separate process writing to a shared space journal, spawned by file-store.test.ts:
 *   node --import tsx test/client/file-store-writer.ts <file> <name> <count> <compactEvery> <startAtMs> [padBytes]
 *
 * Models a session of one process: it loads once, then for i in 0..count-1 writes one batch
 *   { updates: [{"ids":["<name>:<i>"]}], outboxAdd: ["<name>:e<i>"], outboxDrop: ["<name>:e<i-2>"
 *     unless (i-2) % 3 == 0, and one unknown envelope], meta: "<name>:<i>" }
 * so the envelope it drops is never the front of the outbox (every third stays), and every
 * `compactEvery` writes compacts to a state `{"ids":[…]}` naming everything it has seen: what its
 * load returned and what it wrote since; never the other process's later writes, exactly as a
 * Y.Doc's state would not hold them. Prints `ack <i>` once write i resolved (durable), then `done`.
 *
 * COVE_FILE_STORE_MODULE replaces the adapter under test (to run this against an older file-store).
 */
import { fileURLToPath } from 'node:url'
import type { SpaceStore } from '../../client/core/store.js'

const [file, name, countArg, compactArg, startArg, padArg] = process.argv.slice(2)
if (file === undefined || name === undefined || countArg === undefined || compactArg === undefined || startArg === undefined) {
  throw new Error('usage: file-store-writer <file> <name> <count> <compactEvery> <startAtMs> [padBytes]')
}
const count = Number(countArg)
const compactEvery = Number(compactArg)
const pad = 'x'.repeat(Number(padArg ?? 0))
const modulePath = process.env.COVE_FILE_STORE_MODULE ?? fileURLToPath(new URL('../../client/core/file-store.ts', import.meta.url))
const { createFileSpaceStore } = await import(modulePath) as { createFileSpaceStore: (f: string) => SpaceStore }

const enc = new TextEncoder()
const dec = new TextDecoder()
const store = createFileSpaceStore(file)

const wait = Number(startArg) - Date.now()
if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))

const seen = new Set<string>()
for (const u of (await store.load()).updates) for (const id of (JSON.parse(dec.decode(u)) as { ids: string[] }).ids) seen.add(id)

for (let i = 0; i < count; i++) {
  const j = i - 2
  const drop = j >= 0 && j % 3 !== 0 ? [enc.encode(`${name}:e${j}`)] : []
  await store.write({
    updates: [enc.encode(JSON.stringify({ ids: [`${name}:${i}`], pad }))],
    outboxAdd: [enc.encode(`${name}:e${i}`)],
    outboxDrop: [...drop, enc.encode(`${name}:never-added:${i}`)],
    meta: enc.encode(`${name}:${i}`)
  })
  seen.add(`${name}:${i}`)
  process.stdout.write(`ack ${i}\n`)
  if (compactEvery > 0 && i % compactEvery === compactEvery - 1) await store.compact(enc.encode(JSON.stringify({ ids: [...seen] })))
}
await store.close()
process.stdout.write('done\n')
