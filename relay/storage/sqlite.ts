import Database from 'better-sqlite3'
import { judge } from './chain.js'
import type { AppendEntry, AppendResult, LogStore, PutSnapshotResult, SnapshotPut, SpaceRecord, StoredEntry, StoredSnapshot } from './port.js'

/**
 * The embedded default backend: one SQLite file, WAL with `synchronous=FULL`, so a committed
 * transaction survives power loss and `kill -9`.
 *
 * Group commit: appends arriving in the same event-loop turn are applied in one transaction and
 * resolved together after it commits (one fsync for many writers). Promises resolve only after the
 * commit, which is what lets the relay ack and forward "only after durable".
 */
export function createSqliteStore (file: string): LogStore {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('busy_timeout = 5000')
  db.exec(`
    CREATE TABLE IF NOT EXISTS spaces (
      id BLOB PRIMARY KEY, access_pk BLOB NOT NULL, write_pk BLOB NOT NULL, created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS log (
      cursor INTEGER PRIMARY KEY AUTOINCREMENT,
      space BLOB NOT NULL, author BLOB NOT NULL, stream BLOB NOT NULL, seq INTEGER NOT NULL,
      hash BLOB NOT NULL, env BLOB NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS log_stream ON log (space, author, stream, seq);
    CREATE INDEX IF NOT EXISTS log_space ON log (space, cursor);
    CREATE TABLE IF NOT EXISTS heads (
      space BLOB NOT NULL, author BLOB NOT NULL, stream BLOB NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL,
      PRIMARY KEY (space, author, stream)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS tops (space BLOB PRIMARY KEY, top INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS pruned (space BLOB PRIMARY KEY, up_to INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS snapshots (
      id INTEGER PRIMARY KEY AUTOINCREMENT, space BLOB NOT NULL, hash BLOB NOT NULL, prev_hash BLOB NOT NULL,
      covers INTEGER NOT NULL, env BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS snapshots_space ON snapshots (space, id);
  `)

  const q = {
    createSpace: db.prepare('INSERT OR IGNORE INTO spaces (id, access_pk, write_pk, created_at) VALUES (?, ?, ?, ?)'),
    getSpace: db.prepare<[Uint8Array], { access_pk: Buffer; write_pk: Buffer }>('SELECT access_pk, write_pk FROM spaces WHERE id = ?'),
    head: db.prepare<[Uint8Array, Uint8Array, Uint8Array], { seq: number; hash: Buffer }>('SELECT seq, hash FROM heads WHERE space = ? AND author = ? AND stream = ?'),
    existing: db.prepare<[Uint8Array, Uint8Array, Uint8Array, number], { cursor: number; hash: Buffer }>('SELECT cursor, hash FROM log WHERE space = ? AND author = ? AND stream = ? AND seq = ?'),
    insert: db.prepare('INSERT INTO log (space, author, stream, seq, hash, env) VALUES (?, ?, ?, ?, ?, ?)'),
    setHead: db.prepare('INSERT INTO heads (space, author, stream, seq, hash) VALUES (?, ?, ?, ?, ?) ON CONFLICT (space, author, stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash'),
    setTop: db.prepare('INSERT INTO tops (space, top) VALUES (?, ?) ON CONFLICT (space) DO UPDATE SET top = excluded.top'),
    top: db.prepare<[Uint8Array], { top: number }>('SELECT top FROM tops WHERE space = ?'),
    readAfter: db.prepare<[Uint8Array, number, number], { cursor: number; env: Buffer }>('SELECT cursor, env FROM log WHERE space = ? AND cursor > ? ORDER BY cursor LIMIT ?'),
    readStream: db.prepare<[Uint8Array, Uint8Array, Uint8Array, number, number], { cursor: number; env: Buffer }>('SELECT cursor, env FROM log WHERE space = ? AND author = ? AND stream = ? AND seq >= ? ORDER BY seq LIMIT ?'),
    newestSnap: db.prepare<[Uint8Array], { hash: Buffer }>('SELECT hash FROM snapshots WHERE space = ? ORDER BY id DESC LIMIT 1'),
    putSnap: db.prepare('INSERT INTO snapshots (space, hash, prev_hash, covers, env) VALUES (?, ?, ?, ?, ?)'),
    getSnaps: db.prepare<[Uint8Array, number], { id: number; hash: Buffer; prev_hash: Buffer; covers: number; env: Buffer }>('SELECT id, hash, prev_hash, covers, env FROM snapshots WHERE space = ? ORDER BY id DESC LIMIT ?'),
    prune: db.prepare('DELETE FROM log WHERE space = ? AND cursor <= ?'),
    setPruned: db.prepare('INSERT INTO pruned (space, up_to) VALUES (?, ?) ON CONFLICT (space) DO UPDATE SET up_to = max(up_to, excluded.up_to)'),
    getPruned: db.prepare<[Uint8Array], { up_to: number }>('SELECT up_to FROM pruned WHERE space = ?'),
    dropSnaps: db.prepare('DELETE FROM snapshots WHERE space = ? AND id NOT IN (SELECT id FROM snapshots WHERE space = ? ORDER BY id DESC LIMIT ?)')
  }

  const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))

  const appendOne = (space: Uint8Array, e: AppendEntry): AppendResult => {
    if (q.getSpace.get(space) === undefined) return { ok: false, code: 'store/no-space', message: 'unknown space' }
    const headRow = q.head.get(space, e.author, e.stream)
    const head = headRow === undefined ? undefined : { seq: headRow.seq, hash: u8(headRow.hash) }
    const existing = head !== undefined && e.seq <= head.seq ? q.existing.get(space, e.author, e.stream, e.seq) : undefined
    const v = judge(head, e, existing === undefined ? undefined : u8(existing.hash))
    if (v.kind === 'reject') return { ok: false, code: v.code, message: v.message }
    if (v.kind === 'existing') return { ok: true, cursor: existing!.cursor, duplicate: true }
    const cursor = Number(q.insert.run(space, e.author, e.stream, e.seq, e.hash, e.envelope).lastInsertRowid)
    q.setHead.run(space, e.author, e.stream, e.seq, e.hash)
    q.setTop.run(space, cursor)
    return { ok: true, cursor, duplicate: false }
  }

  interface Pending { space: Uint8Array; e: AppendEntry; resolve: (r: AppendResult) => void; reject: (e: unknown) => void }
  let queue: Pending[] = []
  let scheduled = false
  let closed = false

  const commitBatch = db.transaction((batch: Pending[]) => batch.map(p => appendOne(p.space, p.e)))

  const flush = (): void => {
    scheduled = false
    const batch = queue
    queue = []
    if (batch.length === 0) return
    let results: AppendResult[]
    try {
      results = commitBatch.immediate(batch)
    } catch (err) {
      for (const p of batch) p.reject(err)
      return
    }
    batch.forEach((p, i) => p.resolve(results[i]!))
  }

  return {
    async createSpace (id, rec: SpaceRecord) {
      return q.createSpace.run(id, rec.accessPk, rec.writePk, Date.now()).changes === 1
    },
    async getSpace (id) {
      const r = q.getSpace.get(id)
      return r === undefined ? undefined : { accessPk: u8(r.access_pk), writePk: u8(r.write_pk) }
    },
    append (id, e) {
      if (closed) return Promise.reject(new Error('store is closed'))
      return new Promise<AppendResult>((resolve, reject) => {
        queue.push({ space: id, e, resolve, reject })
        if (!scheduled) {
          scheduled = true
          setImmediate(flush)
        }
      })
    },
    async readAfter (id, after, limit) {
      return q.readAfter.all(id, after, limit).map((r): StoredEntry => ({ cursor: r.cursor, envelope: u8(r.env) }))
    },
    async readStream (id, author, stream, fromSeq, limit) {
      return q.readStream.all(id, author, stream, fromSeq, limit).map((r): StoredEntry => ({ cursor: r.cursor, envelope: u8(r.env) }))
    },
    async head (id) {
      return q.top.get(id)?.top ?? 0
    },
    async putSnapshot (id, s: SnapshotPut): Promise<PutSnapshotResult> {
      return db.transaction((): PutSnapshotResult => {
        if (q.getSpace.get(id) === undefined) return { ok: false, code: 'store/no-space', message: 'unknown space' }
        const newest = q.newestSnap.get(id)
        const expected = newest === undefined ? new Uint8Array(32) : u8(newest.hash)
        if (Buffer.compare(Buffer.from(expected), Buffer.from(s.prevHash)) !== 0) {
          return { ok: false, code: 'store/snapshot-conflict', message: 'prevHash is not the newest snapshot' }
        }
        const sid = Number(q.putSnap.run(id, s.hash, s.prevHash, s.covers, s.envelope).lastInsertRowid)
        return { ok: true, id: sid }
      }).immediate()
    },
    async getSnapshots (id, limit) {
      return q.getSnaps.all(id, limit).map((r): StoredSnapshot => ({ id: r.id, hash: u8(r.hash), prevHash: u8(r.prev_hash), covers: r.covers, envelope: u8(r.env) }))
    },
    async prune (id, upTo, keepSnapshots) {
      return db.transaction(() => {
        const n = q.prune.run(id, upTo).changes
        q.setPruned.run(id, upTo)
        if (keepSnapshots !== undefined) q.dropSnaps.run(id, id, Math.max(1, keepSnapshots))
        return n
      }).immediate()
    },
    async prunedUpTo (id) {
      return q.getPruned.get(id)?.up_to ?? 0
    },
    async close () {
      if (closed) return
      flush()
      closed = true
      db.close()
    }
  }
}
