import Database from 'better-sqlite3'
import * as Y from 'yjs'
import { readBatch } from '../../client/core/apply.js'
import { readSnapshotBody } from '../../client/core/snapshot.js'
import { toHex } from '../../shared/bytes.js'
import { open } from '../../shared/envelope.js'
import { MsgType, parseEnvelope } from '../../shared/header.js'
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
  readonly failures: ReadonlyArray<{ readonly cursor: number; readonly code: string; readonly message: string; readonly author?: string }>
  /** With `asMember`: envelopes an honest replica refuses (they would not integrate, or write another device's clientID), and those held back behind them. */
  readonly refused: ReadonlyArray<{ readonly cursor: number; readonly code: string; readonly author: string }>
  /** Yjs still holds structs or deletions whose dependencies are not in the log. */
  readonly pending: boolean
}

export interface RebuildOptions {
  /** Start from the newest snapshot the relay keeps (default); false replays the log table alone. */
  readonly fromSnapshot?: boolean
  /**
   * Read the log as an honest replica does when a member may be hostile (issue 7): each batch all
   * or nothing (tried on a shadow doc first), a clientID written only by the device that wrote it first,
   * and a stream stopped at its first batch that does not integrate (its later envelopes are held
   * back). A stream goes on from the position the snapshot names for it (or from seq 0): a pruned
   * log no longer holds a refused envelope, so an envelope past a gap is held back too, as a
   * replica holds it while it asks for the gap. Plain replay applies whatever Yjs takes, which a
   * malformed update leaves half-done.
   */
  readonly asMember?: boolean
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
  const failures: { cursor: number; code: string; message: string; author?: string }[] = []
  const refused: { cursor: number; code: string; author: string }[] = []
  const bindings = new Map<number, string>()
  const stopped = new Set<string>()
  /** Per stream, the next seq an honest replica would take (from the snapshot's heads, else 0). */
  const next = new Map<string, number>()
  let member: MemberApply | undefined
  let updates = 0
  let snapshot: { seq: number; covers: number } | undefined

  const newest = snaps[0]
  if (newest !== undefined && opts.fromSnapshot !== false) {
    const opened = open(sodium, keys, u8(newest.env), { types: [MsgType.snapshot] })
    const ph = parseEnvelope(u8(newest.env))
    const by = ph.ok ? { author: toHex(ph.value.header.author) } : {}
    if (!opened.ok) failures.push({ cursor: newest.covers, code: opened.code, message: `snapshot ${newest.id}: ${opened.message}`, ...by })
    else {
      const body = readSnapshotBody(opened.value.plaintext)
      if (!body.ok) failures.push({ cursor: newest.covers, code: body.code, message: `snapshot ${newest.id}: ${body.message}`, ...by })
      else {
        try {
          Y.applyUpdateV2(doc, body.value.state, 'relay-snapshot')
          snapshot = { seq: opened.value.header.seq, covers: newest.covers }
          for (const [c, a] of body.value.bindings) if (!bindings.has(c)) bindings.set(c, toHex(a))
          for (const hd of body.value.heads) next.set(toHex(hd.author) + ':' + toHex(hd.stream), hd.seq + 1)
        } catch (e) {
          failures.push({ cursor: newest.covers, code: 'rebuild/apply-failed', message: `snapshot ${newest.id}: ${String(e)}` })
        }
      }
    }
  }

  if (opts.asMember === true) member = memberApply(doc, bindings)
  for (const r of rows) {
    const opened = open(sodium, keys, u8(r.env), { types: [MsgType.update] })
    if (!opened.ok) {
      const p = parseEnvelope(u8(r.env))
      failures.push({ cursor: r.cursor, code: opened.code, message: opened.message, ...(p.ok ? { author: toHex(p.value.header.author) } : {}) })
      // Its stream position is authentic even when its content is not readable (a member's own doing).
      if (p.ok) {
        const sk = toHex(p.value.header.author) + ':' + toHex(p.value.header.stream)
        streams.set(sk, [...(streams.get(sk) ?? []), p.value.header.seq])
        // A replica takes its position and skips its content (client/core/reader.ts `skip`).
        if (!stopped.has(sk)) next.set(sk, Math.max(next.get(sk) ?? 0, p.value.header.seq + 1))
      }
      continue
    }
    const h = opened.value.header
    const author = toHex(h.author)
    const sk = author + ':' + toHex(h.stream)
    let seqs = streams.get(sk)
    if (seqs === undefined) streams.set(sk, seqs = [])
    seqs.push(h.seq)
    const batch = readBatch(opened.value.plaintext)
    if (!batch.ok) {
      failures.push({ cursor: r.cursor, code: batch.code, message: batch.message, author })
      if (!stopped.has(sk)) next.set(sk, Math.max(next.get(sk) ?? 0, h.seq + 1))
      continue
    }
    if (member !== undefined) {
      if (stopped.has(sk)) { refused.push({ cursor: r.cursor, code: 'held-back', author }); continue }
      const expected = next.get(sk) ?? 0
      if (h.seq > expected) { refused.push({ cursor: r.cursor, code: 'gap', author }); stopped.add(sk); continue }
      next.set(sk, Math.max(expected, h.seq + 1))
      const code = member.apply(batch.value, author)
      if (code !== undefined) { refused.push({ cursor: r.cursor, code, author }); stopped.add(sk); continue }
      updates += batch.value.length
      continue
    }
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
  return { doc, envelopes: rows.length, updates, snapshot, snapshots: snaps.length, prunedUpTo, streams, failures, refused, pending }
}

interface MemberApply {
  /** Applies one batch as an honest replica does: the refusal's code, or undefined when applied. */
  apply (updates: readonly Uint8Array[], author: string): string | undefined
}

/**
 * All or nothing as client/core/shadow.ts does it: a shadow doc fed exactly what `doc` is fed, a
 * batch reaching `doc` only if it integrated there, the shadow rebuilt from `doc` after a refusal.
 * (A copy made from `doc`'s encoded state per batch is not the same: some malformed updates
 * integrate on one and throw on the other.) And a clientID written only by the device that wrote
 * it first (client/core/apply.ts checkBindings).
 */
function memberApply (doc: Y.Doc, bindings: Map<number, string>): MemberApply {
  const rebuild = (): Y.Doc => {
    const d = new Y.Doc({ guid: 'shadow', gc: doc.gc })
    Y.applyUpdateV2(d, Y.encodeStateAsUpdateV2(doc))
    return d
  }
  let shadow = rebuild()
  return {
    apply (updates, author) {
      const written = new Set<number>()
      try {
        for (const u of updates) {
          Y.decodeUpdate(u)
          for (const c of Y.parseUpdateMeta(u).from.keys()) written.add(c)
        }
      } catch {
        return 'apply/malformed-update'
      }
      for (const c of written) if ((bindings.get(c) ?? author) !== author) return 'apply/clientid-taken'
      try {
        Y.transact(shadow, () => { for (const u of updates) Y.applyUpdate(shadow, u) })
      } catch {
        shadow.destroy()
        shadow = rebuild()
        return 'apply/malformed-update'
      }
      try {
        Y.transact(doc, () => { for (const u of updates) Y.applyUpdate(doc, u, 'relay-log') })
      } catch {
        shadow.destroy()
        shadow = rebuild()
        return 'apply/failed'
      }
      for (const c of written) if (!bindings.has(c)) bindings.set(c, author)
      return undefined
    }
  }
}
