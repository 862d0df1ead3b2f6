import * as Y from 'yjs'
import { fromHex, Reader, toHex } from '../../shared/bytes.js'
import { DecodeError, err, ok, type Result } from '../../shared/errors.js'
import { HASH_BYTES, PK_BYTES, STREAM_BYTES } from '../../shared/header.js'
import * as encoding from 'lib0/encoding'
import * as map from 'lib0/map'
import { encodeState, stateVectorOfV2 } from './state.js'

/**
 * Snapshots (DESIGN.md §5): a writer seals the whole document so joiners need not replay the log.
 * A snapshot names exactly which stream heads it covers and chains to the previous snapshot: its
 * envelope header has `stream` = 8 zero bytes, `seq` = its index in the space's snapshot chain,
 * `prevHash` = hash of the previous snapshot envelope (zeros for the first).
 *
 *   body  := varUint(2) • varUint(createdAtMs) • varUint(coversCursor)
 *            • varUint(nAuthors) • nAuthors × (author(32) • varUint(n) • n × (stream(8) • varUint(seq) • u8(hasHash) • [hash(32)]))
 *            • varUint(nDevices) • nDevices × (author(32) • varUint(n) • n × varUint(clientID))
 *            • varUint(nParts) • nParts × hash(32)
 *            • varBytes(state)            (empty when nParts > 0)
 *
 * `state` is `Y.encodeStateAsUpdateV2(doc)`. A state too large for one envelope is cut into parts:
 * each part is its own envelope (type snapshotPart, same author) uploaded before the head, and the
 * head names the parts by envelope hash, in order; the state is their plaintexts joined.
 * A head without a hash is a folded one: a stream idle since the snapshot before (typically a
 * session that ended: every session opens a stream), kept as its position only, so closed streams
 * cost ~11 bytes each, not 75. Bindings are grouped by device (a device that opens a new session per process adds a clientID
 * of ~5 bytes, not another 36-byte pair). Version 1 bodies (flat bindings, no parts) are still read.
 */
export const SNAPSHOT_STREAM = new Uint8Array(STREAM_BYTES)
const MAX_HEADS = 1_000_000
const MAX_STATE_BYTES = 16 * 1024 * 1024

export interface StreamHeadRef { readonly author: Uint8Array; readonly stream: Uint8Array; readonly seq: number; readonly hash: Uint8Array }

export interface SnapshotBody {
  readonly createdAt: number
  readonly covers: number
  readonly heads: readonly StreamHeadRef[]
  readonly bindings: ReadonlyArray<readonly [number, Uint8Array]>
  /** Hashes of the part envelopes that carry the state, in order (empty: the state is inline). */
  readonly parts: readonly Uint8Array[]
  /** `Y.encodeStateAsUpdateV2`: about half the size of V1 for text-heavy documents, and includes pending structs. Empty when in parts. */
  readonly state: Uint8Array
}

export const MAX_PARTS = 1024

export function writeSnapshotBody (b: SnapshotBody): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 2)
  encoding.writeVarUint(e, b.createdAt)
  encoding.writeVarUint(e, b.covers)
  const headsBy = new Map<string, StreamHeadRef[]>()
  for (const h of b.heads) {
    map.setIfUndefined(headsBy, toHex(h.author), (): StreamHeadRef[] => []).push(h)
  }
  encoding.writeVarUint(e, headsBy.size)
  for (const g of headsBy.values()) {
    encoding.writeUint8Array(e, g[0]!.author)
    encoding.writeVarUint(e, g.length)
    for (const h of g) {
      encoding.writeUint8Array(e, h.stream); encoding.writeVarUint(e, h.seq)
      if (h.hash.length === HASH_BYTES) { encoding.writeUint8(e, 1); encoding.writeUint8Array(e, h.hash) } else encoding.writeUint8(e, 0)
    }
  }
  const byDevice = new Map<string, { author: Uint8Array; clients: number[] }>()
  for (const [c, a] of b.bindings) {
    const k = toHex(a)
    let g = byDevice.get(k)
    if (g === undefined) byDevice.set(k, g = { author: a, clients: [] })
    g.clients.push(c)
  }
  encoding.writeVarUint(e, byDevice.size)
  for (const g of byDevice.values()) {
    encoding.writeUint8Array(e, g.author)
    encoding.writeVarUint(e, g.clients.length)
    for (const c of g.clients) encoding.writeVarUint(e, c)
  }
  encoding.writeVarUint(e, b.parts.length)
  for (const p of b.parts) encoding.writeUint8Array(e, p)
  encoding.writeVarUint8Array(e, b.state)
  return encoding.toUint8Array(e)
}

export type SnapshotErrorCode =
  | 'snapshot/malformed'
  | 'snapshot/wrong-chain'
  | 'snapshot/regression'
  | 'snapshot/contradicts-heads'
  | 'snapshot/missing-content'
  | 'snapshot/binding-conflict'

export function readSnapshotBody (plain: Uint8Array): Result<SnapshotBody, SnapshotErrorCode> {
  try {
    const r = new Reader(plain)
    const version = r.varUint()
    if (version !== 1 && version !== 2) return err('snapshot/malformed', 'unknown snapshot body version')
    const createdAt = r.varUint()
    const covers = r.varUint()
    const heads: StreamHeadRef[] = []
    if (version === 1) {
      const nHeads = r.varUint(MAX_HEADS)
      for (let i = 0; i < nHeads; i++) {
        heads.push({ author: r.bytes(PK_BYTES).slice(), stream: r.bytes(STREAM_BYTES).slice(), seq: r.varUint(0xffffffff), hash: r.bytes(HASH_BYTES).slice() })
      }
    } else {
      const nAuthors = r.varUint(MAX_HEADS)
      for (let i = 0; i < nAuthors; i++) {
        const author = r.bytes(PK_BYTES).slice()
        const n = r.varUint(MAX_HEADS)
        for (let j = 0; j < n; j++) {
          const stream = r.bytes(STREAM_BYTES).slice()
          const seq = r.varUint(0xffffffff)
          const has = r.u8()
          if (has > 1) throw new DecodeError('snapshot/malformed', 'bad head flag')
          heads.push({ author, stream, seq, hash: has === 1 ? r.bytes(HASH_BYTES).slice() : new Uint8Array(0) })
        }
      }
    }
    const bindings: Array<readonly [number, Uint8Array]> = []
    const parts: Uint8Array[] = []
    if (version === 1) {
      const nBind = r.varUint(MAX_HEADS)
      for (let i = 0; i < nBind; i++) bindings.push([r.varUint(0xffffffff), r.bytes(PK_BYTES).slice()])
    } else {
      const nDev = r.varUint(MAX_HEADS)
      for (let i = 0; i < nDev; i++) {
        const author = r.bytes(PK_BYTES).slice()
        const n = r.varUint(MAX_HEADS)
        for (let j = 0; j < n; j++) bindings.push([r.varUint(0xffffffff), author])
      }
      const nParts = r.varUint(MAX_PARTS)
      for (let i = 0; i < nParts; i++) parts.push(r.bytes(HASH_BYTES).slice())
    }
    const state = r.varBytes(MAX_STATE_BYTES)
    r.end()
    if (parts.length > 0 && state.length > 0) return err('snapshot/malformed', 'a snapshot in parts carries no inline state')
    return ok({ createdAt, covers, heads, bindings, parts, state })
  } catch (e) {
    if (e instanceof DecodeError) return err('snapshot/malformed', e.message)
    throw e
  }
}

export const streamKey = (author: Uint8Array, stream: Uint8Array): string => toHex(author) + ':' + toHex(stream)

/** What a client keeps of the newest snapshot it accepted: enough to check the next one. */
export interface HeldSnapshot {
  readonly seq: number
  readonly hash: Uint8Array
  readonly heads: ReadonlyMap<string, number>
  /** The log cursor it covers (streams idle since are folded in the next one). */
  readonly covers?: number
}

export interface VerifyContext {
  readonly held: HeldSnapshot | undefined
  /** Stream heads this replica applied (others' streams), key `authorHex:streamHex`. */
  readonly heads: ReadonlyMap<string, { seq: number; hash: Uint8Array }>
  readonly bindings: ReadonlyMap<number, string>
  readonly doc: Y.Doc
  readonly selfHex: string
}

/**
 * The checks a client makes before applying a snapshot (DESIGN.md §5), beyond the envelope's own
 * signature and AEAD: it extends the chain it holds, covers no less than the snapshot before it,
 * agrees with every stream hash this replica holds, and contains every clientID's content that it
 * claims to cover (for each writer whose stream the snapshot covers at least as far as we applied,
 * the snapshot's state vector must reach ours).
 */
export function verifySnapshot (seq: number, prevHash: Uint8Array, body: SnapshotBody, ctx: VerifyContext): Result<void, SnapshotErrorCode> {
  const held = ctx.held
  if (held !== undefined) {
    if (seq <= held.seq) return err('snapshot/regression', `snapshot #${seq} is not newer than #${held.seq} already held`)
    if (seq === held.seq + 1 && toHex(prevHash) !== toHex(held.hash)) return err('snapshot/wrong-chain', `snapshot #${seq} does not link to #${held.seq}`)
  }
  const snapHeads = new Map<string, StreamHeadRef>()
  for (const h of body.heads) snapHeads.set(streamKey(h.author, h.stream), h)
  if (held !== undefined) {
    for (const [k, seqHeld] of held.heads) {
      const h = snapHeads.get(k)
      if (h === undefined || h.seq < seqHeld) return err('snapshot/regression', 'snapshot covers less of a stream than the snapshot before it')
    }
  }
  for (const [k, mine] of ctx.heads) {
    const h = snapHeads.get(k)
    if (h !== undefined && h.seq === mine.seq && h.hash.length > 0 && mine.hash.length > 0 && toHex(h.hash) !== toHex(mine.hash)) {
      return err('snapshot/contradicts-heads', 'snapshot names a different envelope for a stream position this replica holds')
    }
  }
  for (const [c, a] of body.bindings) {
    const owner = ctx.bindings.get(c)
    if (owner !== undefined && owner !== toHex(a)) return err('snapshot/binding-conflict', `snapshot binds clientID ${c} to another device`)
  }
  let snapSv: ReadonlyMap<number, number>
  try {
    snapSv = stateVectorOfV2(body.state)
  } catch {
    return err('snapshot/malformed', 'snapshot state cannot be decoded')
  }
  // Streams of each author whose applied head the snapshot reaches.
  const covered = new Map<string, boolean>()
  for (const [k, mine] of ctx.heads) {
    const author = k.slice(0, k.indexOf(':'))
    const h = snapHeads.get(k)
    const reaches = h !== undefined && h.seq >= mine.seq
    covered.set(author, (covered.get(author) ?? true) && reaches)
  }
  for (const [client, clock] of Y.decodeStateVector(Y.encodeStateVector(ctx.doc))) {
    const owner = ctx.bindings.get(client)
    if (owner === undefined || owner === ctx.selfHex || covered.get(owner) !== true) continue
    if ((snapSv.get(client) ?? 0) < clock) return err('snapshot/missing-content', `snapshot lacks content of clientID ${client} it claims to cover`)
  }
  return ok(undefined)
}

/**
 * The check only a member holding the log can make (DESIGN.md §12): a snapshot must hold exactly
 * the content this replica has for what it covers. Rebuild the snapshot's document, add to it what
 * this replica has beyond the snapshot's state vector, and compare with this replica's document:
 * content the snapshot put under someone else's clientID, deletions nobody made, or content it
 * left out all make the two differ. Call only once this replica covers every stream head the
 * snapshot names (otherwise an honest snapshot differs too). A deletion carries no clock, so one
 * the snapshot left out shows only with `exact` (this replica holds precisely the named heads).
 */
export function checkContent (state: Uint8Array, doc: Y.Doc, exact = false): Result<void, 'snapshot/content-mismatch' | 'snapshot/malformed'> {
  const rebuilt = new Y.Doc({ guid: 'verify', gc: doc.gc })
  try {
    const mine = Y.decodeStateVector(Y.encodeStateVector(doc))
    try {
      Y.applyUpdateV2(rebuilt, state)
      // `exact`: this replica holds exactly what the snapshot covers (same heads, same state
      // vector), so the two must be equal as they are, a left-out deletion included. Otherwise add
      // what this replica has beyond the snapshot (content of earlier sessions of this device that
      // no head names yet, say) and compare that.
      if (exact && !sameVector(mine, Y.decodeStateVector(Y.encodeStateVector(rebuilt)))) exact = false
      if (!exact) Y.applyUpdateV2(rebuilt, encodeState(doc, Y.encodeStateVector(new Map(stateVectorOfV2(state)))))
    } catch (e) {
      return err('snapshot/malformed', `snapshot state does not integrate: ${e instanceof Error ? e.message : String(e)}`)
    }
    const theirs = Y.decodeStateVector(Y.encodeStateVector(rebuilt))
    for (const c of new Set([...theirs.keys(), ...mine.keys()])) {
      if ((mine.get(c) ?? 0) !== (theirs.get(c) ?? 0)) return err('snapshot/content-mismatch', `snapshot content of clientID ${c} differs from what this replica received from its author`)
    }
    const names = new Set([...doc.share.keys(), ...rebuilt.share.keys()])
    for (const name of names) {
      // Compared through the type this replica uses for that root; a root nobody here opened is
      // a bare AbstractType (whose toJSON() says nothing): compared item by item instead.
      const ctor = [doc.share.get(name)?.constructor, rebuilt.share.get(name)?.constructor].find(c => c !== undefined && c !== Y.AbstractType) as typeof Y.AbstractType<unknown> | undefined
      const a = canonical(ctor === undefined ? content(doc.share.get(name)) : doc.get(name, ctor).toJSON())
      const b = canonical(ctor === undefined ? content(rebuilt.share.get(name)) : rebuilt.get(name, ctor).toJSON())
      if (a !== b) return err('snapshot/content-mismatch', `snapshot content of "${name}" differs from what its authors wrote`)
    }
    return ok(undefined)
  } finally {
    rebuilt.destroy()
  }
}

function sameVector (a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): boolean {
  if (a.size !== b.size) return false
  for (const [c, n] of a) if (b.get(c) !== n) return false
  return true
}

/** JSON with object keys sorted: a Y.Map lists its keys in the order this replica integrated them. */
function canonical (v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) return x
    const o = x as Record<string, unknown>
    return Object.fromEntries(Object.keys(o).sort().map(k => [k, o[k]]))
  })
}

/**
 * A type's visible content, whatever constructor it was opened with (a root this replica never
 * opened is a bare AbstractType whose toJSON() says nothing): its sequence and its map entries,
 * nested types included. Formatting marks are not compared.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function content (t: Y.AbstractType<any> | undefined): unknown {
  if (t === undefined) return { seq: [], map: {} }
  const seq: unknown[] = []
  for (let n = t._start; n !== null; n = n.right) {
    if (n.deleted || !n.countable) continue
    for (const c of n.content.getContent()) seq.push(c instanceof Y.AbstractType ? content(c) : c)
  }
  const map: Record<string, unknown> = {}
  for (const [k, item] of t._map) {
    if (item.deleted) continue
    const c = item.content.getContent()
    const v: unknown = c[c.length - 1]
    map[k] = v instanceof Y.AbstractType ? content(v) : v
  }
  return { seq, map }
}

/** Stream heads as snapshot heads (`author:stream` hex keys), plus this session's own head. */
export function headRefsOf (heads: ReadonlyMap<string, { readonly seq: number; readonly hash: Uint8Array }>, own: StreamHeadRef | undefined): StreamHeadRef[] {
  const out: StreamHeadRef[] = []
  for (const [k, h] of heads) {
    const [a, st] = k.split(':')
    out.push({ author: fromHex(a!) ?? new Uint8Array(0), stream: fromHex(st!) ?? new Uint8Array(0), seq: h.seq, hash: h.hash })
  }
  if (own !== undefined) out.push(own)
  return out
}

/** Stream heads as (stream key, seq, hash), sorted by stream key: the input of the space fingerprint. */
export function sortedHeads (refs: readonly StreamHeadRef[]): { stream: string; seq: number; hash: Uint8Array }[] {
  return refs.map(h => ({ stream: streamKey(h.author, h.stream), seq: h.seq, hash: h.hash })).sort((a, b) => a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0)
}
