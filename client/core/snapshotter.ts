import * as Y from 'yjs'
import { concat, equalBytes, toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, open as openEnvelope, seal, type Device } from '../../shared/envelope.js'
import type { Frame } from '../../shared/frame.js'
import { MAX_ENVELOPE_BYTES, MsgType, type Header } from '../../shared/header.js'
import type { SpaceKeys } from '../../shared/keys.js'
import { attestMessage, hash } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'
import { err, ok, type Result } from '../../shared/errors.js'
import { conflictingItem } from './overlap.js'
import { checkContent, readSnapshotBody, SNAPSHOT_STREAM, streamKey, verifySnapshot, writeSnapshotBody, type HeldSnapshot, type SnapshotBody, type StreamHeadRef } from './snapshot.js'
import type { Span, StreamReader } from './reader.js'
import type { SnapshotInfo } from './space-types.js'
import { stateVectorOfV2 } from './state.js'

/**
 * Snapshots (DESIGN.md §5, §12): sealing them, and checking other members' before anything of them
 * is believed. Sans IO apart from the `request` the host gives it.
 *
 * - Making: the whole document, its stream heads and clientID bindings; a state too large for one
 *   envelope is cut into parts (each its own signed envelope) that the head names by hash.
 * - Joining (`verifyJoin`): a cold or stale joiner can check the chain, signatures, that the state
 *   decodes and integrates, that every clientID in it is bound to a writer, and that it covers what
 *   the joiner already holds; the heads it names become claims (see reader.ts), never proofs.
 * - As a member (`verifyMember`): a replica that holds the log checks the content itself (see
 *   snapshot.ts checkContent). A good one is attested to the relay (so it may prune under it); a
 *   bad one is alerted with its author named and its chain position is taken without its heads, so
 *   this replica's next snapshot extends the chain past it and compaction goes on.
 */
export const PART_BYTES = 4 * 1024 * 1024
/** Room for the header, padding (Padmé adds ≤ 12%) and frame fields inside MAX_ENVELOPE_BYTES. */
const MAX_INLINE_BYTES = Math.min(PART_BYTES, Math.floor(MAX_ENVELOPE_BYTES * 0.85))

export interface Opened {
  readonly header: Header
  readonly hash: Uint8Array
  readonly body: SnapshotBody
  /** The whole state (joined from parts when it came in parts). */
  readonly state: Uint8Array
}

export interface SnapshotHost {
  request (make: (reqId: number) => Frame, timeoutMs?: number): Promise<Frame>
  alert (code: string, message: string, extra?: { author?: string; cursor?: number }): void
}

/** What `verifyMember` concluded. */
export type MemberVerdict = 'good' | 'bad' | 'not-yet' | 'known' | 'unverifiable'

export class Snapshotter {
  /** The newest snapshot this replica accepted or made (position and heads), or skipped past. */
  held: HeldSnapshot | undefined
  /** Hashes of snapshots already judged (good or bad): a relay re-sending one is no regression. */
  readonly known = new Map<string, 'good' | 'bad'>()

  constructor (
    private readonly sodium: Sodium,
    private readonly keys: SpaceKeys,
    private readonly device: Device | undefined,
    private readonly host: SnapshotHost
  ) {}

  /** Seals the state as snapshot `seq` (parts first when large); returns the head and its parts. */
  seal (seq: number, body: Omit<SnapshotBody, 'parts' | 'state'>, state: Uint8Array): { head: Uint8Array; parts: Uint8Array[] } {
    const device = this.device
    if (device === undefined) throw new Error('a view-only session cannot seal snapshots')
    const prevHash = this.held === undefined ? GENESIS_HASH : this.held.hash
    if (state.length <= MAX_INLINE_BYTES) {
      const head = seal(this.sodium, this.keys, device, MsgType.snapshot, { stream: SNAPSHOT_STREAM, seq, prevHash }, writeSnapshotBody({ ...body, parts: [], state }))
      return { head, parts: [] }
    }
    const parts: Uint8Array[] = []
    for (let i = 0; i < state.length; i += PART_BYTES) {
      parts.push(seal(this.sodium, this.keys, device, MsgType.snapshotPart, { stream: SNAPSHOT_STREAM, seq, prevHash }, state.subarray(i, i + PART_BYTES)))
    }
    const head = seal(this.sodium, this.keys, device, MsgType.snapshot, { stream: SNAPSHOT_STREAM, seq, prevHash }, writeSnapshotBody({ ...body, parts: parts.map(p => hash(this.sodium, p)), state: new Uint8Array(0) }))
    return { head, parts }
  }

  /** Uploads parts, then the head. The relay keeps one winner per chain position. */
  async put (covers: number, sealed: { head: Uint8Array; parts: Uint8Array[] }): Promise<Frame> {
    for (const p of sealed.parts) {
      const r = await this.host.request(reqId => ({ type: 'putSnapshotPart', reqId, spaceId: this.keys.spaceId, envelope: p }), 120_000)
      if (r.type !== 'ok') return r
    }
    return await this.host.request(reqId => ({ type: 'putSnapshot', reqId, spaceId: this.keys.spaceId, covers, envelope: sealed.head, parts: sealed.parts.map(p => hash(this.sodium, p)) }), 120_000)
  }

  /** Opens a snapshot envelope and fetches and checks its parts. Errors are the author's or the relay's, as their code says. */
  /** The chain position of a snapshot head whose signature holds, whatever its body. */
  signedPosition (env: Uint8Array): { seq: number; hash: Uint8Array } | undefined {
    const o = openEnvelope(this.sodium, this.keys, env, { types: [MsgType.snapshot] })
    return o.ok ? { seq: o.value.header.seq, hash: o.value.hash } : undefined
  }

  async open (env: Uint8Array): Promise<Result<Opened, string>> {
    const o = openEnvelope(this.sodium, this.keys, env, { types: [MsgType.snapshot] })
    if (!o.ok) return o
    if (!equalBytes(o.value.header.stream, SNAPSHOT_STREAM)) return err('snapshot/malformed', 'a snapshot must use the snapshot chain stream')
    const body = readSnapshotBody(o.value.plaintext)
    if (!body.ok) return body
    if (body.value.parts.length === 0) return ok({ header: o.value.header, hash: o.value.hash, body: body.value, state: body.value.state })
    const chunks: Uint8Array[] = []
    for (const ph of body.value.parts) {
      const r = await this.host.request(reqId => ({ type: 'getSnapshotPart', reqId, spaceId: this.keys.spaceId, hash: ph }), 120_000)
      if (r.type !== 'snapshotPart') return err('snapshot/part-unavailable', r.type === 'error' ? `${r.code}: ${r.message}` : 'unexpected answer')
      if (!equalBytes(hash(this.sodium, r.envelope), ph)) return err('snapshot/part-unavailable', 'the relay served another part than the snapshot names')
      const p = openEnvelope(this.sodium, this.keys, r.envelope, { types: [MsgType.snapshotPart] })
      if (!p.ok) return err('snapshot/part-unavailable', `a part does not open: ${p.code}`)
      if (!equalBytes(p.value.header.author, o.value.header.author) || p.value.header.seq !== o.value.header.seq) return err('snapshot/malformed', 'a part of another snapshot or author')
      chunks.push(p.value.plaintext)
    }
    return ok({ header: o.value.header, hash: o.value.hash, body: body.value, state: concat(...chunks) })
  }

  /** Takes `o` as the newest snapshot position, with its heads (good) or the previous ones (bad). */
  hold (o: { seq: number; hash: Uint8Array; heads?: readonly StreamHeadRef[]; covers?: number }, verdict: 'good' | 'bad'): void {
    let heads: ReadonlyMap<string, number> = this.held?.heads ?? new Map()
    const covers = verdict === 'good' && o.covers !== undefined ? o.covers : (this.held?.covers ?? 0)
    if (verdict === 'good' && o.heads !== undefined) {
      const m = new Map<string, number>()
      for (const h of o.heads) m.set(streamKey(h.author, h.stream), h.seq)
      heads = m
    }
    this.known.set(toHex(o.hash), verdict)
    if (this.known.size > 64) this.known.delete(this.known.keys().next().value!)
    if (this.held === undefined || o.seq > this.held.seq) this.held = { seq: o.seq, hash: o.hash, heads, covers }
  }

  /**
   * A member's check of someone's snapshot. 'not-yet': this replica has not applied every stream
   * head it names (ask again later); 'known': judged before.
   */
  verifyMember (o: Opened, reader: StreamReader, bindings: ReadonlyMap<number, string>, doc: Y.Doc, ownHeads: ReadonlyMap<string, number>, self: { hex: string; unsealed: boolean; ownReach: (seq: number) => ReadonlyMap<number, number> | undefined } = { hex: '', unsealed: false, ownReach: () => undefined }): { verdict: MemberVerdict; code?: string; message?: string } {
    const known = this.known.get(toHex(o.hash))
    if (known !== undefined) return { verdict: 'known' }
    if (this.held !== undefined && o.header.seq <= this.held.seq) return { verdict: 'known' }
    for (const h of o.body.heads) {
      const k = streamKey(h.author, h.stream)
      const own = ownHeads.get(k)
      // This session's own stream: nobody knows better how far it goes.
      if (own !== undefined && own < h.seq) return { verdict: 'bad', code: 'snapshot/unbacked-head', message: `it names seq ${h.seq} of this device's stream, which ends at ${own}` }
      const mine = reader.heads.get(k)?.seq ?? own
      if (mine === undefined || mine < h.seq) return { verdict: 'not-yet' }
    }
    // Where this replica knows exactly what a named position carried (its own stream, or a stream
    // whose head it holds at that very position), the state must hold at least that.
    let snapSv: ReadonlyMap<number, number>
    try {
      snapSv = stateVectorOfV2(o.state)
    } catch {
      return { verdict: 'bad', code: 'snapshot/malformed', message: 'snapshot state cannot be decoded' }
    }
    // Only what this replica integrated itself counts (a struct still pending here proves nothing).
    const mine = Y.decodeStateVector(Y.encodeStateVector(doc))
    for (const h of o.body.heads) {
      const k = streamKey(h.author, h.stream)
      const mineAt = reader.heads.get(k)?.seq
      const reach: ReadonlyMap<number, Span> | undefined = ownHeads.has(k) ? spans(self.ownReach(h.seq)) : reader.reachAt(k, h.seq)
      // Gone past that position in an earlier session: what it carried is not known here, and the
      // content check below would fill in whatever the snapshot left out of it. Not vouched for.
      if (reach === undefined && mineAt !== undefined && mineAt > h.seq && h.hash.length > 0) {
        return { verdict: 'unverifiable', code: 'snapshot/unverifiable', message: `this replica cannot tell what seq ${h.seq} of a stream carried` }
      }
      for (const [c, span] of reach ?? []) {
        // Only what this replica integrated counts: from where the stream's content of `c` starts
        // (a clock below that came from elsewhere) up to the lesser of its end and our clock.
        const have = mine.get(c) ?? 0
        if (span.from < have && (snapSv.get(c) ?? 0) < Math.min(span.to, have)) return { verdict: 'bad', code: 'snapshot/missing-content', message: `it claims to cover seq ${h.seq} of a stream but lacks content that envelope carried (clientID ${c})` }
      }
    }
    // A stream this replica stopped at a refused envelope cannot be held against anyone: an honest
    // author stopped there too, whatever an earlier snapshot named.
    const held = this.held === undefined ? undefined : { ...this.held, heads: new Map([...this.held.heads].filter(([k]) => !reader.stuck.has(k))) }
    const v = verifySnapshot(o.header.seq, o.header.prevHash, { ...o.body, state: o.state }, { held, heads: reader.heads, bindings, doc, selfHex: self.hex })
    if (!v.ok) return { verdict: 'bad', code: v.code, message: v.message }
    // Exact when this replica holds precisely the heads the snapshot names: then even a deletion
    // the snapshot left out shows (beyond them, deletions carry no clock to tell whose they are).
    const named = new Set(o.body.heads.map(h => streamKey(h.author, h.stream)))
    let exact = o.body.heads.every(h => (reader.heads.get(streamKey(h.author, h.stream))?.seq ?? ownHeads.get(streamKey(h.author, h.stream))) === h.seq)
    for (const k of [...reader.heads.keys(), ...ownHeads.keys()]) if (!named.has(k)) exact = false
    // Local edits not sealed yet are in this document and in no snapshot.
    if (self.unsealed) exact = false
    const c = checkContent(o.state, doc, exact)
    if (!c.ok) return otherVersion(o, doc, bindings, reader) ? { verdict: 'unverifiable', code: 'snapshot/unverifiable', message: 'it holds another version of a member\'s item' } : { verdict: 'bad', code: c.code, message: c.message }
    return { verdict: 'good' }
  }

  /** The snapshots the relay keeps (newest first), decrypted and signature-checked, with this replica's verdicts. */
  async history (limit: number): Promise<SnapshotInfo[]> {
    const res = await this.host.request(reqId => ({ type: 'listSnapshots', reqId, spaceId: this.keys.spaceId, limit }))
    if (res.type === 'error') throw new Error(`${res.code}: ${res.message}`)
    if (res.type !== 'snapshots') throw new Error('unexpected answer from the relay')
    const out: SnapshotInfo[] = []
    for (const s of res.snapshots) {
      const o = await this.open(s.envelope)
      if (o.ok) out.push({ id: s.id, seq: o.value.header.seq, author: toHex(o.value.header.author), verdict: this.known.get(toHex(o.value.hash)), createdAt: o.value.body.createdAt, covers: s.covers, bytes: s.envelope.length, state: o.value.state })
    }
    return out
  }

  /** The attestation of a verified snapshot, for the relay (it may prune under it once another member attested). */
  attest (snapshotHash: Uint8Array): Frame | undefined {
    if (this.device === undefined) return undefined
    const signature = this.sodium.crypto_sign_detached(attestMessage(this.keys.spaceId, snapshotHash), this.device.privateKey)
    return { type: 'attest', reqId: 0, spaceId: this.keys.spaceId, snapshotHash, device: this.device.publicKey, cert: this.device.cert, signature }
  }
}

/**
 * The snapshot holds another version of an item than this doc, under the clientID of a member
 * other than its maker, and names none of that member's positions by the very envelope this
 * replica holds there: that member may have signed two versions, one reaching the maker and one
 * this replica, so the maker can be neither blamed nor vouched for. Only when the snapshot names
 * the same envelope (same hash) as this replica and still differs is the maker the one who
 * changed it.
 */
function otherVersion (o: Opened, doc: Y.Doc, bindings: ReadonlyMap<number, string>, reader: StreamReader): boolean {
  const owner = otherOwnersItem(o, doc, bindings)
  if (owner === undefined) return false
  return !o.body.heads.some(h => {
    if (toHex(h.author) !== owner || h.hash.length === 0) return false
    const mine = reader.hashAt(streamKey(h.author, h.stream), h.seq)
    return mine !== undefined && equalBytes(mine, h.hash)
  })
}

/**
 * The member (hex device key) under whose clientID the snapshot holds another version of an item
 * than `doc`, when that is not the snapshot's maker: then the two versions may both be that
 * member's (it signed two), and the maker may be honest.
 */
export function otherOwnersItem (o: Opened, doc: Y.Doc, bindings: ReadonlyMap<number, string>): string | undefined {
  let found
  try {
    found = conflictingItem(doc, [Y.decodeUpdateV2(o.state)])
  } catch {
    return undefined
  }
  if (found === undefined) return undefined
  const bound = o.body.bindings.find(([c]) => c === found.client)?.[1]
  const owner = bindings.get(found.client) ?? (bound === undefined ? undefined : toHex(bound))
  return owner === toHex(o.header.author) ? undefined : owner
}

/** Snapshot-body heads as reader claims. */
export function claimsOf (heads: readonly StreamHeadRef[]): { sk: string; seq: number; hash: Uint8Array }[] {
  return heads.map(h => ({ sk: streamKey(h.author, h.stream), seq: h.seq, hash: h.hash }))
}

/** Every clientID with content in `state` must be bound to some writer, by the snapshot or by us. */
export function unboundClients (state: Uint8Array, snapBindings: ReadonlyArray<readonly [number, Uint8Array]>, mine: ReadonlyMap<number, string>): number[] {
  const bound = new Set<number>([...mine.keys(), ...snapBindings.map(([c]) => c)])
  const out: number[] = []
  for (const c of stateVectorOfV2(state).keys()) if (!bound.has(c)) out.push(c)
  return out
}

/** This session's own reach (clocks sealed from 0) as spans. */
function spans (m: ReadonlyMap<number, number> | undefined): ReadonlyMap<number, Span> | undefined {
  return m === undefined ? undefined : new Map([...m].map(([c, to]) => [c, { from: 0, to }]))
}

/**
 * Every stream `reader` lacks a position `o` names of is neither the snapshot author's nor this
 * device's (`meHex`): those two may have envelopes still on their way to the relay.
 */
export function shortOnlyInOthers (o: Opened, reader: StreamReader, authorHex: string, meHex: string): boolean {
  let short = false
  for (const h of o.body.heads) {
    if ((reader.heads.get(streamKey(h.author, h.stream))?.seq ?? -1) >= h.seq) continue
    if (toHex(h.author) === authorHex || toHex(h.author) === meHex) return false
    short = true
  }
  return short
}
