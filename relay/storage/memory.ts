import { equalBytes, toHex } from '../../shared/bytes.js'
import { judge, withQuota } from './chain.js'
import { snapshotsToDrop } from './retention.js'
import type { EpochRecord, AppendEntry, AppendResult, LogStore, PutPartResult, PutSnapshotResult, SnapshotPut, SpaceRecord, StoredEntry, StoredSnapshot, StreamHead } from './port.js'

interface Row extends StoredEntry { readonly hash: Uint8Array; readonly streamKey: string; readonly seq: number }
interface MemSnapshot {
  readonly id: number
  readonly hash: Uint8Array
  readonly prevHash: Uint8Array
  readonly covers: number
  readonly envelope: Uint8Array
  readonly parts: readonly Uint8Array[]
  /** The same, as hex keys of `MemSpace.parts`. */
  readonly partKeys: readonly string[]
  /** Hex device keys that attested it. */
  readonly attesters: Set<string>
  readonly storedAt: number
}
interface MemPart { readonly envelope: Uint8Array; readonly storedAt: number; linked: boolean }
interface MemSpace {
  rec: SpaceRecord
  /** Every epoch, oldest first (issue 11). */
  readonly epochs: EpochRecord[]
  log: Row[]
  /** Highest cursor ever given in this space: survives pruning, so cursors never go backwards. */
  top: number
  pruned: number
  /** Envelope bytes in `log`. */
  bytes: number
  readonly heads: Map<string, StreamHead>
  readonly bySeq: Map<string, Row>
  snapshots: MemSnapshot[]
  /** By hex hash. */
  readonly parts: Map<string, MemPart>
  /** Newest receipt per hex device key, in insertion (= time) order. */
  readonly receipts: Map<string, Uint8Array>
}

/** In-memory backend for fast unit tests; same contract as SQLite, no durability. */
export function createMemoryStore (): LogStore {
  const spaces = new Map<string, MemSpace>()
  let nextCursor = 1
  let nextSnap = 1
  const get = (id: Uint8Array): MemSpace | undefined => spaces.get(toHex(id))
  const streamKey = (e: { author: Uint8Array; stream: Uint8Array }): string => toHex(e.author) + '/' + toHex(e.stream)
  const copy = (b: Uint8Array): Uint8Array => b.slice()
  const out = (x: MemSnapshot): StoredSnapshot => ({
    id: x.id, hash: copy(x.hash), prevHash: copy(x.prevHash), covers: x.covers, envelope: copy(x.envelope),
    parts: x.parts.map(copy), attested: x.attesters.size > 0
  })
  const newestAttested = (s: MemSpace): MemSnapshot | undefined => {
    for (let i = s.snapshots.length - 1; i >= 0; i--) if (s.snapshots[i]!.attesters.size > 0) return s.snapshots[i]
    return undefined
  }

  return {
    async createSpace (id, rec) {
      const k = toHex(id)
      if (spaces.has(k)) return false
      spaces.set(k, { rec: { accessPk: copy(rec.accessPk), writePk: copy(rec.writePk), epoch: 0 }, epochs: [{ epoch: 0, accessPk: copy(rec.accessPk), writePk: copy(rec.writePk) }], log: [], top: 0, pruned: 0, bytes: 0, heads: new Map(), bySeq: new Map(), snapshots: [], parts: new Map(), receipts: new Map() })
      return true
    },
    async rotateSpace (id, fromEpoch, next) {
      const s = get(id)
      if (s === undefined) return 'no-space'
      if ((s.rec.epoch ?? 0) !== fromEpoch || next.epoch !== fromEpoch + 1) return 'conflict'
      s.rec = { accessPk: copy(next.accessPk), writePk: copy(next.writePk), epoch: next.epoch }
      s.epochs.push({ epoch: next.epoch, accessPk: copy(next.accessPk), writePk: copy(next.writePk), keyChange: copy(next.keyChange) })
      return 'ok'
    },
    async getEpochs (id) {
      return (get(id)?.epochs ?? []).map(e => ({ epoch: e.epoch, accessPk: copy(e.accessPk), writePk: copy(e.writePk), ...e.keyChange === undefined ? {} : { keyChange: copy(e.keyChange) } }))
    },
    async getSpace (id) {
      const rec = get(id)?.rec
      return rec === undefined ? undefined : { accessPk: copy(rec.accessPk), writePk: copy(rec.writePk), epoch: rec.epoch ?? 0 }
    },
    async append (id, e: AppendEntry, maxLogBytes): Promise<AppendResult> {
      const s = get(id)
      if (s === undefined) return { ok: false, code: 'store/no-space', message: 'unknown space' }
      const sk = streamKey(e)
      const existing = s.bySeq.get(`${sk}:${e.seq}`)
      const v = withQuota(judge(s.heads.get(sk), e, existing?.hash), s.bytes, e, maxLogBytes)
      if (v.kind === 'reject') return { ok: false, code: v.code, message: v.message }
      if (v.kind === 'existing') return { ok: true, cursor: existing!.cursor, duplicate: true }
      const prev = s.top
      const row: Row = { cursor: nextCursor++, envelope: copy(e.envelope), hash: copy(e.hash), streamKey: sk, seq: e.seq }
      s.log.push(row)
      s.bytes += row.envelope.length
      s.top = row.cursor
      s.bySeq.set(`${sk}:${e.seq}`, row)
      s.heads.set(sk, { seq: e.seq, hash: row.hash })
      return { ok: true, cursor: row.cursor, duplicate: false, prev }
    },
    async logBytes (id) {
      return get(id)?.bytes ?? 0
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
      const parts = (snap.parts ?? []).map(copy)
      const partKeys = parts.map(toHex)
      const missing = partKeys.findIndex(h => !s.parts.has(h))
      if (missing >= 0) return { ok: false, code: 'store/missing-part', message: `part ${missing} was not uploaded` }
      for (const h of partKeys) s.parts.get(h)!.linked = true
      const stored: MemSnapshot = { id: nextSnap++, hash: copy(snap.hash), prevHash: copy(snap.prevHash), covers: snap.covers, envelope: copy(snap.envelope), parts, partKeys, attesters: new Set(), storedAt: Date.now() }
      s.snapshots.push(stored)
      return { ok: true, id: stored.id }
    },
    async getSnapshots (id, limit) {
      const s = get(id)
      return s === undefined ? [] : s.snapshots.slice(Math.max(0, s.snapshots.length - limit)).reverse().map(out)
    },
    async getSnapshot (id, hash) {
      const x = get(id)?.snapshots.find(x => equalBytes(x.hash, hash))
      return x === undefined ? undefined : out(x)
    },
    async getAttestedSnapshot (id) {
      const s = get(id)
      const x = s === undefined ? undefined : newestAttested(s)
      return x === undefined ? undefined : out(x)
    },
    async putReceipt (id, device, envelope) {
      const s = get(id)
      if (s === undefined) return false
      const k = toHex(device)
      s.receipts.delete(k)
      s.receipts.set(k, copy(envelope))
      return true
    },
    async getReceipts (id, limit) {
      const s = get(id)
      if (s === undefined) return []
      return [...s.receipts.values()].reverse().slice(0, limit).map(copy)
    },
    async attestSnapshot (id, hash, device) {
      const x = get(id)?.snapshots.find(x => equalBytes(x.hash, hash))
      if (x === undefined) return false
      x.attesters.add(toHex(device))
      return true
    },
    async putSnapshotPart (id, hash, envelope, maxPendingBytes): Promise<PutPartResult> {
      const s = get(id)
      if (s === undefined) return { ok: false, code: 'store/no-space', message: 'unknown space' }
      const k = toHex(hash)
      if (s.parts.has(k)) return { ok: true, duplicate: true }
      if (maxPendingBytes !== undefined) {
        let pending = 0
        for (const p of s.parts.values()) if (!p.linked) pending += p.envelope.length
        if (pending + envelope.length > maxPendingBytes) return { ok: false, code: 'store/quota', message: `pending snapshot parts would pass ${maxPendingBytes} bytes` }
      }
      s.parts.set(k, { envelope: copy(envelope), storedAt: Date.now(), linked: false })
      return { ok: true, duplicate: false }
    },
    async getSnapshotPart (id, hash) {
      const p = get(id)?.parts.get(toHex(hash))
      return p === undefined ? undefined : copy(p.envelope)
    },
    async dropPendingParts (id, before) {
      const s = get(id)
      if (s === undefined) return 0
      let n = 0
      for (const [k, p] of s.parts) if (!p.linked && p.storedAt < before) { s.parts.delete(k); n++ }
      return n
    },
    async tailStart (id, upTo, keepBytes) {
      const s = get(id)
      if (s === undefined) return 0
      let acc = 0
      for (let i = s.log.length - 1; i >= 0; i--) {
        const r = s.log[i]!
        if (r.cursor > upTo) continue
        acc += r.envelope.length
        if (acc > keepBytes) return r.cursor
      }
      return 0
    },
    async prune (id, upTo, keepSnapshots, spacingMs = 0) {
      const s = get(id)
      if (s === undefined) return 0
      const keep = s.log.filter(r => r.cursor > upTo)
      const dropped = s.log.length - keep.length
      for (const r of s.log) {
        if (r.cursor > upTo) continue
        s.bySeq.delete(`${r.streamKey}:${r.seq}`)
        s.bytes -= r.envelope.length
      }
      s.log = keep
      s.pruned = Math.max(s.pruned, upTo)
      if (keepSnapshots !== undefined) {
        const newestFirst = [...s.snapshots].reverse().map(x => ({ id: x.id, storedAt: x.storedAt, attested: x.attesters.size > 0 }))
        const drop = new Set(snapshotsToDrop(newestFirst, keepSnapshots, spacingMs))
        s.snapshots = s.snapshots.filter(x => !drop.has(x.id))
        const live = new Set(s.snapshots.flatMap(x => x.partKeys))
        for (const [k, p] of s.parts) if (p.linked && !live.has(k)) s.parts.delete(k)
      }
      return dropped
    },
    async prunedUpTo (id) {
      return get(id)?.pruned ?? 0
    },
    async close () {}
  }
}
