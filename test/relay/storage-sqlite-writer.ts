/**
 * A separate relay process appending to a shared SQLite file, spawned by storage-sqlite.test.ts:
 *   node --import tsx test/relay/storage-sqlite-writer.ts <file> <spaceHex> <writer> <streams> <count> <startAtMs>
 * Appends `count` entries to each of `streams` streams (streams in parallel, each in seq order),
 * prints `{"cursors":[[...], ...]}` and exits 0; exits 1 on any thrown error or refused append.
 */
import { createHash } from 'node:crypto'
import { createSqliteStore } from '../../relay/storage/sqlite.js'

const [file, spaceHex, writerArg, streamsArg, countArg, startArg] = process.argv.slice(2)
if (file === undefined || spaceHex === undefined || writerArg === undefined || streamsArg === undefined || countArg === undefined || startArg === undefined) {
  throw new Error('usage: storage-sqlite-writer <file> <spaceHex> <writer> <streams> <count> <startAtMs>')
}
const writer = Number(writerArg)
const streams = Number(streamsArg)
const count = Number(countArg)
const space = new Uint8Array(Buffer.from(spaceHex, 'hex'))
const store = createSqliteStore(file)

const wait = Number(startArg) - Date.now()
if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))

const cursors = await Promise.all(Array.from({ length: streams }, async (_, s) => {
  const author = new Uint8Array(32).fill(writer + 1)
  const stream = new Uint8Array(8).fill(s + 1)
  let prevHash = new Uint8Array(32)
  const out: number[] = []
  for (let seq = 0; seq < count; seq++) {
    const envelope = new TextEncoder().encode(`writer ${writer} stream ${s} seq ${seq}`)
    const hash = new Uint8Array(createHash('sha256').update(envelope).digest())
    const r = await store.append(space, { author, stream, seq, prevHash, hash, envelope, kind: 'update' })
    if (!r.ok) throw new Error(`append refused: ${r.code} ${r.message}`)
    out.push(r.cursor)
    prevHash = hash
  }
  return out
}))
await store.close()
process.stdout.write(JSON.stringify({ cursors }) + '\n')
