import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { AppendResult, LogStore } from '../../relay/storage/port.js'
import { createSqliteStore } from '../../relay/storage/sqlite.js'
import { runLogStoreContract } from './storage-contract.js'

function tempDb (): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cove-store-'))
  return { dir, file: path.join(dir, 'relay.db') }
}

runLogStoreContract('sqlite', async () => {
  const { dir, file } = tempDb()
  const opened: LogStore[] = []
  const open = (): LogStore => {
    const s = createSqliteStore(file)
    opened.push(s)
    return s
  }
  return {
    store: open(),
    reopen: async () => open(),
    cleanup: async () => {
      for (const s of opened) await s.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
})

describe('SQLite store: durability', () => {
  let dir: string
  let file: string
  let store: LogStore
  beforeEach(() => {
    ({ dir, file } = tempDb())
    store = createSqliteStore(file)
  })
  afterEach(async () => {
    await store.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  const entryAt = (author: Uint8Array, seq: number, prevHash: Uint8Array, label: string) => {
    const envelope = new TextEncoder().encode(label)
    return { author, stream: new Uint8Array(8), seq, prevHash, hash: new Uint8Array(createHash('sha256').update(envelope).digest()), envelope, kind: 'update' as const }
  }

  it('a data directory from before attestations and parts opens and gains them (tables added, nothing rewritten)', async () => {
    const old = tempDb()
    try {
      // The schema as it was before issue 7, with one space and one snapshot in it.
      const db = new Database(old.file)
      db.exec(`
        CREATE TABLE spaces (id BLOB PRIMARY KEY, access_pk BLOB NOT NULL, write_pk BLOB NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE log (cursor INTEGER PRIMARY KEY AUTOINCREMENT, space BLOB NOT NULL, author BLOB NOT NULL, stream BLOB NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, env BLOB NOT NULL);
        CREATE TABLE snapshots (id INTEGER PRIMARY KEY AUTOINCREMENT, space BLOB NOT NULL, hash BLOB NOT NULL, prev_hash BLOB NOT NULL, covers INTEGER NOT NULL, env BLOB NOT NULL);
      `)
      const space = new Uint8Array(16).fill(5)
      const hash = new Uint8Array(32).fill(6)
      db.prepare('INSERT INTO spaces VALUES (?, ?, ?, 0)').run(space, new Uint8Array(32), new Uint8Array(32))
      db.prepare('INSERT INTO snapshots (space, hash, prev_hash, covers, env) VALUES (?, ?, ?, 7, ?)').run(space, hash, new Uint8Array(32), new Uint8Array([1, 2, 3]))
      db.close()

      const s = createSqliteStore(old.file)
      try {
        const [snap] = await s.getSnapshots(space, 10)
        expect(snap).toMatchObject({ covers: 7, attested: false, parts: [] })
        expect(await s.attestSnapshot(space, hash, new Uint8Array(32).fill(9))).toBe(true)
        expect((await s.getAttestedSnapshot(space))?.covers).toBe(7)
        expect((await s.putSnapshotPart(space, new Uint8Array(32).fill(1), new Uint8Array(10))).ok).toBe(true)
        // It gained a storage time too (issue 10): the old snapshot reads as stored long ago, so
        // an hour's spacing keeps it as history beside a new one.
        expect((await s.putSnapshot(space, { hash: new Uint8Array(32).fill(7), prevHash: hash, covers: 8, envelope: new Uint8Array([4]) })).ok).toBe(true)
        await s.prune(space, 0, 2, 3_600_000)
        expect((await s.getSnapshots(space, 10)).map(x => x.covers)).toEqual([8, 7])
      } finally {
        await s.close()
      }
    } finally {
      fs.rmSync(old.dir, { recursive: true, force: true })
    }
  })

  it('the file is in WAL mode', () => {
    const ro = new Database(file, { readonly: true, fileMustExist: true })
    try {
      expect(ro.pragma('journal_mode', { simple: true })).toBe('wal')
    } finally {
      ro.close()
    }
  })

  it('append resolves only once the row is committed (visible to a separate read-only connection)', async () => {
    const space = crypto.getRandomValues(new Uint8Array(16))
    await store.createSpace(space, { accessPk: new Uint8Array(32), writePk: new Uint8Array(32) })
    const ro = new Database(file, { readonly: true, fileMustExist: true })
    const byCursor = ro.prepare<[number], { env: Buffer }>('SELECT env FROM log WHERE cursor = ?')
    try {
      // 50 appends on 10 streams in one turn (one group commit), then one more turn.
      const authors = Array.from({ length: 10 }, () => crypto.getRandomValues(new Uint8Array(32)))
      const checks: Array<Promise<{ label: string; r: AppendResult; seenAtResolve: string | undefined }>> = []
      const prev = authors.map(() => new Uint8Array(32))
      for (let seq = 0; seq < 5; seq++) {
        authors.forEach((author, i) => {
          const label = `author ${i} seq ${seq}`
          const e = entryAt(author, seq, prev[i]!, label)
          prev[i] = e.hash
          // Look from the other connection in the very callback that sees the resolution.
          checks.push(store.append(space, e).then(r => ({ label, r, seenAtResolve: r.ok ? byCursor.get(r.cursor)?.env.toString() : undefined })))
        })
      }
      const later = store.append(space, entryAt(authors[0]!, 5, prev[0]!, 'later')).then(r => ({ label: 'later', r, seenAtResolve: r.ok ? byCursor.get(r.cursor)?.env.toString() : undefined }))
      for (const { label, r, seenAtResolve } of [...await Promise.all(checks), await later]) {
        expect(r.ok).toBe(true)
        expect(seenAtResolve).toBe(label)
      }
    } finally {
      ro.close()
    }
  })

  it('several processes appending to one file concurrently: every append succeeds, cursors distinct, streams in order', async () => {
    const space = crypto.getRandomValues(new Uint8Array(16))
    await store.createSpace(space, { accessPk: new Uint8Array(32), writePk: new Uint8Array(32) })
    const root = fileURLToPath(new URL('../../', import.meta.url))
    const writerScript = fileURLToPath(new URL('./storage-sqlite-writer.ts', import.meta.url))
    const writers = 3
    const streams = 4
    const count = 150
    const startAt = Date.now() + 2000

    const run = (w: number): Promise<number[][]> => new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', writerScript, file, Buffer.from(space).toString('hex'), String(w), String(streams), String(count), String(startAt)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stdout.on('data', (d: Buffer) => { out += d.toString() })
      child.stderr.on('data', (d: Buffer) => { err += d.toString() })
      child.on('error', reject)
      child.on('close', code => {
        if (code !== 0) reject(new Error(`writer ${w} exited ${String(code)}: ${err.slice(0, 2000)}`))
        else resolve((JSON.parse(out) as { cursors: number[][] }).cursors)
      })
    })
    const results = await Promise.all(Array.from({ length: writers }, (_, w) => run(w)))

    const all = results.flat(2)
    expect(all).toHaveLength(writers * streams * count)
    expect(new Set(all).size).toBe(all.length)
    for (const perWriter of results) for (const perStream of perWriter) {
      for (let i = 1; i < perStream.length; i++) expect(perStream[i]!).toBeGreaterThan(perStream[i - 1]!)
    }
    const log = await store.readAfter(space, 0, 100_000)
    expect(log.map(e => e.cursor)).toEqual([...all].sort((a, b) => a - b))
    expect(await store.head(space)).toBe(Math.max(...all))
    for (let w = 0; w < writers; w++) {
      for (let s = 0; s < streams; s++) {
        const got = await store.readStream(space, new Uint8Array(32).fill(w + 1), new Uint8Array(8).fill(s + 1), 0, 1000)
        expect(got.map(e => e.cursor)).toEqual(results[w]![s])
        expect(new TextDecoder().decode(got[count - 1]!.envelope)).toBe(`writer ${w} stream ${s} seq ${count - 1}`)
      }
    }
  })
})
