import Database from 'better-sqlite3'
import { judge, withQuota } from './chain.js'
import { snapshotsToDrop } from './retention.js'
import type { RotateResult, AppendEntry, AppendResult, LogStore, PutPartResult, PutSnapshotResult, SnapshotPut, SpaceRecord, StoredEntry, StoredSnapshot } from './port.js'

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
  // Pruned pages go back to the file system (prune below): set before the first table exists; a
  // data directory made before this is converted once by a VACUUM.
  db.pragma('auto_vacuum = INCREMENTAL')
  if (db.pragma('auto_vacuum', { simple: true }) !== 2) db.exec('VACUUM')
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
    -- Added for issue 7 as new tables only, so a data directory from before opens unchanged (its
    -- snapshots simply start unattested and without parts).
    CREATE TABLE IF NOT EXISTS attestations (
      snapshot INTEGER NOT NULL, device BLOB NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (snapshot, device)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS parts (
      id INTEGER PRIMARY KEY AUTOINCREMENT, space BLOB NOT NULL, hash BLOB NOT NULL, env BLOB NOT NULL,
      size INTEGER NOT NULL, stored_at INTEGER NOT NULL, linked INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX IF NOT EXISTS parts_hash ON parts (space, hash);
    CREATE INDEX IF NOT EXISTS parts_pending ON parts (space, linked, stored_at);
    CREATE TABLE IF NOT EXISTS snapshot_parts (
      snapshot INTEGER NOT NULL, idx INTEGER NOT NULL, part INTEGER NOT NULL, PRIMARY KEY (snapshot, idx)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS snapshot_parts_part ON snapshot_parts (part);
    -- Issue 8: the newest receipt of each device (a new table only, older data directories open unchanged).
    CREATE TABLE IF NOT EXISTS receipts (
      space BLOB NOT NULL, device BLOB NOT NULL, env BLOB NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (space, device)
    ) WITHOUT ROWID;
    -- Issue 8: envelope bytes in each space's log, for the log quota. A new table, filled lazily
    -- from the log for spaces of an older data directory.
    CREATE TABLE IF NOT EXISTS log_bytes (space BLOB PRIMARY KEY, bytes INTEGER NOT NULL) WITHOUT ROWID;
    -- Issue 11: epochs after the first (a new table only; a space without rows is in epoch 0 with
    -- the keys in \`spaces\`, which always hold the current epoch's).
    CREATE TABLE IF NOT EXISTS epochs (
      space BLOB NOT NULL, epoch INTEGER NOT NULL, access_pk BLOB NOT NULL, write_pk BLOB NOT NULL, key_change BLOB,
      PRIMARY KEY (space, epoch)
    ) WITHOUT ROWID;
  `)

  // Issue 10: when the relay stored each snapshot, so that the history it keeps spreads out in
  // time (retention.ts). Snapshots of an older data directory read as stored at 0.
  // Checked again inside a write transaction: two processes opening an old file at once each
  // saw the column missing, and the second one's ALTER failed (duplicate column).
  const hasStoredAt = (): boolean => db.prepare<[], { name: string }>('PRAGMA table_info(snapshots)').all().some(c => c.name === 'stored_at')
  if (!hasStoredAt()) {
    db.transaction(() => { if (!hasStoredAt()) db.exec('ALTER TABLE snapshots ADD COLUMN stored_at INTEGER NOT NULL DEFAULT 0') }).immediate()
  }

  type SnapRow = { id: number; hash: Buffer; prev_hash: Buffer; covers: number; env: Buffer; attested: number }
  const SNAP_COLS = 'id, hash, prev_hash, covers, env, EXISTS (SELECT 1 FROM attestations a WHERE a.snapshot = snapshots.id) AS attested'

  const q = {
    createSpace: db.prepare('INSERT OR IGNORE INTO spaces (id, access_pk, write_pk, created_at) VALUES (?, ?, ?, ?)'),
    getSpace: db.prepare<[Uint8Array], { access_pk: Buffer; write_pk: Buffer; epoch: number }>('SELECT access_pk, write_pk, coalesce((SELECT max(epoch) FROM epochs WHERE space = spaces.id), 0) AS epoch FROM spaces WHERE id = ?'),
    epochs: db.prepare<[Uint8Array], { epoch: number; access_pk: Buffer; write_pk: Buffer; key_change: Buffer | null }>('SELECT epoch, access_pk, write_pk, key_change FROM epochs WHERE space = ? ORDER BY epoch'),
    putEpoch: db.prepare('INSERT INTO epochs (space, epoch, access_pk, write_pk, key_change) VALUES (?, ?, ?, ?, ?)'),
    setKeys: db.prepare('UPDATE spaces SET access_pk = ?, write_pk = ? WHERE id = ?'),
    head: db.prepare<[Uint8Array, Uint8Array, Uint8Array], { seq: number; hash: Buffer }>('SELECT seq, hash FROM heads WHERE space = ? AND author = ? AND stream = ?'),
    existing: db.prepare<[Uint8Array, Uint8Array, Uint8Array, number], { cursor: number; hash: Buffer }>('SELECT cursor, hash FROM log WHERE space = ? AND author = ? AND stream = ? AND seq = ?'),
    insert: db.prepare('INSERT INTO log (space, author, stream, seq, hash, env) VALUES (?, ?, ?, ?, ?, ?)'),
    setHead: db.prepare('INSERT INTO heads (space, author, stream, seq, hash) VALUES (?, ?, ?, ?, ?) ON CONFLICT (space, author, stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash'),
    setTop: db.prepare('INSERT INTO tops (space, top) VALUES (?, ?) ON CONFLICT (space) DO UPDATE SET top = excluded.top'),
    top: db.prepare<[Uint8Array], { top: number }>('SELECT top FROM tops WHERE space = ?'),
    readAfter: db.prepare<[Uint8Array, number, number], { cursor: number; env: Buffer }>('SELECT cursor, env FROM log WHERE space = ? AND cursor > ? ORDER BY cursor LIMIT ?'),
    readStream: db.prepare<[Uint8Array, Uint8Array, Uint8Array, number, number], { cursor: number; env: Buffer }>('SELECT cursor, env FROM log WHERE space = ? AND author = ? AND stream = ? AND seq >= ? ORDER BY seq LIMIT ?'),
    newestSnap: db.prepare<[Uint8Array], { hash: Buffer }>('SELECT hash FROM snapshots WHERE space = ? ORDER BY id DESC LIMIT 1'),
    putSnap: db.prepare('INSERT INTO snapshots (space, hash, prev_hash, covers, env, stored_at) VALUES (?, ?, ?, ?, ?, ?)'),
    getSnaps: db.prepare<[Uint8Array, number], SnapRow>(`SELECT ${SNAP_COLS} FROM snapshots WHERE space = ? ORDER BY id DESC LIMIT ?`),
    snapByHash: db.prepare<[Uint8Array, Uint8Array], SnapRow>(`SELECT ${SNAP_COLS} FROM snapshots WHERE space = ? AND hash = ? ORDER BY id DESC LIMIT 1`),
    attestedSnap: db.prepare<[Uint8Array], SnapRow>(`SELECT ${SNAP_COLS} FROM snapshots WHERE space = ? AND EXISTS (SELECT 1 FROM attestations a WHERE a.snapshot = snapshots.id) ORDER BY id DESC LIMIT 1`),
    snapIdByHash: db.prepare<[Uint8Array, Uint8Array], { id: number }>('SELECT id FROM snapshots WHERE space = ? AND hash = ? ORDER BY id DESC LIMIT 1'),
    attest: db.prepare('INSERT OR IGNORE INTO attestations (snapshot, device, at) VALUES (?, ?, ?)'),
    putReceipt: db.prepare('INSERT OR REPLACE INTO receipts (space, device, env, at) VALUES (?, ?, ?, ?)'),
    receipts: db.prepare<[Uint8Array, number], { env: Buffer }>('SELECT env FROM receipts WHERE space = ? ORDER BY at DESC LIMIT ?'),
    snapParts: db.prepare<[number], { hash: Buffer }>('SELECT p.hash FROM snapshot_parts sp JOIN parts p ON p.id = sp.part WHERE sp.snapshot = ? ORDER BY sp.idx'),
    partId: db.prepare<[Uint8Array, Uint8Array], { id: number }>('SELECT id FROM parts WHERE space = ? AND hash = ?'),
    partEnv: db.prepare<[Uint8Array, Uint8Array], { env: Buffer }>('SELECT env FROM parts WHERE space = ? AND hash = ?'),
    pendingBytes: db.prepare<[Uint8Array], { n: number }>('SELECT coalesce(sum(size), 0) AS n FROM parts WHERE space = ? AND linked = 0'),
    putPart: db.prepare('INSERT INTO parts (space, hash, env, size, stored_at) VALUES (?, ?, ?, ?, ?)'),
    linkPart: db.prepare('INSERT INTO snapshot_parts (snapshot, idx, part) VALUES (?, ?, ?)'),
    markLinked: db.prepare('UPDATE parts SET linked = 1 WHERE id = ?'),
    dropPending: db.prepare('DELETE FROM parts WHERE space = ? AND linked = 0 AND stored_at < ?'),
    snapAges: db.prepare<[Uint8Array], { id: number; storedAt: number; attested: number }>('SELECT id, stored_at AS storedAt, EXISTS (SELECT 1 FROM attestations a WHERE a.snapshot = snapshots.id) AS attested FROM snapshots WHERE space = ? ORDER BY id DESC'),
    prune: db.prepare('DELETE FROM log WHERE space = ? AND cursor <= ?'),
    tailStart: db.prepare<[Uint8Array, number, number], { cursor: number }>('SELECT cursor FROM (SELECT cursor, sum(length(env)) OVER (ORDER BY cursor DESC) AS acc FROM log WHERE space = ? AND cursor <= ?) WHERE acc > ? ORDER BY cursor DESC LIMIT 1'),
    prunedBytes: db.prepare<[Uint8Array, number], { n: number }>('SELECT coalesce(sum(length(env)), 0) AS n FROM log WHERE space = ? AND cursor <= ?'),
    logBytes: db.prepare<[Uint8Array], { bytes: number }>('SELECT bytes FROM log_bytes WHERE space = ?'),
    countLogBytes: db.prepare<[Uint8Array], { n: number }>('SELECT coalesce(sum(length(env)), 0) AS n FROM log WHERE space = ?'),
    addLogBytes: db.prepare('INSERT INTO log_bytes (space, bytes) VALUES (?, ?) ON CONFLICT (space) DO UPDATE SET bytes = bytes + excluded.bytes'),
    setPruned: db.prepare('INSERT INTO pruned (space, up_to) VALUES (?, ?) ON CONFLICT (space) DO UPDATE SET up_to = max(up_to, excluded.up_to)'),
    getPruned: db.prepare<[Uint8Array], { up_to: number }>('SELECT up_to FROM pruned WHERE space = ?'),
    dropAttestations: db.prepare('DELETE FROM attestations WHERE snapshot = ?'),
    dropLinks: db.prepare('DELETE FROM snapshot_parts WHERE snapshot = ?'),
    dropSnap: db.prepare('DELETE FROM snapshots WHERE id = ?'),
    dropUnlinked: db.prepare('DELETE FROM parts WHERE space = ? AND linked = 1 AND NOT EXISTS (SELECT 1 FROM snapshot_parts sp WHERE sp.part = parts.id)')
  }

  const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
  const snapshot = (r: SnapRow): StoredSnapshot => ({
    id: r.id, hash: u8(r.hash), prevHash: u8(r.prev_hash), covers: r.covers, envelope: u8(r.env),
    parts: q.snapParts.all(r.id).map(p => u8(p.hash)), attested: r.attested === 1
  })

  /** The space's log bytes; counted from the log once for a space stored before the counter existed. Call inside a transaction. */
  const logBytes = (space: Uint8Array): number => {
    const row = q.logBytes.get(space)
    if (row !== undefined) return row.bytes
    const n = q.countLogBytes.get(space)!.n
    q.addLogBytes.run(space, n)
    return n
  }

  const appendOne = (space: Uint8Array, e: AppendEntry, maxLogBytes: number | undefined): AppendResult => {
    if (q.getSpace.get(space) === undefined) return { ok: false, code: 'store/no-space', message: 'unknown space' }
    const headRow = q.head.get(space, e.author, e.stream)
    const head = headRow === undefined ? undefined : { seq: headRow.seq, hash: u8(headRow.hash) }
    const existing = head !== undefined && e.seq <= head.seq ? q.existing.get(space, e.author, e.stream, e.seq) : undefined
    // Before the insert: a counter filled lazily from the log must not count this entry twice.
    const used = logBytes(space)
    const v = withQuota(judge(head, e, existing === undefined ? undefined : u8(existing.hash)), used, e, maxLogBytes)
    if (v.kind === 'reject') return { ok: false, code: v.code, message: v.message }
    if (v.kind === 'existing') return { ok: true, cursor: existing!.cursor, duplicate: true }
    const prev = q.top.get(space)?.top ?? 0
    const cursor = Number(q.insert.run(space, e.author, e.stream, e.seq, e.hash, e.envelope).lastInsertRowid)
    q.setHead.run(space, e.author, e.stream, e.seq, e.hash)
    q.setTop.run(space, cursor)
    q.addLogBytes.run(space, e.envelope.length)
    return { ok: true, cursor, duplicate: false, prev }
  }

  interface Pending { space: Uint8Array; e: AppendEntry; max: number | undefined; resolve: (r: AppendResult) => void; reject: (e: unknown) => void }
  let queue: Pending[] = []
  let scheduled = false
  let closed = false

  const commitBatch = db.transaction((batch: Pending[]) => batch.map(p => appendOne(p.space, p.e, p.max)))

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
      return r === undefined ? undefined : { accessPk: u8(r.access_pk), writePk: u8(r.write_pk), epoch: r.epoch }
    },
    async rotateSpace (id, fromEpoch, next) {
      return db.transaction((): RotateResult => {
        const cur = q.getSpace.get(id)
        if (cur === undefined) return 'no-space'
        if (cur.epoch !== fromEpoch || next.epoch !== fromEpoch + 1) return 'conflict'
        // Epoch 0's keys live only in \`spaces\` until the first rotation: kept here before they are replaced.
        if (fromEpoch === 0) q.putEpoch.run(id, 0, cur.access_pk, cur.write_pk, null)
        q.putEpoch.run(id, next.epoch, next.accessPk, next.writePk, next.keyChange)
        q.setKeys.run(next.accessPk, next.writePk, id)
        return 'ok'
      }).immediate()
    },
    async getEpochs (id) {
      const rows = q.epochs.all(id)
      if (rows.length > 0) return rows.map(r => ({ epoch: r.epoch, accessPk: u8(r.access_pk), writePk: u8(r.write_pk), ...r.key_change === null ? {} : { keyChange: u8(r.key_change) } }))
      const cur = q.getSpace.get(id)
      return cur === undefined ? [] : [{ epoch: 0, accessPk: u8(cur.access_pk), writePk: u8(cur.write_pk) }]
    },
    append (id, e, maxLogBytes) {
      if (closed) return Promise.reject(new Error('store is closed'))
      return new Promise<AppendResult>((resolve, reject) => {
        queue.push({ space: id, e, max: maxLogBytes, resolve, reject })
        if (!scheduled) {
          scheduled = true
          setImmediate(flush)
        }
      })
    },
    async logBytes (id) {
      return db.transaction(() => q.getSpace.get(id) === undefined ? 0 : logBytes(id)).immediate()
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
        const partIds: number[] = []
        for (const [i, h] of (s.parts ?? []).entries()) {
          const row = q.partId.get(id, h)
          if (row === undefined) return { ok: false, code: 'store/missing-part', message: `part ${i} was not uploaded` }
          partIds.push(row.id)
        }
        const sid = Number(q.putSnap.run(id, s.hash, s.prevHash, s.covers, s.envelope, Date.now()).lastInsertRowid)
        partIds.forEach((part, i) => {
          q.linkPart.run(sid, i, part)
          q.markLinked.run(part)
        })
        return { ok: true, id: sid }
      }).immediate()
    },
    async getSnapshots (id, limit) {
      return q.getSnaps.all(id, limit).map(snapshot)
    },
    async getSnapshot (id, hash) {
      const r = q.snapByHash.get(id, hash)
      return r === undefined ? undefined : snapshot(r)
    },
    async getAttestedSnapshot (id) {
      const r = q.attestedSnap.get(id)
      return r === undefined ? undefined : snapshot(r)
    },
    async putReceipt (id, device, envelope) {
      if (q.getSpace.get(id) === undefined) return false
      q.putReceipt.run(id, device, envelope, Date.now())
      return true
    },
    async getReceipts (id, limit) {
      return q.receipts.all(id, limit).map(r => new Uint8Array(r.env))
    },
    async attestSnapshot (id, hash, device) {
      return db.transaction((): boolean => {
        const r = q.snapIdByHash.get(id, hash)
        if (r === undefined) return false
        q.attest.run(r.id, device, Date.now())
        return true
      }).immediate()
    },
    async putSnapshotPart (id, hash, envelope, maxPendingBytes): Promise<PutPartResult> {
      return db.transaction((): PutPartResult => {
        if (q.getSpace.get(id) === undefined) return { ok: false, code: 'store/no-space', message: 'unknown space' }
        if (q.partId.get(id, hash) !== undefined) return { ok: true, duplicate: true }
        if (maxPendingBytes !== undefined && q.pendingBytes.get(id)!.n + envelope.length > maxPendingBytes) {
          return { ok: false, code: 'store/quota', message: `pending snapshot parts would pass ${maxPendingBytes} bytes` }
        }
        q.putPart.run(id, hash, envelope, envelope.length, Date.now())
        return { ok: true, duplicate: false }
      }).immediate()
    },
    async getSnapshotPart (id, hash) {
      const r = q.partEnv.get(id, hash)
      return r === undefined ? undefined : u8(r.env)
    },
    async dropPendingParts (id, before) {
      return q.dropPending.run(id, before).changes
    },
    async prune (id, upTo, keepSnapshots, spacingMs = 0) {
      const n = db.transaction(() => {
        const freed = q.prunedBytes.get(id, upTo)!.n
        if (freed > 0) {
          logBytes(id)
          q.addLogBytes.run(id, -freed)
        }
        const n = q.prune.run(id, upTo).changes
        q.setPruned.run(id, upTo)
        if (keepSnapshots !== undefined) {
          const ages = q.snapAges.all(id).map(r => ({ id: r.id, storedAt: r.storedAt, attested: r.attested === 1 }))
          const drop = snapshotsToDrop(ages, keepSnapshots, spacingMs)
          for (const sid of drop) {
            q.dropAttestations.run(sid)
            q.dropLinks.run(sid)
            q.dropSnap.run(sid)
          }
          if (drop.length > 0) q.dropUnlinked.run(id)
        }
        return n
      }).immediate()
      // The freed pages leave the file (and the WAL is cut back): disk use follows what is kept.
      if (n > 0) {
        db.pragma('incremental_vacuum')
        db.pragma('wal_checkpoint(TRUNCATE)')
      }
      return n
    },
    async tailStart (id, upTo, keepBytes) {
      return q.tailStart.get(id, upTo, keepBytes)?.cursor ?? 0
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
