/**
 * Cold join under the snapshot attestation rule (issue 7): the relay serves a joiner only a snapshot
 * that a member other than its author verified, so who is online while a space is written decides
 * whether a joiner starts from a snapshot or from the log. Same relay process, trace and clients as
 * `npm run bench` (bench/cove.ts), three set-ups:
 *
 *   bench          writer and a second editor type the room full, both leave, a new client joins
 *                  (exactly measure.ts coldJoin)
 *   viewers        the same with the second client view-only: a single writer, nobody can attest
 *   editor-online  the writer leaves; the second editor stays online until the newest snapshot is
 *                  attested (≤ 5 s; on a relay without attestations it waits 1 s), then a new client joins
 *
 * Reported per set-up (medians): join time and bytes, envelopes the joiner applied from the log
 * (0: everything came in the snapshot), and whether the newest snapshot was attested at join time.
 *
 *   npx tsx bench/coldjoin.ts [--ops 20000] [--reps 3] [--variants bench,viewers,editor-online] [--json FILE]
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import Database from 'better-sqlite3'
import WebSocket from 'ws'
import type * as Y from 'yjs'
import { createClient, type Client } from '../client/core/client.js'
import type { Space } from '../client/core/space.js'
import { createMemorySpaceStore } from '../client/core/store.js'
import type { Connection, Transport } from '../client/core/transport.js'
import { createWsTransport, type WebSocketCtor } from '../client/core/ws-transport.js'
import { formatLink, parseLink, type Invite } from '../shared/keys.js'
import { getSodium } from '../shared/sodium.js'
import { builtRelay } from './cove.js'
import { freePort, spawnServer } from './proc.js'
import { applyOp, finalText, loadTrace, type Op } from './trace.js'

type Variant = 'bench' | 'viewers' | 'editor-online'
const HOST = '127.0.0.1'
const PRUNE_GRACE_MS = 200 // as bench/cove.ts

function parseArgs (argv: readonly string[]): { ops: number, reps: number, variants: Variant[], json: string | undefined } {
  const a = { ops: 20_000, reps: 3, variants: ['bench', 'viewers', 'editor-online'] as Variant[], json: undefined as string | undefined }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const v = argv[i + 1]
    if (k === '--ops' && v !== undefined) { a.ops = Number(v); i++ } else if (k === '--reps' && v !== undefined) { a.reps = Number(v); i++ } else if (k === '--variants' && v !== undefined) { a.variants = v.split(',') as Variant[]; i++ } else if (k === '--json' && v !== undefined) { a.json = v; i++ } else throw new Error(`unknown argument ${k ?? ''}; see the comment at the top of bench/coldjoin.ts`)
  }
  return a
}

const ws = createWsTransport(WebSocket as unknown as WebSocketCtor)

interface Peer { client: Client, space: Space, text: Y.Text, stats: { received: number } }

async function peer (url: string, invite: Invite): Promise<Peer> {
  const stats = { received: 0 }
  const transport: Transport = {
    connect (u: string, h: Parameters<Transport['connect']>[1]): Connection {
      return ws.connect(u, { ...h, onMessage: data => { stats.received += data.byteLength; h.onMessage(data) } })
    }
  }
  const client = await createClient({ transport, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 5, backoffMaxMs: 20 } })
  const space = await client.openSpace(invite, url)
  return { client, space, text: space.doc.getText('text'), stats }
}

function untilText (p: Peer, expected: string, ms: number): Promise<void> {
  const matches = (): boolean => p.text.length === expected.length && p.text.toString() === expected
  return new Promise((resolve, reject) => {
    if (matches()) { resolve(); return }
    const timer = setTimeout(() => { p.space.doc.off('afterTransaction', on); reject(new Error(`timed out (${p.text.length} of ${expected.length} chars)`)) }, ms)
    const on = (): void => { if (matches()) { clearTimeout(timer); p.space.doc.off('afterTransaction', on); resolve() } }
    p.space.doc.on('afterTransaction', on)
  })
}

function newestSnapshot (dbFile: string, spaceId: Uint8Array): { count: number, attested: boolean | undefined } {
  const db = new Database(dbFile, { readonly: true })
  try {
    const hasAttest = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'attestations'").get() as { n: number }).n > 0
    const count = (db.prepare('SELECT count(*) AS n FROM snapshots WHERE space = ?').get(Buffer.from(spaceId)) as { n: number }).n
    if (!hasAttest) return { count, attested: undefined }
    const row = db.prepare('SELECT EXISTS (SELECT 1 FROM attestations a WHERE a.snapshot = snapshots.id) AS attested FROM snapshots WHERE space = ? ORDER BY id DESC LIMIT 1').get(Buffer.from(spaceId)) as { attested: number } | undefined
    return { count, attested: row === undefined ? false : row.attested === 1 }
  } finally {
    db.close()
  }
}

interface Result { ms: number, kb: number, applied: number, snapshots: number, attested: string, alerts: number }

async function once (variant: Variant, ops: readonly Op[], expected: string): Promise<Result> {
  const sodium = await getSodium()
  const port = await freePort(HOST)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cove-coldjoin-'))
  const server = await spawnServer({ command: [process.execPath, builtRelay(), '--port', String(port), '--host', HOST, '--data', dir, '--quiet', '--prune-grace-ms', String(PRUNE_GRACE_MS)], host: HOST, port })
  const peers: Peer[] = []
  try {
    const creator = await createClient({ transport: ws, storeFor: () => createMemorySpaceStore() })
    const { space, editLink } = await creator.createSpace(server.url)
    await space.whenCaughtUp(30_000)
    await creator.close()
    const edit = parseLink(sodium, editLink)
    if (!edit.ok) throw new Error(edit.message)
    const view = parseLink(sodium, formatLink(server.url, edit.value.secrets, 'view'))
    if (!view.ok) throw new Error(view.message)
    const writer = await peer(server.url, edit.value)
    const second = await peer(server.url, variant === 'viewers' ? view.value : edit.value)
    peers.push(writer, second)
    await Promise.all([writer.space.whenCaughtUp(30_000), second.space.whenCaughtUp(30_000)])
    for (let i = 0; i < ops.length; i++) {
      writer.space.doc.transact(() => applyOp(writer.text, ops[i] as Op))
      if ((i + 1) % 100 === 0) await yieldToLoop()
    }
    await untilText(second, expected, 600_000)
    const dbFile = path.join(dir, 'relay.sqlite')
    if (variant === 'editor-online') {
      await writer.client.close()
      const end = Date.now() + 5000
      for (;;) {
        const s = newestSnapshot(dbFile, edit.value.secrets.spaceId)
        if (s.attested === undefined) { await sleep(1000); break }
        if (s.attested || Date.now() > end) break
        await sleep(20)
      }
    } else {
      await Promise.all([writer.client.close(), second.client.close()])
    }
    const snap = newestSnapshot(dbFile, edit.value.secrets.spaceId)
    if (process.env.COLDJOIN_DEBUG !== undefined) console.error(`  second member alerts: ${second.space.alerts.map(x => x.code).join(', ') || 'none'}; writer alerts: ${writer.space.alerts.map(x => x.code).join(', ') || 'none'}`)
    const t0 = performance.now()
    const joiner = await peer(server.url, view.value)
    peers.push(joiner)
    await untilText(joiner, expected, 600_000)
    const ms = performance.now() - t0
    return { ms, kb: joiner.stats.received / 1024, applied: joiner.space.stats.applied, snapshots: snap.count, attested: snap.attested === undefined ? 'n/a' : String(snap.attested), alerts: joiner.space.alerts.length }
  } finally {
    for (const p of peers) await p.client.close().catch(() => {})
    await server.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2
}

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const ops = loadTrace().slice(0, args.ops)
  const expected = finalText(ops)
  console.log(`cold join, ${ops.length} ops, ${args.reps} reps (interleaved), medians; cwd ${process.cwd()}`)
  const runs = new Map<Variant, Result[]>(args.variants.map(v => [v, []]))
  for (let rep = 0; rep < args.reps; rep++) {
    for (const v of args.variants) {
      const r = await once(v, ops, expected)
      runs.get(v)?.push(r)
      console.error(`  ${v} rep ${rep + 1}: ${JSON.stringify(r)}`)
    }
  }
  const rows = args.variants.map(v => {
    const list = runs.get(v) ?? []
    return { variant: v, ms: median(list.map(x => x.ms)), kb: median(list.map(x => x.kb)), applied: median(list.map(x => x.applied)), attested: list.map(x => x.attested).join('/'), snapshots: median(list.map(x => x.snapshots)), alerts: Math.max(...list.map(x => x.alerts)), runsMs: list.map(x => Math.round(x.ms * 10) / 10) }
  })
  for (const r of rows) console.log(`${r.variant.padEnd(14)} cold join ${r.ms.toFixed(1)} ms (runs ${r.runsMs.join(', ')}), ${r.kb.toFixed(1)} KiB, ${r.applied} envelopes from the log, snapshots on relay ${r.snapshots}, newest attested ${r.attested}, alerts ${r.alerts}`)
  if (args.json !== undefined) fs.writeFileSync(args.json, JSON.stringify({ ops: ops.length, reps: args.reps, rows, runs: Object.fromEntries(runs) }, null, 2) + '\n')
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1) })
