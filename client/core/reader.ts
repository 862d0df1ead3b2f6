import * as Y from 'yjs'
import { equalBytes, toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, open as openEnvelope } from '../../shared/envelope.js'
import type { Entry } from '../../shared/frame.js'
import { MsgType, parseEnvelope } from '../../shared/header.js'
import type { SpaceKeys } from '../../shared/keys.js'
import { hash, verifyEnvelope } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'
import { readBatch, readBatchFull } from './apply.js'
import type { Suspects } from './meta.js'

/**
 * The per-author stream reader (DESIGN.md §4, §6, §7, §12), sans IO: verifies each envelope,
 * puts it in order in its author's stream, buffers gaps, and hands content to the host to apply.
 *
 * Blame goes to the party that could have caused a failure:
 * - bytes that do not parse, or a signature or certificate that does not verify, could have been
 *   changed by the relay or the network: 'retry' (the session reads again from before it);
 * - a valid device signature over a bad commitment, ciphertext, padding or batch is the author's
 *   doing: alerted once with the author, skipped with the envelope kept as evidence, and the stream
 *   goes on past it (its position is authentic);
 * - content that would not integrate (refused by the host: all-or-nothing apply, clientID binding)
 *   changes nothing and the stream's head does not move past it: the stream stops there, alerted
 *   once, and its later envelopes wait (every honest replica refuses the same, so none diverges).
 *
 * Heads taken from a snapshot are claims, not proofs: an envelope at or below a claimed position
 * is not dropped as a duplicate on the snapshot's word. It is verified and applied (Yjs updates are
 * idempotent); if it changes the document, the snapshot left out what it claimed, and its author
 * is named.
 */
export interface StreamHead {
  readonly seq: number
  /** Hash of the envelope at `seq`; empty when folded (an idle stream kept as its position only). */
  readonly hash: Uint8Array
  /** Relay cursor of that envelope (0: unknown, e.g. taken from a snapshot). */
  readonly cursor?: number
  /** Positions up to here are known only from a snapshot's claim. */
  readonly claimUpTo?: number
  /** Hex device key of the snapshot author who made that claim. */
  readonly claimedBy?: string
}

export type Outcome = 'applied' | 'duplicate' | 'buffered' | 'rejected' | 'retry'

export interface ReaderHost {
  /**
   * Applies verified content all-or-nothing; `changed` is false when all of it was already in.
   * `bytes` is the envelope's length: the snapshot cadence counts it as the sealer does.
   */
  apply (updates: Uint8Array[], authorHex: string, cursor: number, bytes: number): { ok: true; changed: boolean } | { ok: false; code: string; message: string }
  alert (code: string, message: string, extra: { author?: string; cursor?: number }): void
  requestGap (sk: string, author: Uint8Array, stream: Uint8Array, fromSeq: number): void
  clearGap (sk: string): void
}

/** The clocks of one Yjs clientID a stream carried: lowest first clock, highest end. */
export interface Span { readonly from: number; readonly to: number }

/** Positions per stream whose envelope hash is kept for receipts to be compared with. */
const HASHES_KEPT = 256

/** Positions per stream whose reach is kept (snapshots name recent positions). */
const REACH_KEPT = 4096

/** Failures that only the author could have caused once its signature verified. */
const AUTHOR_FAULTS = new Set(['envelope/bad-commitment', 'envelope/bad-ciphertext', 'envelope/bad-padding', 'envelope/wrong-space', 'envelope/wrong-epoch', 'envelope/wrong-key', 'envelope/wrong-type'])

/** An authentic envelope refused for its author's fault, kept for whoever asks why. */
export interface Evidence {
  readonly code: string
  readonly author: string
  readonly envelope: Uint8Array
}

export class StreamReader {
  readonly heads = new Map<string, StreamHead>()
  /** Streams stopped at a position whose content was refused: sk → seq. */
  readonly stuck = new Map<string, number>()
  readonly evidence: Evidence[] = []
  /**
   * Authors this replica caught writing two versions of one Yjs item (overlap.ts): replicas may
   * hold different versions of their content, so a snapshot that differs from this replica's
   * document may be honest (snapshot-sync.ts does not blame its maker then).
   */
  readonly forked = new Set<string>()
  /**
   * Authors seen with two signed versions of one stream position (here or in a member's receipt):
   * a snapshot naming the other version may be honest, so its maker is not blamed for it.
   */
  readonly equivocated = new Set<string>()
  /**
   * Authors whose signed content this replica refused as malformed (it did not integrate, or did
   * not even parse). Yjs merges well-formed updates in any order to one result; a malformed update
   * that integrates on one replica's state and not on another's, or integrates differently, breaks
   * that, so an honest snapshot may differ from this replica's document: its maker is not blamed.
   */
  readonly malformed = new Set<string>()

  /** The three sets above, for meta.ts to keep across sessions. */
  suspects (): Suspects {
    return { forked: [...this.forked], equivocated: [...this.equivocated], malformed: [...this.malformed] }
  }

  /** What an earlier session caught (meta.ts), before anything is read. */
  restoreSuspects (s: Suspects | undefined): void {
    for (const a of s?.forked ?? []) this.forked.add(a)
    for (const a of s?.equivocated ?? []) this.equivocated.add(a)
    for (const a of s?.malformed ?? []) this.malformed.add(a)
  }
  /**
   * Per stream, the highest clock of each Yjs clientID its applied envelopes carried (this session):
   * a snapshot naming that stream at our head must hold at least that much of it.
   */
  private readonly reach = new Map<string, Map<number, Span>>()
  /**
   * The same per position: what each stream carried up to each seq this session applied (the last
   * REACH_KEPT positions of each stream), so a snapshot naming a position this replica has gone
   * past is still checked against exactly that position.
   */
  private readonly reachBySeq = new Map<string, Map<number, ReadonlyMap<number, Span>>>()
  readonly stats = { applied: 0, duplicates: 0, rejected: 0 }
  private readonly buffered = new Map<string, Map<number, Entry>>()
  /** Recent envelope hashes per stream (the last HASHES_KEPT positions): to compare with receipts. */
  private readonly hashes = new Map<string, Map<number, Uint8Array>>()
  /** Streams known (from their author) to reach further than this replica has: sk → last seq. */
  private readonly targets = new Map<string, { author: Uint8Array; stream: Uint8Array; seq: number }>()
  private readonly certOk = new Set<string>()
  private readonly alerted = new Set<string>()
  /**
   * The epoch before the current one and the key change's frontier (stream key → last seq) in it
   * (issue 11): an entry of that epoch within the frontier is still read, with those keys (a member
   * offline across the rotation catches up on it); any other entry of an older epoch is refused.
   */
  private previous: { readonly keys: SpaceKeys; readonly frontier: ReadonlyMap<string, number> } | undefined

  constructor (
    private readonly sodium: Sodium,
    private readonly keys: SpaceKeys,
    private readonly host: ReaderHost,
    /** `authorHex:streamHex` of this session's own stream, whose entries are skipped. */
    private readonly ownStream: () => string
  ) {}

  /** Sets the epoch before this one and the frontier of the key change that ended it. */
  setPrevious (keys: SpaceKeys, frontier: ReadonlyMap<string, number>): void { this.previous = { keys, frontier } }

  /** The keys an entry of `epoch` in stream `sk` at `seq` is read with; undefined: refused (an older epoch beyond the frontier). */
  private keysFor (epoch: number, sk: string, seq: number): SpaceKeys | undefined {
    if (epoch === this.keys.epoch) return this.keys
    const p = this.previous
    return p !== undefined && epoch === p.keys.epoch && seq <= (p.frontier.get(sk) ?? -1) ? p.keys : undefined
  }

  /** Streams with entries waiting for an earlier one. */
  get pending (): number { return this.buffered.size }

  /** A stream with buffered entries or a known tail this replica lacks (its gap is worth asking for again). */
  missing (sk: string): boolean { return this.buffered.has(sk) || this.targets.has(sk) }

  /** Where each stream with buffered entries misses one: to ask the relay again after a reconnect. */
  gaps (): { sk: string; author: Uint8Array; stream: Uint8Array; fromSeq: number }[] {
    const out: { sk: string; author: Uint8Array; stream: Uint8Array; fromSeq: number }[] = []
    for (const [sk, buf] of this.buffered) {
      const first = buf.values().next().value
      if (first === undefined) continue
      const p = parseEnvelope(first.envelope)
      if (!p.ok) continue
      out.push({ sk, author: p.value.header.author, stream: p.value.header.stream, fromSeq: (this.heads.get(sk)?.seq ?? -1) + 1 })
    }
    for (const [sk, t] of this.targets) {
      if (!this.buffered.has(sk)) out.push({ sk, author: t.author, stream: t.stream, fromSeq: (this.heads.get(sk)?.seq ?? -1) + 1 })
    }
    return out
  }

  /** Verifies one entry and applies it, then any buffered successors of its stream. */
  receive (e: Entry): Outcome {
    const r = this.receiveOne(e)
    if (r.outcome !== 'applied' || r.stream === undefined) return r.outcome
    this.drain(r.stream)
    return 'applied'
  }

  private drain (sk: string): void {
    const buf = this.buffered.get(sk)
    while (buf !== undefined) {
      const head = this.heads.get(sk)
      if (head === undefined) break
      const next = buf.get(head.seq + 1)
      if (next === undefined) break
      buf.delete(head.seq + 1)
      if (this.receiveOne(next).outcome !== 'applied') break
    }
    if (buf !== undefined && (buf.size === 0 || this.stuck.has(sk))) this.buffered.delete(sk)
    const t = this.targets.get(sk)
    if (t !== undefined && ((this.heads.get(sk)?.seq ?? -1) >= t.seq || this.stuck.has(sk))) this.targets.delete(sk)
    if (!this.buffered.has(sk) && !this.targets.has(sk)) this.host.clearGap(sk)
  }

  /**
   * Folds the heads of streams idle since `cursor` (their last envelope is at or below it): only
   * their position is kept. Every session opens a stream, so without this the heads (and every
   * snapshot) grew with the number of sessions ever run, not with the writers still writing.
   */
  fold (cursor: number): void {
    for (const [sk, h] of this.heads) {
      if (h.hash.length === 0 || (h.cursor ?? 0) > cursor || this.buffered.has(sk) || this.stuck.has(sk)) continue
      this.heads.set(sk, { ...h, hash: new Uint8Array(0) })
    }
  }

  /** Takes a snapshot's stream heads as claims (positions this replica has not proven itself). */
  claim (heads: Iterable<{ sk: string; seq: number; hash: Uint8Array }>, by: string): void {
    for (const h of heads) {
      const mine = this.heads.get(h.sk)
      if (mine !== undefined && mine.seq >= h.seq) continue
      this.heads.set(h.sk, { seq: h.seq, hash: h.hash, claimUpTo: h.seq, claimedBy: by })
      // Buffered entries at or below the claim are now "below a claimed head": run them through.
      const buf = this.buffered.get(h.sk)
      if (buf !== undefined) {
        for (const [seq, entry] of [...buf]) {
          if (seq <= h.seq) { buf.delete(seq); this.receiveOne(entry) }
        }
        this.drain(h.sk)
      }
    }
  }

  private once (key: string, code: string, message: string, extra: { author?: string; cursor?: number }): void {
    this.stats.rejected++
    if (this.alerted.has(key)) return
    this.alerted.add(key)
    if (this.alerted.size > 10_000) this.alerted.clear()
    this.host.alert(code, message, extra)
  }

  private receiveOne (e: Entry): { outcome: Outcome; stream?: string } {
    const parsed = parseEnvelope(e.envelope)
    if (!parsed.ok) {
      this.stats.rejected++
      this.host.alert(parsed.code, `${parsed.message} (changed on the way: reading again)`, { cursor: e.cursor })
      return { outcome: 'retry' }
    }
    const h = parsed.value.header
    if (h.type !== MsgType.update) {
      this.stats.rejected++
      this.host.alert('envelope/wrong-type', `a log entry of type ${h.type} (reading again)`, { cursor: e.cursor })
      return { outcome: 'retry' }
    }
    const authorHex = toHex(h.author)
    const sk = authorHex + ':' + toHex(h.stream)
    if (sk === this.ownStream()) return { outcome: 'duplicate' }
    const keys = this.keysFor(h.epoch, sk, h.seq)
    if (keys === undefined) {
      // Sealed in an older epoch and not within what the key change named (or from a newer one):
      // a replay by the relay, or a write its author made after the rotation. Never applied, never
      // read again (the cursor moves on), alerted once per epoch.
      this.once(`epoch:${h.epoch}`, 'sync/old-epoch', `an entry sealed in epoch ${h.epoch} arrived after the space moved to epoch ${this.keys.epoch}; refused`, { cursor: e.cursor, author: authorHex })
      return { outcome: 'duplicate' }
    }
    const certKey = `${h.epoch}:${authorHex}${toHex(h.cert)}`
    // The signature first: until it verifies, any fault may be the relay's.
    const sig = verifyEnvelope(this.sodium, parsed.value, keys.writePk, this.certOk.has(certKey))
    if (!sig.ok) {
      this.stats.rejected++
      this.host.alert(sig.code, `${sig.message} (changed on the way or forged by the relay: reading again)`, { cursor: e.cursor, author: authorHex })
      return { outcome: 'retry' }
    }
    this.certOk.add(certKey)
    const envHash = hash(this.sodium, e.envelope)
    const head = this.heads.get(sk)
    const stuckAt = this.stuck.get(sk)
    if (stuckAt !== undefined && h.seq >= stuckAt) {
      if (h.seq === stuckAt) this.stats.rejected++
      return { outcome: 'rejected' }
    }
    if (head !== undefined && head.claimUpTo !== undefined && h.seq <= head.claimUpTo) {
      return { outcome: this.belowClaim(e, head, authorHex, keys) }
    }
    const expected = head === undefined ? 0 : head.seq + 1
    if (h.seq < expected - 1) { this.stats.duplicates++; return { outcome: 'duplicate' } }
    if (h.seq === expected - 1) {
      if (head !== undefined && equalBytes(head.hash, envHash)) { this.stats.duplicates++; return { outcome: 'duplicate' } }
      // A folded head keeps no hash to compare with: prove it in by applying it (idempotent).
      if (head !== undefined && head.hash.length === 0) return { outcome: this.belowClaim(e, head, authorHex, keys) }
      this.evidence.push({ code: 'sync/equivocation', author: authorHex, envelope: e.envelope })
      this.equivocated.add(authorHex)
      this.once(`eq:${sk}:${h.seq}`, 'sync/equivocation', `two different envelopes for seq ${h.seq} of one stream: its author forked its history`, { cursor: e.cursor, author: authorHex })
      return { outcome: 'rejected' }
    }
    if (h.seq > expected) {
      let buf = this.buffered.get(sk)
      if (buf === undefined) this.buffered.set(sk, buf = new Map())
      buf.set(h.seq, e)
      this.host.requestGap(sk, h.author, h.stream, expected)
      return { outcome: 'buffered' }
    }
    const prev = head?.hash ?? GENESIS_HASH
    if (prev.length > 0 && !equalBytes(prev, h.prevHash)) {
      if (head?.claimedBy !== undefined && head.seq === head.claimUpTo) {
        // The position we hold came from a snapshot and the author's own signed chain disagrees
        // with it: the snapshot's author named a hash that is not in this stream.
        this.once(`claim:${head.claimedBy}:${sk}`, 'snapshot/contradicts-stream', `a snapshot named a stream position its author never wrote (seq ${head.seq})`, { cursor: e.cursor, author: head.claimedBy })
      } else {
        this.evidence.push({ code: 'sync/chain-mismatch', author: authorHex, envelope: e.envelope })
        this.stop(sk, h.seq)
        this.once(`chain:${sk}`, 'sync/chain-mismatch', `seq ${h.seq} does not link to the previous envelope of its stream: its author forked its history`, { cursor: e.cursor, author: authorHex })
        return { outcome: 'rejected' }
      }
    }
    const opened = openEnvelope(this.sodium, keys, e.envelope, { types: [MsgType.update], signatureOk: true })
    const next: StreamHead = { ...head, seq: h.seq, hash: envHash, cursor: e.cursor }
    if (!opened.ok) {
      if (!AUTHOR_FAULTS.has(opened.code)) {
        this.stats.rejected++
        this.host.alert(opened.code, `${opened.message} (reading again)`, { cursor: e.cursor, author: authorHex })
        return { outcome: 'retry' }
      }
      return this.skip(sk, next, opened.code, `${opened.message}: a member sealed an envelope nobody can read; skipped`, e, authorHex)
    }
    const full = readBatchFull(opened.value.plaintext)
    if (!full.ok) return this.skip(sk, next, full.code, `${full.message}: skipped`, e, authorHex)
    const applied = this.host.apply(full.value.updates, authorHex, e.cursor, e.envelope.length)
    if (!applied.ok) {
      // All or nothing: nothing changed, and the stream does not move past this envelope.
      if (applied.code === 'apply/conflicting-item') this.forked.add(authorHex)
      else this.malformed.add(authorHex)
      this.evidence.push({ code: applied.code, author: authorHex, envelope: e.envelope })
      this.stop(sk, h.seq)
      this.once(`apply:${sk}`, applied.code, `${applied.message}; this member's later changes in that session are held back`, { cursor: e.cursor, author: authorHex })
      return { outcome: 'rejected' }
    }
    this.heads.set(sk, next)
    this.stats.applied++
    this.noteReach(sk, h.seq, full.value.updates)
    this.noteHash(sk, h.seq, envHash)
    // Streams its author ended: ask for any tail of them this replica has not got.
    for (const x of full.value.ended) this.expect(h.author, x.stream, x.seq)
    return { outcome: 'applied', stream: sk }
  }

  /** A stream gap of this replica (or one of `owed`, from receipts) that `heads` name a position past (or at) its start. */
  gapNamed (heads: readonly { author: Uint8Array; stream: Uint8Array; seq: number }[], owed: readonly { sk: string; fromSeq: number }[]): boolean {
    const gaps = [...this.gaps(), ...owed]
    return gaps.some(g => heads.some(h => toHex(h.author) + ':' + toHex(h.stream) === g.sk && h.seq >= g.fromSeq))
  }

  /** Authors (hex) of the streams at whose head this replica holds another envelope than `heads` name. */
  contradicted (heads: readonly { author: Uint8Array; stream: Uint8Array; seq: number; hash: Uint8Array }[]): string[] {
    return heads.flatMap(h => {
      const mine = this.heads.get(toHex(h.author) + ':' + toHex(h.stream))
      const differs = mine !== undefined && mine.seq === h.seq && mine.hash.length > 0 && h.hash.length > 0 && !equalBytes(mine.hash, h.hash)
      return differs ? [toHex(h.author)] : []
    })
  }

  /** An earlier session's envelope `o` of device `author`, stored now at `cursor`: this replica holds its stream that far. */
  ownStored (author: string, o: { readonly stream: string; readonly seq: number; readonly env: Uint8Array }, cursor: number): void {
    const sk = `${author}:${o.stream}`
    if ((this.heads.get(sk)?.seq ?? -1) < o.seq) this.heads.set(sk, { seq: o.seq, hash: hash(this.sodium, o.env), cursor })
  }

  /** The hash of the envelope at `seq` of stream `sk`, when this replica took that position recently. */
  hashAt (sk: string, seq: number): Uint8Array | undefined {
    const h = this.heads.get(sk)
    if (h !== undefined && h.seq === seq && h.hash.length > 0) return h.hash
    return this.hashes.get(sk)?.get(seq)
  }

  private noteHash (sk: string, seq: number, envHash: Uint8Array): void {
    let m = this.hashes.get(sk)
    if (m === undefined) this.hashes.set(sk, m = new Map())
    m.set(seq, envHash)
    m.delete(seq - HASHES_KEPT)
  }

  private noteReach (sk: string, seq: number, updates: readonly Uint8Array[]): void {
    let r = this.reach.get(sk)
    for (const u of updates) {
      const meta = Y.parseUpdateMeta(u)
      for (const [c, to] of meta.to) {
        if (r === undefined) this.reach.set(sk, r = new Map())
        const from = meta.from.get(c) ?? 0
        const was = r.get(c)
        r.set(c, was === undefined ? { from, to } : { from: Math.min(was.from, from), to: Math.max(was.to, to) })
      }
    }
    let bySeq = this.reachBySeq.get(sk)
    if (bySeq === undefined) this.reachBySeq.set(sk, bySeq = new Map())
    bySeq.set(seq, new Map(r ?? []))
    bySeq.delete(seq - REACH_KEPT)
  }

  /**
   * What stream `sk` carried up to `seq`, as far as this session applied it (undefined: this
   * session did not apply that position). Clocks from earlier sessions are not in it, so it is a
   * lower bound: whatever it names, a snapshot covering that position must hold.
   */
  reachAt (sk: string, seq: number): ReadonlyMap<number, Span> | undefined {
    return this.reachBySeq.get(sk)?.get(seq)
  }

  /** `author` (or a member's receipt) says its stream reached `seq`: fetch what is missing up to there. */
  expect (author: Uint8Array, stream: Uint8Array, seq: number): void {
    const sk = toHex(author) + ':' + toHex(stream)
    const have = this.heads.get(sk)?.seq ?? -1
    if (have >= seq || this.stuck.has(sk)) return
    if ((this.targets.get(sk)?.seq ?? -1) >= seq) return
    this.targets.set(sk, { author, stream, seq })
    this.host.requestGap(sk, author, stream, have + 1)
  }

  /** The stream stops at `seq`: what waits behind it will never apply (and must not hold up snapshots). */
  private stop (sk: string, seq: number): void {
    this.stuck.set(sk, seq)
    this.buffered.delete(sk)
    this.host.clearGap(sk)
  }

  /** An authentic envelope whose content is the author's fault: its position is taken, its content skipped. */
  private skip (sk: string, next: StreamHead, code: string, message: string, e: Entry, authorHex: string): { outcome: Outcome; stream: string } {
    if (code.startsWith('apply/')) this.malformed.add(authorHex)
    this.evidence.push({ code, author: authorHex, envelope: e.envelope })
    if (this.evidence.length > 256) this.evidence.shift()
    this.once(`skip:${authorHex}:${code}`, code, message, { cursor: e.cursor, author: authorHex })
    this.heads.set(sk, next)
    this.noteReach(sk, next.seq, [])
    this.noteHash(sk, next.seq, next.hash)
    return { outcome: 'applied', stream: sk }
  }

  /** At or below a position a snapshot claimed: prove it is in by applying it (idempotent). */
  private belowClaim (e: Entry, head: StreamHead, authorHex: string, keys: SpaceKeys): Outcome {
    const opened = openEnvelope(this.sodium, keys, e.envelope, { types: [MsgType.update], signatureOk: true })
    if (!opened.ok) {
      if (!AUTHOR_FAULTS.has(opened.code)) { this.host.alert(opened.code, `${opened.message} (reading again)`, { cursor: e.cursor, author: authorHex }); return 'retry' }
      this.evidence.push({ code: opened.code, author: authorHex, envelope: e.envelope })
      this.once(`skip:${authorHex}:${opened.code}`, opened.code, `${opened.message}: a member sealed an envelope nobody can read; skipped`, { cursor: e.cursor, author: authorHex })
      return 'rejected'
    }
    const batch = readBatch(opened.value.plaintext)
    if (!batch.ok) {
      this.malformed.add(authorHex)
      this.once(`skip:${authorHex}:${batch.code}`, batch.code, `${batch.message}: skipped`, { cursor: e.cursor, author: authorHex })
      return 'rejected'
    }
    const applied = this.host.apply(batch.value, authorHex, e.cursor, e.envelope.length)
    if (!applied.ok) {
      if (applied.code === 'apply/conflicting-item') this.forked.add(authorHex)
      else this.malformed.add(authorHex)
      this.evidence.push({ code: applied.code, author: authorHex, envelope: e.envelope })
      this.once(`apply:${authorHex}:${e.cursor}`, applied.code, `${applied.message}; refused`, { cursor: e.cursor, author: authorHex })
      return 'rejected'
    }
    if (!applied.changed) { this.stats.duplicates++; return 'duplicate' }
    if (head.claimedBy !== undefined) {
      this.once(`inflated:${head.claimedBy}`, 'snapshot/missing-content', 'a snapshot claimed to cover changes it did not contain (they were applied from the log)', { cursor: e.cursor, author: head.claimedBy })
    }
    this.stats.applied++
    return 'applied'
  }
}
