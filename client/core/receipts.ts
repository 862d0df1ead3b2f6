import { equalBytes, fromHex, toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, open as openEnvelope, seal, type Device } from '../../shared/envelope.js'
import type { Frame } from '../../shared/frame.js'
import { MsgType, parseEnvelope } from '../../shared/header.js'
import type { SpaceKeys } from '../../shared/keys.js'
import type { Sodium } from '../../shared/sodium.js'
import { MAX_RECEIPT_HEADS, RECEIPT_STREAM, readReceipt, writeReceipt, type ReceiptBody, type ReceiptHead } from './receipt.js'
import type { StreamReader } from './reader.js'
import type { HeldSnapshot } from './snapshot.js'
import type { StreamWriter } from './writer.js'

/**
 * Receipts (DESIGN.md §7, §12), sans IO: each editor's device seals a small signed summary of the
 * stream heads it applied and the snapshot it holds, and reads everyone else's. They are how a
 * client learns what the relay did not tell it:
 *
 * - **keep-until-seen**: this device's own envelopes leave the outbox only once another member's
 *   receipt names them (same hash) or a snapshot another member made covers them (snapshot-sync);
 *   an ack is only the relay's word;
 * - **withholding**: a receipt naming a head this replica lacks makes it ask for the stream; still
 *   missing after the bound, `sync/withheld` names the member whose changes are kept back;
 * - **forks and equivocation**: another hash for a position this replica holds is
 *   `sync/equivocation` (its author signed two envelopes for one seq), another snapshot at the seq
 *   this replica holds is `sync/fork` (the relay keeps two histories); the receipt is kept;
 * - **last seen** per member (its newest receipt's time, never ahead of this clock).
 *
 * A device's receipts replace each other: an older one (by its own time) is a replay and ignored.
 * View-only devices hold no write certificate: they read receipts but send none.
 */
/** How long a stream a receipt showed ahead of this replica waits before it is asked for (ms). */
const ASK_DELAY_MS = 300

export interface ReceiptsHost {
  readonly sodium: Sodium
  readonly keys: SpaceKeys
  readonly device: Device | undefined
  readonly devicePkHex: string
  readonly reader: StreamReader
  readonly writer: StreamWriter | undefined
  readonly withholdMs: number
  held (): HeldSnapshot | undefined
  send (f: Frame): boolean
  nextReqId (): number
  alert (code: string, message: string, extra: { author?: string }): void
  /** Own envelopes another member holds: they leave the outbox (persist the drop). */
  dropOwn (envs: Uint8Array[]): void
  /** Ask the relay for a stream from `fromSeq` (applied through the reader as usual). */
  fetchStream (author: Uint8Array, stream: Uint8Array, fromSeq: number): void
  /** A receipt names snapshot `seq`, newer than this replica holds: look for it. */
  newerSnapshot (seq: number): void
  /** Take in a kept snapshot that names changes the relay no longer serves (a pruned stretch). */
  catchUp? (snapshotEnvelope: Uint8Array): Promise<void>
  now (): number
}

export interface ReceiptEvidence {
  readonly code: string
  /** Hex key of the device whose receipt shows it. */
  readonly device: string
  readonly receipt: Uint8Array
  /** What this replica holds at that position. */
  readonly mine: Uint8Array
}

export class Receipts {
  /** Hex device key → the time of its newest receipt (ms, capped at this clock). */
  readonly lastSeen = new Map<string, number>()
  readonly evidence: ReceiptEvidence[] = []
  readonly stats = { sent: 0, received: 0, replays: 0, dropped: 0 }
  /** Newest receipt time per device (its own clock): older ones are replays. */
  private readonly newest = new Map<string, number>()
  /** Stream key → what a receipt showed that this replica lacks (while it asks the relay for it). */
  private readonly owed = new Map<string, { seq: number; device: string; since: number; author: string; askedAt: number; head: ReceiptHead }>()
  private readonly alerted = new Set<string>()
  private lastSentAt = 0
  /**
   * Stream keys a receipt named, this device's last or another member's since: a stream held and
   * not in here is one nobody has said they hold (receipt-sync.ts sends a receipt soon for it).
   * Rebuilt with each receipt this device makes, so it stays within the streams this replica holds.
   */
  private named = new Set<string>()
  /** The seq of the snapshot this replica holds as another member's receipt named it (same hash). */
  private echoed = -1
  /** Owed streams to ask the relay for when `askTimer` fires (askSoon). */
  private readonly toAsk = new Set<string>()
  private askTimer: ReturnType<typeof setTimeout> | undefined
  /** Author + certificate pairs whose certificate verified (bounded; a full set stops caching). */
  private readonly certOk = new Set<string>()

  constructor (private readonly h: ReceiptsHost) {}

  /** Seals this device's receipt (undefined for a view-only device). */
  make (): Frame | undefined {
    const device = this.h.device
    if (device === undefined) return undefined
    const at = Math.max(this.h.now(), this.lastSentAt + 1)
    this.lastSentAt = at
    const heads: ReceiptHead[] = []
    for (const h of this.h.writer?.storedHeads() ?? []) heads.push({ author: device.publicKey, stream: hexBytes(h.stream), seq: h.seq, hash: h.hash })
    // Streams with a hash first (recently active), then folded ones, up to the cap.
    const all = [...this.h.reader.heads].sort((a, b) => (b[1].hash.length - a[1].hash.length) || ((b[1].cursor ?? 0) - (a[1].cursor ?? 0)))
    const named = new Set<string>()
    for (const [sk, head] of all) {
      if (head.claimUpTo !== undefined && head.seq <= head.claimUpTo) continue
      // Past the cap too: the oldest streams are left out of every receipt alike, and must not
      // make each new stream look unnamed.
      named.add(sk)
      if (heads.length >= MAX_RECEIPT_HEADS) continue
      const [a, s] = sk.split(':')
      heads.push({ author: hexBytes(a!), stream: hexBytes(s!), seq: head.seq, hash: head.hash })
    }
    this.named = named
    const held = this.h.held()
    const body: ReceiptBody = { at, snapshot: held === undefined ? undefined : { seq: held.seq, hash: held.hash }, heads }
    const env = seal(this.h.sodium, this.h.keys, device, MsgType.receipt, { stream: RECEIPT_STREAM, seq: Math.floor(at / 1000) >>> 0, prevHash: GENESIS_HASH }, writeReceipt(body))
    this.stats.sent++
    return { type: 'receipt', reqId: this.h.nextReqId(), spaceId: this.h.keys.spaceId, envelope: env }
  }

  /** A receipt envelope from the relay. */
  receive (env: Uint8Array): void {
    // A device's write certificate is checked once (as reader.ts does for updates): every member
    // gets every other's receipts, so each check is paid members² times.
    const p = parseEnvelope(env)
    const certKey = p.ok ? toHex(p.value.header.author) + toHex(p.value.header.cert) : ''
    const o = openEnvelope(this.h.sodium, this.h.keys, env, { types: [MsgType.receipt], certOk: this.certOk.has(certKey) })
    if (o.ok && this.certOk.size < 4096) this.certOk.add(certKey)
    // Not blamed on anyone: the relay stores receipts it could not read; it may have altered one.
    if (!o.ok) { this.once(`bad:${o.code}`, 'receipt/invalid', `a receipt did not verify (${o.code}); ignored`, {}); return }
    const device = toHex(o.value.header.author)
    if (device === this.h.devicePkHex) return
    const body = readReceipt(o.value.plaintext)
    if (!body.ok) { this.once(`malformed:${device}`, 'receipt/malformed', `a member's receipt does not parse: ${body.message}`, { author: device }); return }
    const b = body.value
    if (b.at <= (this.newest.get(device) ?? -1)) { this.stats.replays++; return }
    this.newest.set(device, b.at)
    this.stats.received++
    this.lastSeen.set(device, Math.min(b.at, this.h.now()))
    const now = this.h.now()
    for (const head of b.heads) {
      const author = toHex(head.author)
      const stream = toHex(head.stream)
      if (author === this.h.devicePkHex) {
        this.ownSeen(stream, head, device, env)
        continue
      }
      const sk = `${author}:${stream}`
      // Only another device's word counts: a device naming its own streams keeps nothing out of
      // an outbox (its own receipts are ignored for that).
      if (author !== device) this.named.add(sk)
      const mine = this.h.reader.heads.get(sk)
      if (this.h.reader.stuck.has(sk)) continue
      if (mine === undefined || mine.seq < head.seq) {
        // Ask for it; if the relay does not serve it within the bound, say so (check()).
        const was = this.owed.get(sk)
        if (was === undefined || was.seq < head.seq) {
          this.owed.set(sk, { seq: head.seq, device, since: was?.since ?? now, author, askedAt: now, head })
          this.askSoon(sk)
        }
        continue
      }
      const have = this.h.reader.hashAt(sk, head.seq)
      if (have !== undefined && head.hash.length > 0 && !equalBytes(have, head.hash)) {
        this.keep('sync/equivocation', device, env, have)
        this.h.reader.equivocated.add(author)
        this.once(`eq:${sk}:${head.seq}`, 'sync/equivocation', `a member holds another envelope for seq ${head.seq} of a stream than this device does: its author signed two versions, and the relay gave each side one`, { author })
      }
    }
    const held = this.h.held()
    if (b.snapshot !== undefined) {
      if (held !== undefined && b.snapshot.seq === held.seq && equalBytes(b.snapshot.hash, held.hash)) this.echoed = held.seq
      if (held !== undefined && b.snapshot.seq === held.seq && !equalBytes(b.snapshot.hash, held.hash)) {
        this.keep('sync/fork', device, env, held.hash)
        this.once(`fork:${held.seq}`, 'sync/fork', `a member holds another snapshot #${held.seq} than this device: the relay is keeping two histories of this space`, {})
      } else if (held === undefined || b.snapshot.seq > held.seq) {
        this.h.newerSnapshot(b.snapshot.seq)
      }
    }
  }

  /**
   * Asks for an owed stream `ASK_DELAY_MS` later, if it is still owed then. While people type, a
   * receipt usually names envelopes already on their way here (the relay forwards them, the
   * receipt overtook nothing): asking at once made every member fetch every other's stream after
   * every receipt, N² requests per snapshot round (fan-out p99 at 50 readers went from 134 to 635 ms).
   */
  private askSoon (sk: string): void {
    this.toAsk.add(sk)
    if (this.askTimer !== undefined) return
    this.askTimer = setTimeout(() => {
      this.askTimer = undefined
      const todo = [...this.toAsk]
      this.toAsk.clear()
      for (const k of todo) {
        const o = this.owed.get(k)
        const have = this.h.reader.heads.get(k)?.seq ?? -1
        if (o === undefined || have >= o.seq || this.h.reader.stuck.has(k)) continue
        o.askedAt = this.h.now()
        this.h.fetchStream(o.head.author, o.head.stream, have + 1)
      }
    }, Math.min(ASK_DELAY_MS, this.h.withholdMs / 4))
    ;(this.askTimer as { unref?: () => void }).unref?.()
  }

  /** Stops the pending ask (the session closed). */
  close (): void {
    if (this.askTimer !== undefined) clearTimeout(this.askTimer)
    this.askTimer = undefined
    this.toAsk.clear()
  }

  /** Streams receipts showed further than this replica holds, from where it stands. */
  owedStreams (): { sk: string; fromSeq: number }[] {
    return [...this.owed].map(([sk]) => ({ sk, fromSeq: (this.h.reader.heads.get(sk)?.seq ?? -1) + 1 }))
  }

  /**
   * What receipts showed and the relay still has not served after the bound, by stream. `covered`
   * tells which of them a snapshot the relay keeps names (this replica is behind a pruned stretch,
   * not withheld from): those are forgotten; the rest are alerted as withheld.
   */
  late (): { sk: string; author: string; device: string; count: number }[] {
    const now = this.h.now()
    const out: { sk: string; author: string; device: string; count: number }[] = []
    for (const [sk, o] of this.owed) {
      const have = this.h.reader.heads.get(sk)?.seq ?? -1
      if (have >= o.seq || this.h.reader.stuck.has(sk)) { this.owed.delete(sk); continue }
      if (now - o.since < this.h.withholdMs) continue
      // Asked again each bound: a relay that withheld it may serve it now (nothing else would ask
      // once receipts stop changing), and the alert stands until it does.
      if (now - o.askedAt >= this.h.withholdMs) {
        o.askedAt = now
        this.h.fetchStream(o.head.author, o.head.stream, have + 1)
      }
      out.push({ sk, author: o.author, device: o.device, count: o.seq - have })
    }
    return out
  }

  /** Alerts the late ones not `covered` (stream keys a kept snapshot names far enough). */
  check (covered: ReadonlySet<string> = new Set()): void {
    const byAuthor = new Map<string, { count: number; device: string }>()
    for (const l of this.late()) {
      // Behind a stretch a kept snapshot names: not alerted (it may be pruned under it), still asked for.
      if (covered.has(l.sk)) continue
      const a = byAuthor.get(l.author) ?? { count: 0, device: l.device }
      a.count += l.count
      byAuthor.set(l.author, a)
    }
    for (const [author, l] of byAuthor) {
      this.once(`withheld:${author}:${l.count}`, 'sync/withheld', `the relay is withholding ${l.count} change(s) of a member that another member's receipt (device ${l.device.slice(0, 8)}) shows it holds`, { author })
    }
  }

  /** After this long a change a receipt shows and the relay does not serve is alerted (ms). */
  get withholdMs (): number { return this.h.withholdMs }

  /**
   * Whether another member's receipt already named the snapshot this replica holds, with the same
   * hash: a receipt of ours saying the same adds nothing another member needs (receipt-sync.ts).
   */
  echoes (held: { seq: number } | undefined): boolean { return held !== undefined && this.echoed === held.seq }

  /** Whether receipts show changes this replica still lacks (for the status line). */
  get owing (): number { return this.owed.size }

  /**
   * Other devices' streams this replica holds that no receipt has named (its own last one or
   * another member's since, its author's own aside), with their seq: their writers wait for
   * someone to say so before their envelopes leave their outboxes. Positions known only from a
   * snapshot's claim do not count (a receipt does not name them).
   */
  unnamed (): Map<string, number> {
    const out = new Map<string, number>()
    const own = this.h.devicePkHex + ':'
    for (const [sk, head] of this.h.reader.heads) {
      if (head.claimUpTo !== undefined && head.seq <= head.claimUpTo) continue
      if (!this.named.has(sk) && !sk.startsWith(own)) out.set(sk, head.seq)
    }
    return out
  }

  /** Sent at most every `intervalMs` unless `force` (after a snapshot, on joining). */
  due (intervalMs: number, force = false): boolean {
    return this.h.device !== undefined && (force || this.h.now() - this.lastSentAt >= intervalMs)
  }

  private ownSeen (stream: string, head: ReceiptHead, device: string, env: Uint8Array): void {
    const w = this.h.writer
    if (w === undefined) return
    const r = w.seen(stream, head.seq, head.hash)
    if (r.contradicts) {
      this.keep('sync/equivocation', device, env, new Uint8Array(0))
      this.once(`own:${stream}:${head.seq}`, 'sync/equivocation', `a member holds an envelope for seq ${head.seq} of this device's stream that this device did not seal: this device's key may be in other hands`, { author: device })
      return
    }
    if (r.dropped.length > 0) {
      this.stats.dropped += r.dropped.length
      this.h.dropOwn(r.dropped)
    }
  }

  private keep (code: string, device: string, receipt: Uint8Array, mine: Uint8Array): void {
    this.evidence.push({ code, device, receipt, mine })
    if (this.evidence.length > 64) this.evidence.shift()
  }

  private once (key: string, code: string, message: string, extra: { author?: string }): void {
    if (this.alerted.has(key)) return
    this.alerted.add(key)
    if (this.alerted.size > 10_000) this.alerted.clear()
    this.h.alert(code, message, extra)
  }
}

/** Hex keys here are this session's own (stream ids, device keys): never malformed. */
const hexBytes = (h: string): Uint8Array => fromHex(h) ?? new Uint8Array(0)
