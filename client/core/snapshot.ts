import * as Y from 'yjs'
import { Reader, toHex } from '../../shared/bytes.js'
import { DecodeError, err, ok, type Result } from '../../shared/errors.js'
import { HASH_BYTES, PK_BYTES, STREAM_BYTES } from '../../shared/header.js'
import * as encoding from 'lib0/encoding'

/**
 * Snapshots (DESIGN.md §5): a writer seals the whole document so joiners need not replay the log.
 * A snapshot names exactly which stream heads it covers and chains to the previous snapshot: its
 * envelope header has `stream` = 8 zero bytes, `seq` = its index in the space's snapshot chain,
 * `prevHash` = hash of the previous snapshot envelope (zeros for the first).
 *
 *   body  := varUint(1) • varUint(createdAtMs) • varUint(coversCursor)
 *            • varUint(nHeads) • nHeads × (author(32) • stream(8) • varUint(seq) • hash(32))
 *            • varUint(nBindings) • nBindings × (varUint(clientID) • author(32))
 *            • varBytes(Y.encodeStateAsUpdateV2(doc))
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
  /** `Y.encodeStateAsUpdateV2`: about half the size of V1 for text-heavy documents, and includes pending structs. */
  readonly state: Uint8Array
}

export function writeSnapshotBody (b: SnapshotBody): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, b.createdAt)
  encoding.writeVarUint(e, b.covers)
  encoding.writeVarUint(e, b.heads.length)
  for (const h of b.heads) {
    encoding.writeUint8Array(e, h.author); encoding.writeUint8Array(e, h.stream)
    encoding.writeVarUint(e, h.seq); encoding.writeUint8Array(e, h.hash)
  }
  encoding.writeVarUint(e, b.bindings.length)
  for (const [c, a] of b.bindings) { encoding.writeVarUint(e, c); encoding.writeUint8Array(e, a) }
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
    if (r.varUint() !== 1) return err('snapshot/malformed', 'unknown snapshot body version')
    const createdAt = r.varUint()
    const covers = r.varUint()
    const nHeads = r.varUint(MAX_HEADS)
    const heads: StreamHeadRef[] = []
    for (let i = 0; i < nHeads; i++) {
      heads.push({ author: r.bytes(PK_BYTES).slice(), stream: r.bytes(STREAM_BYTES).slice(), seq: r.varUint(0xffffffff), hash: r.bytes(HASH_BYTES).slice() })
    }
    const nBind = r.varUint(MAX_HEADS)
    const bindings: Array<readonly [number, Uint8Array]> = []
    for (let i = 0; i < nBind; i++) bindings.push([r.varUint(0xffffffff), r.bytes(PK_BYTES).slice()])
    const state = r.varBytes(MAX_STATE_BYTES)
    r.end()
    return ok({ createdAt, covers, heads, bindings, state })
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
    if (h !== undefined && h.seq === mine.seq && toHex(h.hash) !== toHex(mine.hash)) {
      return err('snapshot/contradicts-heads', 'snapshot names a different envelope for a stream position this replica holds')
    }
  }
  for (const [c, a] of body.bindings) {
    const owner = ctx.bindings.get(c)
    if (owner !== undefined && owner !== toHex(a)) return err('snapshot/binding-conflict', `snapshot binds clientID ${c} to another device`)
  }
  let snapSv: Map<number, number>
  try {
    snapSv = Y.decodeStateVector(Y.encodeStateVectorFromUpdateV2(body.state))
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
