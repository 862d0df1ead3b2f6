import { equalBytes, toHex } from '../../shared/bytes.js'
import { judge } from './chain.js'
import type { AppendEntry, AppendResult, LogStore, PutSnapshotResult, SnapshotPut, SpaceRecord, StoredEntry, StoredSnapshot, StreamHead } from './port.js'

interface Row extends StoredEntry { readonly hash: Uint8Array; readonly streamKey: string; readonly seq: number }
interface MemSpace {
  readonly rec: SpaceRecord
  log: Row[]
  /** Highest cursor ever given in this space: survives pruning, so cursors never go backwards. */
  top: number
  pruned: number
  readonly heads: Map<string, StreamHead>
  readonly bySeq: Map<string, Row>
  readonly snapshots: StoredSnapshot[]
}

/** In-memory backend for fast unit tests; same contract as SQLite, no durability. */
export function createMemoryStore (): LogStore {
  const spaces = new Map<string, MemSpace>()
  let nextCursor = 1
  let nextSnap = 1
  const get = (id: Uint8Array): MemSpace | undefined => spaces.get(toHex(id))
  const streamKey = (e: { author: Uint8Array; stream: Uint8Array }): string => toHex(e.author) + '/' + toHex(e.stream)
  const copy = (b: Uint8Array): Uint8Array => b.slice()

  return {
    async createSpace (id, rec) {
      const k = toHex(id)
      if (spaces.has(k)) return false
      spaces.set(k, { rec: { accessPk: copy(rec.accessPk), writePk: copy(rec.writePk) }, log: [], top: 0, pruned: 0, heads: new Map(), bySeq: new Map(), snapshots: [] })
      return true
    },
    async getSpace (id) {
      const rec = get(id)?.rec
      return rec === undefined ? undefined : { accessPk: copy(rec.accessPk), writePk: copy(rec.writePk) }
    },
    async append (id, e: AppendEntry): Promise<AppendResult> {
      const s = get(id)
      if (s === undefined) return { ok: false, code: 'store/no-space', message: 'unknown space' }
      const sk = streamKey(e)
      const existing = s.bySeq.get(`${sk}:${e.seq}`)
      const v = judge(s.heads.get(sk), e, existing?.hash)
      if (v.kind === 'reject') return { ok: false, code: v.code, message: v.message }
      if (v.kind === 'existing') return { ok: true, cursor: existing!.cursor, duplicate: true }
      const row: Row = { cursor: nextCursor++, envelope: copy(e.envelope), hash: copy(e.hash), streamKey: sk, seq: e.seq }
      s.log.push(row)
      s.top = row.cursor
      s.bySeq.set(`${sk}:${e.seq}`, row)
      s.heads.set(sk, { seq: e.seq, hash: row.hash })
      return { ok: true, cursor: row.cursor, duplicate: false }
    },
    async readAfter (id, after, limit) {
      const s = get(id)
      if (s === undefined) return []
      let lo = 0
      let hi = s.log.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (s.log[mid]!.cursor <= after) lo = mid + 1
        else hi = mid
      }
      return s.log.slice(lo, lo + limit).map(r => ({ cursor: r.cursor, envelope: copy(r.envelope) }))
    },
    async readStream (id, author, stream, fromSeq, limit) {
      const s = get(id)
      if (s === undefined) return []
      const sk = streamKey({ author, stream })
      const out: StoredEntry[] = []
      const head = s.heads.get(sk)
      if (head === undefined) return out
      for (let seq = fromSeq; seq <= head.seq && out.length < limit; seq++) {
        const r = s.bySeq.get(`${sk}:${seq}`)
        if (r !== undefined) out.push({ cursor: r.cursor, envelope: copy(r.envelope) })
      }
      return out
    },
    async head (id) {
      return get(id)?.top ?? 0
    },
    async putSnapshot (id, snap: SnapshotPut): Promise<PutSnapshotResult> {
      const s = get(id)
      if (s === undefined) return { ok: false, code: 'store/no-space', message: 'unknown space' }
      const newest = s.snapshots[s.snapshots.length - 1]
      const expected = newest?.hash ?? new Uint8Array(32)
      if (!equalBytes(expected, snap.prevHash)) return { ok: false, code: 'store/snapshot-conflict', message: 'prevHash is not the newest snapshot' }
      const stored: StoredSnapshot = { id: nextSnap++, hash: copy(snap.hash), prevHash: copy(snap.prevHash), covers: snap.covers, envelope: copy(snap.envelope) }
      s.snapshots.push(stored)
      return { ok: true, id: stored.id }
    },
    async getSnapshots (id, limit) {
      const s = get(id)
      return s === undefined ? [] : s.snapshots.slice(Math.max(0, s.snapshots.length - limit)).reverse().map(x => ({ id: x.id, hash: copy(x.hash), prevHash: copy(x.prevHash), covers: x.covers, envelope: copy(x.envelope) }))
    },
    async prune (id, upTo, keepSnapshots) {
      const s = get(id)
      if (s === undefined) return 0
      const keep = s.log.filter(r => r.cursor > upTo)
      const dropped = s.log.length - keep.length
      for (const r of s.log) if (r.cursor <= upTo) s.bySeq.delete(`${r.streamKey}:${r.seq}`)
      s.log = keep
      s.pruned = Math.max(s.pruned, upTo)
      if (keepSnapshots !== undefined && s.snapshots.length > keepSnapshots) s.snapshots.splice(0, s.snapshots.length - Math.max(1, keepSnapshots))
      return dropped
    },
    async prunedUpTo (id) {
      return get(id)?.pruned ?? 0
    },
    async close () {}
  }
}
