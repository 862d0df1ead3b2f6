import pg from 'pg'
import { judge, withQuota } from './chain.js'
import { migrate } from './pg-schema.js'
import { snapshotsToDrop } from './retention.js'
import type { AppendEntry, AppendResult, LogStore, PutPartResult, PutSnapshotResult, RotateResult, SnapshotPut, StoredEntry, StoredSnapshot } from './port.js'

/**
 * The scale-out backend (issue 12): k relay processes share one PostgreSQL; none is special.
 *
 * Ordering: an append takes `SELECT … FOR UPDATE` on its space's row before it draws a cursor
 * and holds it until commit, so within one space cursor order is commit order. A reader that read
 * "after N" can therefore never later meet an entry that commits with a cursor ≤ N (PROTOCOL.md,
 * "Several relays"). Snapshot compare-and-set, the part quota and pruning take the same lock,
 * which is also what makes "one prune at a time per space" true across relays.
 *
 * Group commit: appends queued while a batch commits go into the next batch, one transaction (one
 * WAL flush) for all of them, spaces locked in id order so two relays' batches never deadlock.
 * Durable before ack: `synchronous_commit = on` is set on every connection.
 *
 * A database error rejects the call (it is not an expected failure of the data): the relay turns
 * that into a retryable error for the client, and the pool reconnects by itself.
 */
export interface PostgresStoreOptions {
  readonly connectionString: string
  /** A schema to live in (created if missing); tests give each case a fresh one. Default `public`. */
  readonly schema?: string
  /** Connections in the pool. */
  readonly max?: number
  readonly log?: (line: string) => void
}

const int8 = (v: string): number => Number(v)
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => oid === 20 ? int8 : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser
}

/** Opens a pool on `opts.connectionString` whose connections use `schema`, and migrates it. */
export async function openPool (opts: PostgresStoreOptions): Promise<pg.Pool> {
  const schema = opts.schema ?? 'public'
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name ${schema}`)
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 8,
    types,
    options: `-c search_path=${schema} -c synchronous_commit=on`,
    connectionTimeoutMillis: 10_000
  })
  // An idle connection the server dropped (restart, outage) errors here: log it, never crash.
  pool.on('error', e => opts.log?.(`postgres pool: ${e.message}`))
  const c = await pool.connect()
  try {
    if (schema !== 'public') await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
    await migrate(c)
  } finally {
    c.release()
  }
  return pool
}

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength)
const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
const ZERO = new Uint8Array(32)

type SnapRow = { id: number; hash: Buffer; prev_hash: Buffer; covers: number; env: Buffer; attested: boolean; parts: Buffer[] | null }
const SNAP_COLS = `s.id, s.hash, s.prev_hash, s.covers, s.env,
  EXISTS (SELECT 1 FROM attestations a WHERE a.snapshot = s.id) AS attested,
  ARRAY(SELECT p.hash FROM snapshot_parts sp JOIN parts p ON p.id = sp.part WHERE sp.snapshot = s.id ORDER BY sp.idx) AS parts`
const snapshot = (r: SnapRow): StoredSnapshot => ({
  id: r.id, hash: u8(r.hash), prevHash: u8(r.prev_hash), covers: r.covers, envelope: u8(r.env), parts: (r.parts ?? []).map(u8), attested: r.attested
})

export async function createPostgresStore (opts: PostgresStoreOptions): Promise<LogStore> {
  const pool = await openPool(opts)
  let closed = false

  /** One transaction on one connection; a connection that failed is destroyed, not reused. */
  async function tx<T> (fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await pool.connect()
    let failed: Error | undefined
    // A connection dropped between two queries of ours emits 'error' on the client (the pool only
    // listens while it is idle): unheard, that would crash the relay. The next query fails instead.
    const onError = (e: Error): void => { failed = e }
    c.on('error', onError)
    try {
      await c.query('BEGIN')
      const r = await fn(c)
      await c.query('COMMIT')
      return r
    } catch (e) {
      failed = e instanceof Error ? e : new Error(String(e))
      await c.query('ROLLBACK').catch(() => {})
      throw e
    } finally {
      c.off('error', onError)
      c.release(failed)
    }
  }

  /** Locks the rows of `ids` (sorted, so concurrent batches lock in one order) and returns the known ones. */
  async function lockSpaces (c: pg.PoolClient, ids: Buffer[]): Promise<Set<string>> {
    const r = await c.query<{ id: Buffer }>('SELECT id FROM spaces WHERE id = ANY($1::bytea[]) ORDER BY id FOR UPDATE', [ids])
    return new Set(r.rows.map(x => x.id.toString('hex')))
  }

  async function appendOne (c: pg.PoolClient, space: Buffer, e: AppendEntry, maxLogBytes: number | undefined): Promise<AppendResult> {
    const sp = (await c.query<{ top: number; log_bytes: number }>('SELECT top, log_bytes FROM spaces WHERE id = $1', [space])).rows[0]
    if (sp === undefined) return { ok: false, code: 'store/no-space', message: 'unknown space' }
    const author = buf(e.author)
    const stream = buf(e.stream)
    const headRow = (await c.query<{ seq: number; hash: Buffer }>('SELECT seq, hash FROM heads WHERE space = $1 AND author = $2 AND stream = $3', [space, author, stream])).rows[0]
    const head = headRow === undefined ? undefined : { seq: headRow.seq, hash: u8(headRow.hash) }
    const existing = head !== undefined && e.seq <= head.seq
      ? (await c.query<{ cursor: number; hash: Buffer }>('SELECT cursor, hash FROM log WHERE space = $1 AND author = $2 AND stream = $3 AND seq = $4', [space, author, stream, e.seq])).rows[0]
      : undefined
    const v = withQuota(judge(head, e, existing === undefined ? undefined : u8(existing.hash)), sp.log_bytes, e, maxLogBytes)
    if (v.kind === 'reject') return { ok: false, code: v.code, message: v.message }
    if (v.kind === 'existing') return { ok: true, cursor: existing!.cursor, duplicate: true }
    const cursor = (await c.query<{ cursor: number }>(
      `INSERT INTO log (space, cursor, author, stream, seq, hash, env) VALUES ($1, nextval('log_cursor'), $2, $3, $4, $5, $6) RETURNING cursor`,
      [space, author, stream, e.seq, buf(e.hash), buf(e.envelope)])).rows[0]!.cursor
    await c.query(`INSERT INTO heads (space, author, stream, seq, hash) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (space, author, stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, [space, author, stream, e.seq, buf(e.hash)])
    await c.query('UPDATE spaces SET top = $2, log_bytes = log_bytes + $3 WHERE id = $1', [space, cursor, e.envelope.length])
    return { ok: true, cursor, duplicate: false, prev: sp.top }
  }

  interface Pending { space: Buffer; e: AppendEntry; max: number | undefined; resolve: (r: AppendResult) => void; reject: (e: unknown) => void }
  let queue: Pending[] = []
  let running: Promise<void> | undefined

  async function commitBatch (batch: Pending[]): Promise<void> {
    let results: AppendResult[]
    try {
      results = await tx(async c => {
        const ids = [...new Map(batch.map(p => [p.space.toString('hex'), p.space])).values()]
        await lockSpaces(c, ids)
        const out: AppendResult[] = []
        for (const p of batch) out.push(await appendOne(c, p.space, p.e, p.max))
        return out
      })
    } catch (err) {
      for (const p of batch) p.reject(err)
      return
    }
    batch.forEach((p, i) => p.resolve(results[i]!))
  }

  /** Runs batches one after the other while appends keep arriving. */
  function kick (): void {
    if (running !== undefined) return
    running = (async () => {
      try {
        while (queue.length > 0) {
          const batch = queue
          queue = []
          await commitBatch(batch)
        }
      } finally {
        // In the same microtask as the last empty-queue check: an append queued after it kicks anew.
        running = undefined
      }
    })()
  }

  const q = async <R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<R[]> => (await pool.query<R>(sql, params)).rows

  return {
    async createSpace (id, rec) {
      const r = await pool.query('INSERT INTO spaces (id, access_pk, write_pk, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING',
        [buf(id), buf(rec.accessPk), buf(rec.writePk), Date.now()])
      return r.rowCount === 1
    },
    async getSpace (id) {
      const r = (await q<{ access_pk: Buffer; write_pk: Buffer; epoch: number }>('SELECT access_pk, write_pk, epoch FROM spaces WHERE id = $1', [buf(id)]))[0]
      return r === undefined ? undefined : { accessPk: u8(r.access_pk), writePk: u8(r.write_pk), epoch: r.epoch }
    },
    async rotateSpace (id, fromEpoch, next): Promise<RotateResult> {
      return tx(async c => {
        // The space's row lock: of two relays rotating from one epoch, the second sees the first's.
        const cur = (await c.query<{ access_pk: Buffer; write_pk: Buffer; epoch: number }>('SELECT access_pk, write_pk, epoch FROM spaces WHERE id = $1 FOR UPDATE', [buf(id)])).rows[0]
        if (cur === undefined) return 'no-space'
        if (cur.epoch !== fromEpoch || next.epoch !== fromEpoch + 1) return 'conflict'
        if (fromEpoch === 0) await c.query('INSERT INTO epochs (space, epoch, access_pk, write_pk) VALUES ($1, 0, $2, $3)', [buf(id), cur.access_pk, cur.write_pk])
        await c.query('INSERT INTO epochs (space, epoch, access_pk, write_pk, key_change) VALUES ($1, $2, $3, $4, $5)', [buf(id), next.epoch, buf(next.accessPk), buf(next.writePk), buf(next.keyChange)])
        await c.query('UPDATE spaces SET access_pk = $2, write_pk = $3, epoch = $4 WHERE id = $1', [buf(id), buf(next.accessPk), buf(next.writePk), next.epoch])
        return 'ok'
      })
    },
    async getEpochs (id) {
      const rows = await q<{ epoch: number; access_pk: Buffer; write_pk: Buffer; key_change: Buffer | null }>('SELECT epoch, access_pk, write_pk, key_change FROM epochs WHERE space = $1 ORDER BY epoch', [buf(id)])
      if (rows.length > 0) return rows.map(r => ({ epoch: r.epoch, accessPk: u8(r.access_pk), writePk: u8(r.write_pk), ...r.key_change === null ? {} : { keyChange: u8(r.key_change) } }))
      const cur = (await q<{ access_pk: Buffer; write_pk: Buffer }>('SELECT access_pk, write_pk FROM spaces WHERE id = $1', [buf(id)]))[0]
      return cur === undefined ? [] : [{ epoch: 0, accessPk: u8(cur.access_pk), writePk: u8(cur.write_pk) }]
    },
    append (id, e, maxLogBytes) {
      if (closed) return Promise.reject(new Error('store is closed'))
      return new Promise<AppendResult>((resolve, reject) => {
        // Copied now: the caller may reuse its buffers before the batch runs.
        queue.push({ space: Buffer.from(id), e: { ...e, envelope: e.envelope.slice() }, max: maxLogBytes, resolve, reject })
        kick()
      })
    },
    async logBytes (id) {
      return (await q<{ log_bytes: number }>('SELECT log_bytes FROM spaces WHERE id = $1', [buf(id)]))[0]?.log_bytes ?? 0
    },
    async readAfter (id, after, limit) {
      const rows = await q<{ cursor: number; env: Buffer }>('SELECT cursor, env FROM log WHERE space = $1 AND cursor > $2::float8 ORDER BY cursor LIMIT $3', [buf(id), after, limit])
      return rows.map((r): StoredEntry => ({ cursor: r.cursor, envelope: u8(r.env) }))
    },
    async readStream (id, author, stream, fromSeq, limit) {
      const rows = await q<{ cursor: number; env: Buffer }>('SELECT cursor, env FROM log WHERE space = $1 AND author = $2 AND stream = $3 AND seq >= $4 ORDER BY seq LIMIT $5',
        [buf(id), buf(author), buf(stream), fromSeq, limit])
      return rows.map((r): StoredEntry => ({ cursor: r.cursor, envelope: u8(r.env) }))
    },
    async head (id) {
      return (await q<{ top: number }>('SELECT top FROM spaces WHERE id = $1', [buf(id)]))[0]?.top ?? 0
    },
    async putSnapshot (id, s: SnapshotPut): Promise<PutSnapshotResult> {
      const space = buf(id)
      return tx(async (c): Promise<PutSnapshotResult> => {
        if ((await lockSpaces(c, [space])).size === 0) return { ok: false, code: 'store/no-space', message: 'unknown space' }
        const newest = (await c.query<{ hash: Buffer }>('SELECT hash FROM snapshots WHERE space = $1 ORDER BY id DESC LIMIT 1', [space])).rows[0]
        const expected = newest === undefined ? ZERO : u8(newest.hash)
        if (Buffer.compare(buf(expected), buf(s.prevHash)) !== 0) return { ok: false, code: 'store/snapshot-conflict', message: 'prevHash is not the newest snapshot' }
        const partIds: number[] = []
        for (const [i, h] of (s.parts ?? []).entries()) {
          const row = (await c.query<{ id: number }>('SELECT id FROM parts WHERE space = $1 AND hash = $2', [space, buf(h)])).rows[0]
          if (row === undefined) return { ok: false, code: 'store/missing-part', message: `part ${i} was not uploaded` }
          partIds.push(row.id)
        }
        const sid = (await c.query<{ id: number }>('INSERT INTO snapshots (space, hash, prev_hash, covers, env, stored_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
          [space, buf(s.hash), buf(s.prevHash), s.covers, buf(s.envelope), Date.now()])).rows[0]!.id
        for (const [i, part] of partIds.entries()) {
          await c.query('INSERT INTO snapshot_parts (snapshot, idx, part) VALUES ($1, $2, $3)', [sid, i, part])
          await c.query('UPDATE parts SET linked = true WHERE id = $1', [part])
        }
        return { ok: true, id: sid }
      })
    },
    async getSnapshots (id, limit) {
      return (await q<SnapRow>(`SELECT ${SNAP_COLS} FROM snapshots s WHERE s.space = $1 ORDER BY s.id DESC LIMIT $2`, [buf(id), limit])).map(snapshot)
    },
    async getSnapshot (id, hash) {
      const r = (await q<SnapRow>(`SELECT ${SNAP_COLS} FROM snapshots s WHERE s.space = $1 AND s.hash = $2 ORDER BY s.id DESC LIMIT 1`, [buf(id), buf(hash)]))[0]
      return r === undefined ? undefined : snapshot(r)
    },
    async getAttestedSnapshot (id) {
      const r = (await q<SnapRow>(`SELECT ${SNAP_COLS} FROM snapshots s WHERE s.space = $1 AND EXISTS (SELECT 1 FROM attestations a WHERE a.snapshot = s.id) ORDER BY s.id DESC LIMIT 1`, [buf(id)]))[0]
      return r === undefined ? undefined : snapshot(r)
    },
    async attestSnapshot (id, hash, device) {
      const r = (await q<{ id: number }>('SELECT id FROM snapshots WHERE space = $1 AND hash = $2 ORDER BY id DESC LIMIT 1', [buf(id), buf(hash)]))[0]
      if (r === undefined) return false
      await pool.query('INSERT INTO attestations (snapshot, device, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [r.id, buf(device), Date.now()])
      return true
    },
    async putSnapshotPart (id, hash, envelope, maxPendingBytes): Promise<PutPartResult> {
      const space = buf(id)
      return tx(async (c): Promise<PutPartResult> => {
        if ((await lockSpaces(c, [space])).size === 0) return { ok: false, code: 'store/no-space', message: 'unknown space' }
        if ((await c.query('SELECT 1 FROM parts WHERE space = $1 AND hash = $2', [space, buf(hash)])).rowCount !== 0) return { ok: true, duplicate: true }
        if (maxPendingBytes !== undefined) {
          const pending = (await c.query<{ n: number }>('SELECT coalesce(sum(size), 0)::bigint AS n FROM parts WHERE space = $1 AND NOT linked', [space])).rows[0]!.n
          if (pending + envelope.length > maxPendingBytes) return { ok: false, code: 'store/quota', message: `pending snapshot parts would pass ${maxPendingBytes} bytes` }
        }
        await c.query('INSERT INTO parts (space, hash, env, size, stored_at) VALUES ($1, $2, $3, $4, $5)', [space, buf(hash), buf(envelope), envelope.length, Date.now()])
        return { ok: true, duplicate: false }
      })
    },
    async getSnapshotPart (id, hash) {
      const r = (await q<{ env: Buffer }>('SELECT env FROM parts WHERE space = $1 AND hash = $2', [buf(id), buf(hash)]))[0]
      return r === undefined ? undefined : u8(r.env)
    },
    async dropPendingParts (id, before) {
      return (await pool.query('DELETE FROM parts WHERE space = $1 AND NOT linked AND stored_at < $2', [buf(id), before])).rowCount ?? 0
    },
    async prune (id, upTo, keepSnapshots, spacingMs = 0) {
      const space = buf(id)
      return tx(async c => {
        // The space's row lock: one prune at a time per space, across relays, and none during an append.
        if ((await lockSpaces(c, [space])).size === 0) return 0
        const del = await c.query<{ n: number; bytes: number }>(
          'WITH d AS (DELETE FROM log WHERE space = $1 AND cursor <= $2 RETURNING length(env) AS len) SELECT count(*)::bigint AS n, coalesce(sum(len), 0)::bigint AS bytes FROM d', [space, upTo])
        const { n, bytes } = del.rows[0]!
        await c.query('UPDATE spaces SET pruned = greatest(pruned, $2), log_bytes = log_bytes - $3 WHERE id = $1', [space, upTo, bytes])
        if (keepSnapshots !== undefined) {
          const ages = (await c.query<{ id: number; storedAt: number; attested: boolean }>(
            'SELECT s.id, s.stored_at AS "storedAt", EXISTS (SELECT 1 FROM attestations a WHERE a.snapshot = s.id) AS attested FROM snapshots s WHERE s.space = $1 ORDER BY s.id DESC', [space])).rows
          const drop = snapshotsToDrop(ages, keepSnapshots, spacingMs)
          if (drop.length > 0) {
            await c.query('DELETE FROM attestations WHERE snapshot = ANY($1::bigint[])', [drop])
            await c.query('DELETE FROM snapshot_parts WHERE snapshot = ANY($1::bigint[])', [drop])
            await c.query('DELETE FROM snapshots WHERE id = ANY($1::bigint[])', [drop])
            await c.query('DELETE FROM parts WHERE space = $1 AND linked AND NOT EXISTS (SELECT 1 FROM snapshot_parts sp WHERE sp.part = parts.id)', [space])
          }
        }
        return n
      })
    },
    async tailStart (id, upTo, keepBytes) {
      const r = await q<{ cursor: string }>('SELECT cursor FROM (SELECT cursor, sum(length(env)) OVER (ORDER BY cursor DESC) AS acc FROM log WHERE space = $1 AND cursor <= $2) t WHERE acc > $3 ORDER BY cursor DESC LIMIT 1', [buf(id), upTo, keepBytes])
      return r[0] === undefined ? 0 : Number(r[0].cursor)
    },
    async prunedUpTo (id) {
      return (await q<{ pruned: number }>('SELECT pruned FROM spaces WHERE id = $1', [buf(id)]))[0]?.pruned ?? 0
    },
    async putReceipt (id, device, envelope) {
      const r = await pool.query(`INSERT INTO receipts (space, device, env) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM spaces WHERE id = $1)
        ON CONFLICT (space, device) DO UPDATE SET env = excluded.env, ord = nextval('receipt_order')`, [buf(id), buf(device), buf(envelope)])
      return r.rowCount === 1
    },
    async getReceipts (id, limit) {
      return (await q<{ env: Buffer }>('SELECT env FROM receipts WHERE space = $1 ORDER BY ord DESC LIMIT $2', [buf(id), limit])).map(r => u8(r.env))
    },
    async close () {
      if (closed) return
      closed = true
      // Appends already queued are committed and answered first (the contract: close settles them).
      while (running !== undefined) await running
      await pool.end()
    }
  }
}
