import Database from 'better-sqlite3'
import * as Y from 'yjs'
import { readBatch } from '../../client/core/apply.js'
import { readSnapshotBody } from '../../client/core/snapshot.js'
import { toHex } from '../../shared/bytes.js'
import { open } from '../../shared/envelope.js'
import { MsgType } from '../../shared/header.js'
import { deriveKeys, type SpaceSecrets } from '../../shared/keys.js'
import type { Sodium } from '../../shared/sodium.js'

/**
 * "A replica rebuilt from the relay's log" (STYLE.md, randomized convergence tests): reads what the
 * relay durably holds for one space straight from its SQLite file (read-only, so it can run next
 * to a live relay): the newest snapshot if there is one (a pruned log starts there, DESIGN.md §5),
 * then every envelope of the `log` table in cursor order, each opened with the space keys and
 * every Yjs update of its batch applied to a fresh doc. What the relay holds must equal what the
 * clients converged to; anything it lost or invented shows up as a difference.
 *
 * Failures are returned, not thrown, so tests of a dishonest relay can use it too; an honest
 * relay's log has none.
 */
export interface RebuiltSpace {
  readonly doc: Y.Doc
  /** Log envelopes of this space. */
  readonly envelopes: number
  /** Yjs updates applied from them. */
  readonly updates: number
  /** The snapshot the rebuild started from: its chain position and the cursor it covers. */
  readonly snapshot: { readonly seq: number; readonly covers: number } | undefined
  /** Snapshots the relay keeps for this space. */
  readonly snapshots: number
  /** The highest cursor the relay pruned (0: the log is whole, and replaying it alone must suffice). */
  readonly prunedUpTo: number
  /** Per stream (`authorHex:streamHex`), the seqs in cursor order: for an honest relay consecutive. */
  readonly streams: ReadonlyMap<string, readonly number[]>
  readonly failures: ReadonlyArray<{ readonly cursor: number; readonly code: string; readonly message: string }>
  /** Yjs still holds structs or deletions whose dependencies are not in the log. */
  readonly pending: boolean
}

export interface RebuildOptions {
  /** Start from the newest snapshot the relay keeps (default); false replays the log table alone. */
  readonly fromSnapshot?: boolean
}

export function rebuildFromRelayLog (sodium: Sodium, sqliteFile: string, secrets: SpaceSecrets, opts: RebuildOptions = {}): RebuiltSpace {
  const keys = deriveKeys(sodium, secrets)
  const space = Buffer.from(secrets.spaceId)
  const db = new Database(sqliteFile, { readonly: true, fileMustExist: true })
  let rows: { cursor: number; env: Buffer }[]
  let snaps: { id: number; covers: number; env: Buffer }[] = []
  let prunedUpTo = 0
  try {
    rows = db.prepare<[Buffer], { cursor: number; env: Buffer }>('SELECT cursor, env FROM log WHERE space = ? ORDER BY cursor').all(space)
    const hasSnapshots = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'").get() !== undefined
    if (hasSnapshots) snaps = db.prepare<[Buffer], { id: number; covers: number; env: Buffer }>('SELECT id, covers, env FROM snapshots WHERE space = ? ORDER BY id DESC').all(space)
    const hasPruned = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pruned'").get() !== undefined
    if (hasPruned) prunedUpTo = db.prepare<[Buffer], { up_to: number }>('SELECT up_to FROM pruned WHERE space = ?').get(space)?.up_to ?? 0
  } finally {
    db.close()
  }
  const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
  const doc = new Y.Doc()
  const streams = new Map<string, number[]>()
  const failures: { cursor: number; code: string; message: string }[] = []
  let updates = 0
  let snapshot: { seq: number; covers: number } | undefined

  const newest = snaps[0]
  if (newest !== undefined && opts.fromSnapshot !== false) {
    const opened = open(sodium, keys, u8(newest.env), { types: [MsgType.snapshot] })
    if (!opened.ok) failures.push({ cursor: newest.covers, code: opened.code, message: `snapshot ${newest.id}: ${opened.message}` })
    else {
      const body = readSnapshotBody(opened.value.plaintext)
      if (!body.ok) failures.push({ cursor: newest.covers, code: body.code, message: `snapshot ${newest.id}: ${body.message}` })
      else {
        try {
          Y.applyUpdateV2(doc, body.value.state, 'relay-snapshot')
          snapshot = { seq: opened.value.header.seq, covers: newest.covers }
        } catch (e) {
          failures.push({ cursor: newest.covers, code: 'rebuild/apply-failed', message: `snapshot ${newest.id}: ${String(e)}` })
        }
      }
    }
  }

  for (const r of rows) {
    const opened = open(sodium, keys, u8(r.env), { types: [MsgType.update] })
    if (!opened.ok) { failures.push({ cursor: r.cursor, code: opened.code, message: opened.message }); continue }
    const h = opened.value.header
    const sk = toHex(h.author) + ':' + toHex(h.stream)
    let seqs = streams.get(sk)
    if (seqs === undefined) streams.set(sk, seqs = [])
    seqs.push(h.seq)
    const batch = readBatch(opened.value.plaintext)
    if (!batch.ok) { failures.push({ cursor: r.cursor, code: batch.code, message: batch.message }); continue }
    for (const u of batch.value) {
      try {
        Y.applyUpdate(doc, u, 'relay-log')
        updates++
      } catch (e) {
        failures.push({ cursor: r.cursor, code: 'rebuild/apply-failed', message: String(e) })
      }
    }
  }
  const pending = doc.store.pendingStructs !== null || doc.store.pendingDs !== null
  return { doc, envelopes: rows.length, updates, snapshot, snapshots: snaps.length, prunedUpTo, streams, failures, pending }
}
