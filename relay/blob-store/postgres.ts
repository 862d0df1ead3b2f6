import { Readable, Writable } from 'node:stream'
import type pg from 'pg'
import type { BlobStore, BlobUpload } from './port.js'

/**
 * Blobs in PostgreSQL as rows of 256 KiB (issue 12), so k relays on one database serve every file
 * with no shared disk. An upload writes its rows under its own upload id (each insert committed,
 * nothing visible yet); `commit` then claims (space, blob) in one insert, which of two racing
 * uploads only the first wins. Reads page through the rows, never holding a blob whole.
 *
 * Uses the log store's pool (relay/storage/postgres.ts `openPool`; schema migration 2). Rows of an
 * upload cut by a relay's death stay until a sweep removes uploads never committed (not written yet).
 */
const ROW_BYTES = 256 * 1024
const ROWS_PER_READ = 8

export function createPgBlobStore (pool: pg.Pool): BlobStore {
  return {
    async size (space, blob) {
      const r = await pool.query<{ size: string }>('SELECT size FROM blobs WHERE space = $1 AND blob = $2', [space, blob])
      return r.rows[0] === undefined ? undefined : Number(r.rows[0].size)
    },
    read (space, blob) {
      return Readable.from((async function * () {
        for (let idx = 0; ;) {
          const r = await pool.query<{ idx: number; data: Buffer }>(
            'SELECT c.idx, c.data FROM blob_chunks c JOIN blobs b ON b.upload = c.upload WHERE b.space = $1 AND b.blob = $2 AND c.idx >= $3 ORDER BY c.idx LIMIT $4',
            [space, blob, idx, ROWS_PER_READ])
          if (r.rows.length === 0) return
          for (const row of r.rows) yield row.data
          idx = r.rows[r.rows.length - 1]!.idx + 1
        }
      })())
    },
    async begin (space, blob): Promise<BlobUpload> {
      const id = (await pool.query<{ id: string }>('INSERT INTO blob_uploads (space, blob, started_at) VALUES ($1, $2, $3) RETURNING id', [space, blob, Date.now()])).rows[0]!.id
      let held: Buffer[] = []
      let heldBytes = 0
      let idx = 0
      let size = 0
      const flush = async (all: boolean): Promise<void> => {
        while (heldBytes >= ROW_BYTES || (all && heldBytes > 0)) {
          const bytes = Buffer.concat(held)
          const row = bytes.subarray(0, ROW_BYTES)
          const rest = bytes.subarray(row.length)
          held = rest.length > 0 ? [rest] : []
          heldBytes = rest.length
          await pool.query('INSERT INTO blob_chunks (upload, idx, data) VALUES ($1, $2, $3)', [id, idx++, row])
        }
      }
      const drop = async (): Promise<void> => {
        await pool.query('DELETE FROM blob_chunks WHERE upload = $1', [id])
        await pool.query('DELETE FROM blob_uploads WHERE id = $1', [id])
      }
      const sink = new Writable({
        write (chunk: Buffer, _enc, cb) {
          held.push(chunk)
          heldBytes += chunk.length
          size += chunk.length
          if (heldBytes < ROW_BYTES) return cb()
          flush(false).then(() => cb(), cb)
        },
        final (cb) { flush(true).then(() => cb(), cb) }
      })
      return {
        sink,
        async commit () {
          const r = await pool.query('INSERT INTO blobs (space, blob, upload, size) VALUES ($1, $2, $3, $4) ON CONFLICT (space, blob) DO NOTHING', [space, blob, id, size])
          if (r.rowCount === 1) return 'stored'
          await drop()
          return 'exists'
        },
        async abort () {
          sink.destroy()
          await drop().catch(() => {})
        }
      }
    },
    async usage (space) {
      const r = await pool.query<{ n: string; bytes: string }>('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM blobs WHERE space = $1', [space])
      return { count: Number(r.rows[0]!.n), bytes: Number(r.rows[0]!.bytes) }
    }
  }
}
