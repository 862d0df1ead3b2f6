import * as Y from 'yjs'
import * as map from 'lib0/map'
import { equalBytes, toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, open as openEnvelope, seal, type Device } from '../../shared/envelope.js'
import { MsgType, parseEnvelope, STREAM_BYTES } from '../../shared/header.js'
import type { SpaceKeys } from '../../shared/keys.js'
import { hash } from '../../shared/sign.js'
import { randomBytes, type Sodium } from '../../shared/sodium.js'
import { readBatch, writeBatch, type EndedStream } from './apply.js'

/**
 * This session's own stream and its outbox (DESIGN.md §4, §12), sans IO.
 *
 * A stream is sealed by one writer, once: every session (process, leader tab) opens a fresh random
 * stream id and seals seq 0, 1, 2… in it. Local state restored from a backup, copied, or opened by
 * two processes at once therefore never seals one seq twice. Envelopes of earlier sessions found in
 * the store are resent with the same bytes; if the relay refuses one (its position was lost,
 * pruned, or taken), its content is opened again and re-sealed in this session's stream, never
 * counted as stored. If an envelope of this session's own stream is refused, the stream is
 * abandoned: everything of it not yet stored is re-sealed into a fresh stream.
 */
export interface OutEntry {
  readonly env: Uint8Array
  /** Hex stream id and seq, for matching acks and refusals. */
  readonly stream: string
  readonly seq: number
}

/** Relay refusals that mean "this position will never hold these bytes": re-seal the content elsewhere. */
export const RESEAL_CODES: ReadonlySet<string> = new Set(['store/equivocation', 'store/seq-gap', 'store/chain-mismatch', 'store/pruned'])

export interface Resealed {
  /** Envelopes that leave the outbox. */
  readonly dropped: Uint8Array[]
  /** The new envelope carrying their content (absent when there was nothing left to carry). */
  readonly added: Uint8Array | undefined
}

export class StreamWriter {
  private streamId: Uint8Array
  private nextSeq = 0
  private lastHash: Uint8Array = GENESIS_HASH
  private entries: OutEntry[] = []
  /**
   * The outbox entries not acknowledged, in outbox order: what is sent (Outgoing.pump) and counted
   * as unsynced. Kept beside the outbox because acknowledged entries wait there until seen (up to
   * a receipt cadence of them while typing), and every ack and status asked for these: a pass over
   * the whole outbox each time was quadratic in a typing burst.
   */
  private unackedSet = new Set<OutEntry>()
  /** Outbox entries by their envelope (the same object), so an ack finds its entry at once. */
  private readonly byEnv = new WeakMap<Uint8Array, OutEntry>()
  /** Highest seq of the current stream the relay stored. */
  private storedSeq = -1
  /** Streams this session abandoned, announced in the next envelope it seals. */
  private ended: EndedStream[] = []
  /** For each seq of the current stream, the highest clock per clientID sealed up to it. */
  private readonly reachAt = new Map<number, ReadonlyMap<number, number>>()
  /** Count of streams this session abandoned (tests and the status panel). */
  rotations = 0
  /** Hash and relay cursor of the highest stored envelope of the current stream. */
  private storedHead: { seq: number; hash: Uint8Array; cursor: number } | undefined
  /** Stored heads of streams this session abandoned (bounded: one per rotation). */
  private readonly finished: { stream: string; seq: number; hash: Uint8Array; cursor: number }[] = []

  constructor (private readonly sodium: Sodium, private readonly keys: SpaceKeys, private readonly device: Device) {
    this.streamId = randomBytes(STREAM_BYTES)
  }

  /** Hex of the current stream id. */
  get stream (): string { return toHex(this.streamId) }

  /** The head of this session's stream (undefined before its first envelope). */
  get head (): { stream: Uint8Array; seq: number; hash: Uint8Array } | undefined {
    return this.nextSeq === 0 ? undefined : { stream: this.streamId, seq: this.nextSeq - 1, hash: this.lastHash }
  }

  get outbox (): readonly OutEntry[] { return this.entries }

  /**
   * Envelopes the relay said it stored, kept until another member is seen holding them (a receipt
   * or a snapshot another member made): an ack is the relay's word only (DESIGN.md §12).
   */
  private readonly acked = new WeakSet<OutEntry>()

  /** Whether the relay acknowledged `o` (it is kept until seen, but not sent again unless asked). */
  isAcked (o: OutEntry): boolean { return this.acked.has(o) }

  /** Envelopes not yet acknowledged by the relay. */
  get unacked (): number { return this.unackedSet.size }

  /** A check that every envelope unacknowledged now has been acknowledged (or dropped) since: a snapshot waits on it. */
  ackedSinceNow (): () => boolean {
    const waiting = [...this.unackedSet]
    return () => waiting.every(o => !this.unackedSet.has(o))
  }

  /** The entries not yet acknowledged, in outbox order (what is sent). */
  get pending (): Iterable<OutEntry> { return this.unackedSet }

  private add (e: OutEntry, acked: boolean): void {
    this.entries.push(e)
    this.byEnv.set(e.env, e)
    if (acked) this.acked.add(e)
    else this.unackedSet.add(e)
  }

  /** Takes `gone` out of the outbox (one pass, whatever their number). */
  private remove (gone: ReadonlySet<OutEntry>): void {
    this.entries = this.entries.filter(e => !gone.has(e))
    for (const e of gone) this.unackedSet.delete(e)
  }

  /** After acks were taken back (rare): the unacknowledged ones again in outbox order. */
  private reindex (): void {
    this.unackedSet = new Set(this.entries.filter(e => !this.acked.has(e)))
  }

  /**
   * Another member holds stream `stream` up to `seq` (with `hashAtSeq` when it said which
   * envelope): the envelopes of it up to there leave the outbox. Returns them, and whether the
   * member's hash contradicts ours (then nothing leaves: that member holds another envelope).
   */
  seen (stream: string, seq: number, hashAtSeq?: Uint8Array): { dropped: Uint8Array[]; contradicts: boolean } {
    // A position past what this session sealed in its stream was never sealed here: another key
    // signed it, and nothing leaves on its word (one member naming a high seq would empty the
    // outbox). An older session's stream may have gone further than its envelopes kept here (a
    // crash can lose the outbox's last writes while the relay holds them): not judged so.
    if (stream === this.stream && seq >= this.nextSeq) return { dropped: [], contradicts: true }
    if (hashAtSeq !== undefined && hashAtSeq.length > 0) {
      const mine = this.entries.find(e => e.stream === stream && e.seq === seq)
      if (mine !== undefined && !equalBytes(hash(this.sodium, mine.env), hashAtSeq)) return { dropped: [], contradicts: true }
    }
    const out = this.entries.filter(e => e.stream === stream && e.seq <= seq)
    if (out.length === 0) return { dropped: [], contradicts: false }
    this.remove(new Set(out))
    return { dropped: out.map(e => e.env), contradicts: false }
  }

  /** Acknowledged envelopes of `stream` below `seq` are sent again (the relay says it lacks what comes before `seq`). */
  unack (stream: string, below: number): number {
    let n = 0
    for (const e of this.entries) if (e.stream === stream && e.seq < below && this.acked.delete(e)) n++
    if (n > 0) this.reindex()
    return n
  }

  /** Per stream, the acknowledged envelopes not yet seen by anyone else (what to check the relay still has). */
  unseen (): Map<string, OutEntry[]> {
    const out = new Map<string, OutEntry[]>()
    for (const e of this.entries) {
      if (!this.acked.has(e)) continue
      map.setIfUndefined(out, e.stream, (): OutEntry[] => []).push(e)
    }
    return out
  }

  /** Acknowledged envelopes the relay turned out not to hold (a read-back lacked them): sent again. */
  resend (envs: readonly Uint8Array[]): number {
    let n = 0
    for (const x of envs) {
      const e = this.byEnv.get(x) ?? this.entries.find(e => equalBytes(e.env, x))
      if (e !== undefined && this.entries.includes(e) && this.acked.delete(e)) n++
    }
    if (n > 0) this.reindex()
    return n
  }

  /** What this session sealed in its current stream up to `seq` (highest clock per clientID). */
  reachOf (seq: number): ReadonlyMap<number, number> | undefined { return this.reachAt.get(seq) }

  /**
   * Envelopes left by earlier sessions (the store's outbox): kept and resent as they are, except
   * those the relay had acknowledged (`ackedUpTo`: stream hex → highest acknowledged seq, from the
   * session state), which wait to be seen or checked (see `unseen`).
   */
  restore (envs: readonly Uint8Array[], ackedUpTo: ReadonlyMap<string, number> = new Map()): void {
    // Duplicates found by position first, then bytes: one pass, not one per envelope.
    const at = new Map<string, OutEntry[]>()
    for (const e of this.entries) at.set(`${e.stream}:${e.seq}`, [...(at.get(`${e.stream}:${e.seq}`) ?? []), e])
    for (const env of envs) {
      const p = parseEnvelope(env)
      if (!p.ok || p.value.header.type !== MsgType.update) continue
      const e: OutEntry = { env, stream: toHex(p.value.header.stream), seq: p.value.header.seq }
      const key = `${e.stream}:${e.seq}`
      const same = at.get(key) ?? []
      if (same.some(x => equalBytes(x.env, env))) continue
      at.set(key, [...same, e])
      this.add(e, p.value.header.seq <= (ackedUpTo.get(e.stream) ?? -1))
    }
  }

  /** Seals `updates` as the next envelope of this session's stream and queues it. */
  seal (updates: readonly Uint8Array[]): OutEntry {
    const seq = this.nextSeq
    const env = seal(this.sodium, this.keys, this.device, MsgType.update, { stream: this.streamId, seq, prevHash: this.lastHash }, writeBatch(updates, this.ended))
    this.ended = []
    const reach = new Map(this.reachAt.get(seq - 1) ?? [])
    for (const u of updates) for (const [c, clock] of Y.parseUpdateMeta(u).to) if ((reach.get(c) ?? 0) < clock) reach.set(c, clock)
    this.reachAt.set(seq, reach)
    // Bounded: snapshots name recent positions; an older one is simply not checked this way.
    this.reachAt.delete(seq - 4096)
    this.nextSeq = seq + 1
    this.lastHash = hash(this.sodium, env)
    const e: OutEntry = { env, stream: this.stream, seq }
    this.add(e, false)
    return e
  }

  /** The relay says it stored `env` at `cursor`: it stays in the outbox until seen (`seen`), not sent again. */
  stored (env: Uint8Array, cursor = 0): boolean {
    const e = this.byEnv.get(env) ?? this.entries.find(e => equalBytes(e.env, env))
    // Not waiting for an ack: acknowledged already, or gone from the outbox (seen, re-sealed).
    if (e === undefined || !this.unackedSet.has(e)) return false
    if (e.stream === this.stream && e.seq > this.storedSeq) {
      this.storedSeq = e.seq
      this.storedHead = { seq: e.seq, hash: hash(this.sodium, e.env), cursor }
    }
    this.acked.add(e)
    this.unackedSet.delete(e)
    return true
  }

  /**
   * Where this session's streams stand at the relay: the highest stored envelope of each. Kept in
   * the session state (meta.ts) as ordinary stream heads, so a later session of this device reads
   * these streams as anyone else's from where they stand (their start may be pruned by then).
   */
  storedHeads (): readonly { stream: string; seq: number; hash: Uint8Array; cursor: number }[] {
    const cur = this.storedHead === undefined ? [] : [{ stream: this.stream, ...this.storedHead }]
    return [...this.finished, ...cur]
  }

  /**
   * The relay refused `env` for good (a RESEAL_CODES refusal). Its content, and that of every later
   * envelope of the same stream still queued (they can only be refused next: their chain is broken),
   * is merged and sealed again in this session's stream; if the refused stream is this session's
   * own, a fresh stream is opened first. Yjs updates are idempotent, so content that did reach the
   * relay after all is merely carried twice.
   */
  refused (env: Uint8Array): Resealed {
    const first = this.entries.find(e => e.env === env || equalBytes(e.env, env))
    if (first === undefined) return { dropped: [], added: undefined }
    const victims = this.entries.filter(e => e.stream === first.stream && e.seq >= first.seq)
    const updates: Uint8Array[] = []
    for (const v of victims) {
      const o = openEnvelope(this.sodium, this.keys, v.env, { types: [MsgType.update] })
      // Our own envelope from our own store: if it cannot be opened (sealed under another key, the
      // local file damaged) there is nothing to carry.
      if (!o.ok) continue
      const b = readBatch(o.value.plaintext)
      if (b.ok) updates.push(...b.value)
    }
    this.remove(new Set(victims))
    if (first.stream === this.stream) {
      if (this.storedSeq >= 0) this.ended.push({ stream: this.streamId, seq: this.storedSeq })
      if (this.storedHead !== undefined) this.finished.push({ stream: this.stream, ...this.storedHead })
      this.storedHead = undefined
      this.storedSeq = -1
      this.reachAt.clear()
      this.streamId = randomBytes(STREAM_BYTES)
      this.nextSeq = 0
      this.lastHash = GENESIS_HASH
      this.rotations++
      // Later envelopes of the abandoned stream that were queued behind the victims are the victims.
    }
    if (updates.length === 0) return { dropped: victims.map(v => v.env), added: undefined }
    const merged = updates.length === 1 ? updates : [Y.mergeUpdates(updates)]
    const added = this.seal(merged)
    // The re-sealed content goes before anything queued after it only in seq order of its stream;
    // receivers order per stream, and Yjs waits for dependencies, so cross-stream order is free.
    return { dropped: victims.map(v => v.env), added: added.env }
  }
}
