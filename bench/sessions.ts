/**
 * What many short sessions of one device cost (issue 7, "Streams and bindings that end are
 * compacted"). Device A runs N sessions the way the CLI does (`cove title …` N times on one
 * $COVE_HOME): each opens the space from the same file journal (same device key), waits until it is
 * caught up, types one character into the title, waits until the relay stored it, and closes. Every
 * session is a fresh Y.Doc, so a fresh Yjs clientID (and, since issue 7, a fresh stream).
 *
 * Editor B stays online the whole time (a tab left open) and seals a snapshot every `--snap-every`
 * sessions and at each checkpoint. With `--attester`, a third editor C (that never edits or
 * snapshots) is online too and verifies and attests B's snapshots, as a second member would; without
 * it nobody but B's own sessions may ever check B's snapshots. At each checkpoint it reports:
 *
 * - A's local meta record (bytes, as stored after the session closed) and encodeMeta time; A's
 *   flush() of the one-keystroke edit (seal + journal append with meta + fsync) and whole session time,
 *   medians over the last 10 sessions before the checkpoint;
 * - B's meta record and encodeMeta time (rewritten after every change B applies);
 * - the newest snapshot on the relay: its body (plaintext) and envelope bytes vs
 *   `Y.encodeStateAsUpdateV2(doc).length`, the heads and bindings it names, whether it is attested;
 * - cold join of a fresh view-only reader (memory store): time until it holds all N keystrokes,
 *   bytes received, envelopes it applied from the log (0 = joined from the snapshot alone).
 *
 * The relay runs in this process (test/support/relay.ts, SQLite in a temp dir, pruning off). The
 * script uses only APIs the pre-issue-7 code also has, so the same file runs on a checkout of 6a34187.
 *
 *   npx tsx bench/sessions.ts [--sessions 2000] [--checkpoints 10,100,500,2000] [--snap-every 100]
 *                             [--attester] [--joins 3] [--json FILE]
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import Database from 'better-sqlite3'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { createClient, type Client } from '../client/core/client.js'
import { createFileSpaceStore } from '../client/core/file-store.js'
import * as model from '../client/core/model.js'
import { readSnapshotBody } from '../client/core/snapshot.js'
import type { Space } from '../client/core/space.js'
import { createMemorySpaceStore } from '../client/core/store.js'
import type { Connection, Transport } from '../client/core/transport.js'
import { createWsTransport, type WebSocketCtor } from '../client/core/ws-transport.js'
import { open as openEnvelope } from '../shared/envelope.js'
import { MsgType } from '../shared/header.js'
import { deriveKeys, parseLink, type Invite } from '../shared/keys.js'
import { getSodium } from '../shared/sodium.js'
import { startTestRelay } from '../test/support/relay.js'

interface Args { sessions: number, checkpoints: number[], snapEvery: number, attester: boolean, joins: number, json: string | undefined }

function parseArgs (argv: readonly string[]): Args {
  const a: Args = { sessions: 2000, checkpoints: [10, 100, 500, 2000], snapEvery: 100, attester: false, joins: 3, json: undefined }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const v = argv[i + 1]
    if (k === '--attester') a.attester = true
    else if (k === '--sessions' && v !== undefined) { a.sessions = Number(v); i++ } else if (k === '--checkpoints' && v !== undefined) { a.checkpoints = v.split(',').map(Number); i++ } else if (k === '--snap-every' && v !== undefined) { a.snapEvery = Number(v); i++ } else if (k === '--joins' && v !== undefined) { a.joins = Number(v); i++ } else if (k === '--json' && v !== undefined) { a.json = v; i++ } else throw new Error(`unknown argument ${k ?? ''}; see the comment at the top of bench/sessions.ts`)
  }
  a.checkpoints = a.checkpoints.filter(n => n <= a.sessions)
  return a
}

const ws = createWsTransport(WebSocket as unknown as WebSocketCtor)

/** A transport that counts received payload bytes. */
function counting (stats: { received: number }): Transport {
  return {
    connect (url: string, h: Parameters<Transport['connect']>[1]): Connection {
      return ws.connect(url, { ...h, onMessage: data => { stats.received += data.byteLength; h.onMessage(data) } })
    }
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2
}

/** The session's meta encoder (private in both versions): its bytes, and the median µs of `reps` calls. */
function metaCost (space: Space, reps = 21): { bytes: number, us: number } {
  const enc = (space as unknown as { encodeMeta: () => Uint8Array }).encodeMeta.bind(space)
  let bytes = 0
  const times: number[] = []
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now()
    bytes = enc().length
    times.push((performance.now() - t0) * 1000)
  }
  return { bytes, us: median(times) }
}

const titleLength = (s: Space): number => model.title(s.doc).length

function until (s: Space, n: number, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (titleLength(s) >= n) { resolve(); return }
    const timer = setTimeout(() => { s.doc.off('afterTransaction', check); reject(new Error(`timed out: ${what} (${titleLength(s)} of ${n})`)) }, ms)
    const check = (): void => {
      if (titleLength(s) < n) return
      clearTimeout(timer)
      s.doc.off('afterTransaction', check)
      resolve()
    }
    s.doc.on('afterTransaction', check)
  })
}

function waitOnline (space: Space, ms: number): Promise<boolean> {
  return new Promise(resolve => {
    if (space.status.connection === 'online') { resolve(true); return }
    const timer = setTimeout(() => { off(); resolve(false) }, ms)
    const off = space.events.on('status', s => { if (s.connection === 'online') { clearTimeout(timer); off(); resolve(true) } })
  })
}

interface SnapInfo { envBytes: number, bodyBytes: number, stateBytes: number, heads: number, bindings: number, covers: number, attested: boolean | undefined, count: number }

/** The newest snapshot of the space on the relay, opened. */
async function newestSnapshot (dbFile: string, invite: Invite): Promise<SnapInfo | undefined> {
  const sodium = await getSodium()
  const keys = deriveKeys(sodium, invite.secrets)
  const db = new Database(dbFile, { readonly: true })
  try {
    const hasAttest = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'attestations'").get() as { n: number }
    const cols = hasAttest.n > 0 ? 'id, covers, env, EXISTS (SELECT 1 FROM attestations a WHERE a.snapshot = snapshots.id) AS attested' : 'id, covers, env, NULL AS attested'
    const row = db.prepare(`SELECT ${cols} FROM snapshots WHERE space = ? ORDER BY id DESC LIMIT 1`).get(Buffer.from(keys.spaceId)) as { id: number, covers: number, env: Buffer, attested: number | null } | undefined
    const count = (db.prepare('SELECT count(*) AS n FROM snapshots WHERE space = ?').get(Buffer.from(keys.spaceId)) as { n: number }).n
    if (row === undefined) return undefined
    const env = new Uint8Array(row.env)
    const o = openEnvelope(sodium, keys, env, { types: [MsgType.snapshot] })
    if (!o.ok) throw new Error(`newest snapshot does not open: ${o.code}`)
    const body = readSnapshotBody(o.value.plaintext)
    if (!body.ok) throw new Error(`newest snapshot body: ${body.code}`)
    return { envBytes: env.length, bodyBytes: o.value.plaintext.length, stateBytes: body.value.state.length, heads: body.value.heads.length, bindings: body.value.bindings.length, covers: row.covers, attested: row.attested === null ? undefined : row.attested === 1, count }
  } finally {
    db.close()
  }
}

async function attestedSoon (dbFile: string, invite: Invite, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  for (;;) {
    const s = await newestSnapshot(dbFile, invite)
    if (s?.attested === true) return true
    if (s?.attested === undefined || Date.now() > end) return false
    await sleep(20)
  }
}

/** B seals a snapshot covering the first `n` keystrokes (retrying while it is not ready). */
async function snapshotNow (b: Space, n: number): Promise<string> {
  await until(b, n, 30_000, 'editor B receiving the edits')
  for (let i = 0; i < 50; i++) {
    const r = await b.snapshot()
    if (r !== 'skipped') return r
    await sleep(50)
  }
  return 'skipped'
}

interface JoinResult { ms: number, kb: number, applied: number, alerts: number }

async function coldJoin (viewInvite: Invite, url: string, n: number): Promise<JoinResult> {
  const stats = { received: 0 }
  const client = await createClient({ transport: counting(stats), storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 5, backoffMaxMs: 20 } })
  try {
    const t0 = performance.now()
    const s = await client.openSpace(viewInvite, url)
    await s.whenCaughtUp(60_000)
    await until(s, n, 60_000, 'cold joiner')
    const ms = performance.now() - t0
    return { ms, kb: stats.received / 1024, applied: s.stats.applied, alerts: s.alerts.length }
  } finally {
    await client.close()
  }
}

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const sodium = await getSodium()
  const relay = await startTestRelay({ pruneGraceMs: 3_600_000 })
  const dbFile = path.join(relay.dir, 'relay.sqlite')
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cove-sessions-home-'))
  const spacesDir = path.join(home, 'spaces')
  fs.mkdirSync(spacesDir, { recursive: true })
  const clients: Client[] = []
  const started = performance.now()
  console.log(`sessions: ${args.sessions}, checkpoints ${args.checkpoints.join(', ')}, B snapshots every ${args.snapEvery} sessions, attester ${args.attester ? 'on' : 'off'}, ${args.joins} cold joins per checkpoint; node ${process.version}; cwd ${process.cwd()}`)
  try {
    const clientB = await createClient({ transport: ws, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 } })
    clients.push(clientB)
    const { space: b, editLink, viewLink } = await clientB.createSpace(relay.url)
    await b.whenCaughtUp(10_000)
    await b.whenStored(10_000)
    const parse = (l: string): Invite => { const r = parseLink(sodium, l); if (!r.ok) throw new Error(r.message); return r.value }
    const editInvite = parse(editLink)
    const viewInvite = parse(viewLink)
    if (args.attester) {
      const clientC = await createClient({ transport: ws, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 }, space: { snapshotEvery: 0, snapshotBytes: 2 ** 40, snapshotIdleMs: 0 } })
      clients.push(clientC)
      const c = await clientC.openSpace(editInvite, relay.url)
      await c.whenCaughtUp(10_000)
    }

    const flushMs: number[] = []
    const sessionMs: number[] = []
    const rows: Record<string, unknown>[] = []
    for (let i = 1; i <= args.sessions; i++) {
      const checkpoint = args.checkpoints.includes(i)
      const t0 = performance.now()
      const clientA = await createClient({ transport: ws, storeFor: id => createFileSpaceStore(path.join(spacesDir, `${id}.journal`)), link: { backoffBaseMs: 100, backoffMaxMs: 1000 } })
      const a = await clientA.openSpace(editInvite, relay.url)
      if (!await waitOnline(a, 10_000)) throw new Error(`session ${i}: offline`)
      await a.whenCaughtUp(10_000)
      const t = model.title(a.doc)
      t.insert(t.length, 'x')
      const f0 = performance.now()
      await a.flush()
      flushMs.push(performance.now() - f0)
      await a.whenStored(10_000)
      const aMeta = checkpoint ? metaCost(a) : undefined
      await clientA.close()
      sessionMs.push(performance.now() - t0)
      if (a.alerts.length > 0) console.error(`  session ${i} alerts: ${a.alerts.map(x => x.code).join(', ')}`)
      if (i % args.snapEvery === 0 || checkpoint) {
        const r = await snapshotNow(b, i)
        if (r !== 'stored') console.error(`  session ${i}: B's snapshot ${r}`)
      }
      if (i % 100 === 0) console.error(`  ${i} sessions, ${((performance.now() - started) / 1000).toFixed(0)} s`)
      if (!checkpoint || aMeta === undefined) continue

      const attested = args.attester ? await attestedSoon(dbFile, editInvite, 5_000) : undefined
      const snap = await newestSnapshot(dbFile, editInvite)
      const journal = fs.readdirSync(spacesDir).filter(f => f.endsWith('.journal')).map(f => fs.statSync(path.join(spacesDir, f)).size).reduce((x, y) => x + y, 0)
      // What a later session loads: the meta as stored.
      const stored = await (async () => {
        const st = createFileSpaceStore(path.join(spacesDir, fs.readdirSync(spacesDir).find(f => f.endsWith('.journal')) ?? ''))
        try { return await st.load() } finally { await st.close() }
      })()
      await sleep(300)
      const bMeta = metaCost(b)
      const inner = b as unknown as { reader?: { heads: Map<string, unknown> }, heads?: Map<string, unknown>, bindings: Map<number, string> }
      const joins: JoinResult[] = []
      for (let j = 0; j < args.joins; j++) joins.push(await coldJoin(viewInvite, relay.url, i))
      const stateV2 = Y.encodeStateAsUpdateV2(b.doc).length
      const last = (xs: number[]): number => median(xs.slice(-10))
      const row = {
        sessions: i,
        aMetaBytes: stored.meta?.length ?? Number.NaN,
        aEncodeMetaUs: aMeta.us,
        aFlushMs: last(flushMs),
        aSessionMs: last(sessionMs),
        aJournalBytes: journal,
        aStoredUpdates: stored.updates.length,
        bMetaBytes: bMeta.bytes,
        bEncodeMetaUs: bMeta.us,
        bHeads: (inner.reader?.heads ?? inner.heads)?.size ?? Number.NaN,
        bBindings: inner.bindings.size,
        stateV2Bytes: stateV2,
        snapBodyBytes: snap?.bodyBytes ?? Number.NaN,
        snapEnvBytes: snap?.envBytes ?? Number.NaN,
        snapStateBytes: snap?.stateBytes ?? Number.NaN,
        snapHeads: snap?.heads ?? Number.NaN,
        snapBindings: snap?.bindings ?? Number.NaN,
        snapOverState: (snap?.bodyBytes ?? Number.NaN) / stateV2,
        snapCount: snap?.count ?? 0,
        snapAttested: snap?.attested === undefined ? 'n/a' : String(snap.attested),
        attestedWithin5s: attested === undefined ? 'n/a' : String(attested),
        coldJoinMs: median(joins.map(x => x.ms)),
        coldJoinKB: median(joins.map(x => x.kb)),
        coldJoinApplied: median(joins.map(x => x.applied)),
        coldJoinAlerts: Math.max(...joins.map(x => x.alerts)),
        coldJoinRuns: joins.map(x => Math.round(x.ms * 10) / 10)
      }
      rows.push(row)
      console.error(`  checkpoint ${JSON.stringify(row)}`)
    }
    printTable(rows)
    console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`)
    if (args.json !== undefined) fs.writeFileSync(args.json, JSON.stringify({ args, node: process.version, cwd: process.cwd(), rows }, null, 2) + '\n')
  } finally {
    for (const c of clients) await c.close().catch(() => {})
    await relay.close()
    fs.rmSync(home, { recursive: true, force: true })
    fs.rmSync(relay.dir, { recursive: true, force: true })
  }
}

function printTable (rows: readonly Record<string, unknown>[]): void {
  const cols: Array<[string, string, (r: Record<string, unknown>) => string]> = [
    ['sessions', 'sessions', r => String(r.sessions)],
    ['A meta B', 'aMetaBytes', r => String(r.aMetaBytes)],
    ['A encodeMeta µs', 'aEncodeMetaUs', r => num(r.aEncodeMetaUs)],
    ['A flush ms', 'aFlushMs', r => num(r.aFlushMs)],
    ['A session ms', 'aSessionMs', r => num(r.aSessionMs)],
    ['B meta B', 'bMetaBytes', r => String(r.bMetaBytes)],
    ['B encodeMeta µs', 'bEncodeMetaUs', r => num(r.bEncodeMetaUs)],
    ['snap body B', 'snapBodyBytes', r => String(r.snapBodyBytes)],
    ['state V2 B', 'stateV2Bytes', r => String(r.stateV2Bytes)],
    ['body/state', 'snapOverState', r => `${num(r.snapOverState)}×`],
    ['heads/bindings', '', r => `${String(r.snapHeads)}/${String(r.snapBindings)}`],
    ['attested', 'snapAttested', r => String(r.snapAttested)],
    ['cold join ms', 'coldJoinMs', r => num(r.coldJoinMs)],
    ['join KB', 'coldJoinKB', r => num(r.coldJoinKB)],
    ['join applied envs', 'coldJoinApplied', r => String(r.coldJoinApplied)]
  ]
  const cells = rows.map(r => cols.map(c => c[2](r)))
  const widths = cols.map((c, i) => Math.max(c[0].length, ...cells.map(r => (r[i] ?? '').length)))
  const line = (xs: readonly string[]): string => xs.map((x, i) => x.padStart(widths[i] ?? 0)).join(' | ')
  console.log([line(cols.map(c => c[0])), widths.map(w => '-'.repeat(w)).join('-|-'), ...cells.map(line)].join('\n'))
}

function num (v: unknown): string {
  const n = Number(v)
  if (!Number.isFinite(n)) return '—'
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2)
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err)
  process.exit(1)
})
