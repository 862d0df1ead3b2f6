import { equalBytes, fromHex, toHex } from '../../shared/bytes.js'
import type { Frame, FrameOf } from '../../shared/frame.js'
import { open as openEnvelope } from '../../shared/envelope.js'
import { MsgType, parseEnvelope } from '../../shared/header.js'
import { Receipts, type ReceiptsHost } from './receipts.js'
import { readSnapshotBody } from './snapshot.js'
import { fallbackRank } from './snapshot-cadence.js'
import type { StreamHeadRef } from './snapshot.js'

/**
 * When receipts are sent and what a session does with them (receipts.ts does the judging):
 *
 * - sent once joined and caught up, soon after each snapshot this replica holds (by at most
 *   `ANSWERERS` members in turn, at most one per 5 s: snapshotHeld), and at most every `receiptMs`
 *   while what it holds changes (longer beyond `PER_PERIOD` editors; every 5 × `receiptMs` anyway,
 *   for "last seen");
 * - and soon (`PROMPT_MS` to twice that, at random) after a stream no receipt has named yet shows
 *   up and then stays quiet: a session that wrote and left (or paused), whose writer keeps its
 *   envelopes in its outbox until a member is seen holding them. A CLI command is a session of its
 *   own; waiting for the 30 s receipt, a device running commands in a row carried each one's
 *   envelopes, and their stream heads in every write of its session state, into the next (500
 *   commands: 107 ms each instead of 44, journal 7.1 MB instead of 2.3). A stream still being
 *   written is left to the cadence (its writer is online; answering it would only add receipts).
 *   One member saying so is enough: a member that sees another's receipt name the stream first
 *   sends none (receipts.ts `unnamed`), so the N members of a space do not all answer each session;
 * - a snapshot or a quiet stream is answered by at most `ANSWERERS` members, in turn;
 * - the withholding bound is checked on the same tick;
 * - **read-back**: envelopes the relay acknowledged and nobody has been seen holding yet are asked
 *   back from the relay (`fetchStream` of this device's stream) on joining and on each tick; any it
 *   does not serve were never stored (a forged ack, a lost write) and are sent again. So an ack
 *   changes nothing but the order of sending.
 */
/** Streams read back per tick. */
const AUDIT_STREAMS = 8
/** At most one receipt per this long is due to snapshots (snapshotHeld). */
const SNAPSHOT_RECEIPT_MS = 5000
/** A stream no receipt named yet makes a receipt due this long (to twice this, at random) after it shows up. */
const PROMPT_MS = 500
/**
 * At most this many members answer one snapshot or one quiet new stream, one after another, in an
 * order every member derives alike (a hash of the snapshot or stream and the device key), each
 * skipping its turn once another's receipt said it; the rest leave it to the cadence. Every member
 * answering at a random moment within 2.5 s made 54 receipts per snapshot with 100 members in a
 * busy process (each one opened by all 100): a receipt takes longer than that to reach the others.
 */
const ANSWERERS = 3
/** Up to this many editors, each sends its receipt every `receiptMs` while what it holds changes; beyond, less often (send). */
const PER_PERIOD = 10

export interface ReceiptSyncHost extends Omit<ReceiptsHost, 'now' | 'withholdMs'> {
  /** Joined and caught up. */
  ready (): boolean
  /** Calls `fn` each time remote content was applied; returns the unsubscribe. */
  onRemote (fn: () => void): () => void
  request (make: (reqId: number) => Frame, timeoutMs?: number): Promise<Frame>
  /** Send again what is no longer marked acknowledged. */
  requeue (): void
  /** Devices (hex) of the members who may answer: editors seen lately, this one included. */
  answerers (): Iterable<string>
}

export interface ReceiptSyncOptions {
  readonly receiptMs: number
  readonly withholdMs: number
  /** Send nothing and read nothing back: the benchmark's baseline for pricing receipts (SpaceOptions.receipts). */
  readonly off?: boolean
}

export class ReceiptSync {
  readonly receipts: Receipts
  private timer: ReturnType<typeof setInterval> | undefined
  private lastSig = ''
  private lastSentAt = 0
  private auditing = false
  private judging = false
  private prompt: ReturnType<typeof setTimeout> | undefined
  /** The receipt due after a snapshot (snapshotHeld), and when the last such was sent. */
  private snapTimer: ReturnType<typeof setTimeout> | undefined
  private lastSnapAt = 0
  /** Stream heads this replica held when a prompt receipt was last considered. */
  private headsSeen = 0
  private offRemote: (() => void) | undefined
  /** Envelopes the relay served back once: not asked for again. */
  private readonly readBack = new WeakSet<object>()

  constructor (private readonly h: ReceiptSyncHost, private readonly opts: ReceiptSyncOptions) {
    this.receipts = new Receipts({ ...h, withholdMs: opts.withholdMs, now: () => Date.now() })
  }

  start (): void {
    if (this.timer !== undefined || this.opts.off === true) return
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.min(this.opts.receiptMs, this.opts.withholdMs / 2)))
    // A timer must not keep a CLI process alive.
    ;(this.timer as { unref?: () => void }).unref?.()
    this.offRemote = this.h.onRemote(() => this.heard())
  }

  stop (): void {
    this.receipts.close()
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    if (this.prompt !== undefined) clearTimeout(this.prompt)
    this.prompt = undefined
    if (this.snapTimer !== undefined) clearTimeout(this.snapTimer)
    this.snapTimer = undefined
    for (const t of this.turns) clearTimeout(t)
    this.turns.clear()
    this.offRemote?.()
    this.offRemote = undefined
  }

  /**
   * Remote content was applied. A new stream head (counted, so this stays O(1) per apply) makes
   * this replica look again soon at the streams no receipt named yet.
   */
  private heard (): void {
    const n = this.h.reader.heads.size
    if (this.prompt !== undefined || n === this.headsSeen) return
    this.headsSeen = n
    this.promptLater(this.receipts.unnamed())
  }

  /**
   * A receipt is sent if a stream no receipt has named (its own last one or another member's since)
   * is where it was (`before`: stream key → seq) a moment ago; while the unnamed ones are still
   * being written, it looks again later.
   */
  private promptLater (before: ReadonlyMap<string, number>): void {
    if (before.size === 0 || this.timer === undefined) return
    const ms = Math.min(PROMPT_MS, this.opts.receiptMs)
    this.prompt = setTimeout(() => {
      this.prompt = undefined
      const now = this.receipts.unnamed()
      const quiet = [...now].filter(([sk, seq]) => before.get(sk) === seq).map(([sk]) => sk).sort()
      if (quiet.length === 0) { this.promptLater(now); return }
      // Its author's own receipt does not count (receipts.ts): the others take turns.
      const sk = quiet[0] as string
      const rank = this.rank(`stream:${sk}`, sk.slice(0, sk.indexOf(':')))
      if (rank === 0) this.send(true)
      else if (rank !== undefined) this.later(rank * 2 * ms, () => { if (this.receipts.unnamed().has(sk)) this.send(true) })
    }, ms * (1 + Math.random()))
    ;(this.prompt as { unref?: () => void }).unref?.()
  }

  /** This device's place among the members answering `what` (see ANSWERERS); undefined: not one of them. */
  private rank (what: string, exclude = ''): number | undefined {
    const r = fallbackRank(this.h.answerers(), exclude, what, this.h.devicePkHex)
    return r < ANSWERERS ? r : undefined
  }

  /** A turn after `ms` (unref'd, cleared on stop). */
  private later (ms: number, fn: () => void): void {
    const t = setTimeout(() => { this.turns.delete(t); fn() }, ms)
    ;(t as { unref?: () => void }).unref?.()
    this.turns.add(t)
  }

  private readonly turns = new Set<ReturnType<typeof setTimeout>>()

  onReceipts (f: FrameOf<'receipts'>): void {
    for (const env of f.envelopes) this.receipts.receive(env)
  }

  /** Joined and caught up (again): say what this replica holds, check what the relay acknowledged. */
  caughtUp (): void {
    if (this.opts.off === true) return
    this.send(true)
    void this.audit()
  }

  /**
   * A snapshot was made or accepted here: a receipt is due from the first `ANSWERERS` members in
   * the order of this snapshot's hash, one per half gap (`SNAPSHOT_RECEIPT_MS`, or `receiptMs` if
   * shorter), at a random point of it, at most one such per gap; each skips its turn once a
   * receipt naming the same snapshot (hash and all) arrived. Every member answering at once sent N
   * receipts in one burst, each fanned out to N members (fan-out p99 at 50 readers: 635 ms against
   * 134 without receipts); every member at a random moment still sent dozens when receipts took
   * longer than the spread to arrive. A member shown another snapshot at that seq (a fork) ranks by
   * that one's hash: the first receipt from either side that reaches the other raises `sync/fork`
   * there; if no answerer of either side holds its own side's snapshot, the cadence says it.
   */
  snapshotHeld (): void {
    if (this.opts.off === true || this.snapTimer !== undefined) return
    const held = this.h.held()
    const rank = held === undefined ? 0 : this.rank(`snapshot:${toHex(held.hash)}`)
    if (rank === undefined) return
    const gap = Math.min(SNAPSHOT_RECEIPT_MS, this.opts.receiptMs)
    const wait = Math.max(0, this.lastSnapAt + gap - Date.now()) + rank * gap / 2 + Math.random() * gap / 2
    this.snapTimer = setTimeout(() => {
      this.snapTimer = undefined
      this.lastSnapAt = Date.now()
      // Another member said it first (same snapshot, same hash): its writers' envelopes are seen,
      // a withheld or forked member learns from that one; ours follows at the cadence.
      if (!this.receipts.echoes(this.h.held())) this.send(true)
    }, wait)
    ;(this.snapTimer as { unref?: () => void }).unref?.()
  }

  /** A snapshot another member made covers these heads: this device's envelopes under them were seen. */
  coveredBy (heads: readonly StreamHeadRef[]): void {
    const w = this.h.writer
    if (w === undefined) return
    for (const head of heads) {
      if (toHex(head.author) !== this.h.devicePkHex) continue
      const r = w.seen(toHex(head.stream), head.seq, head.hash)
      if (r.dropped.length > 0) this.h.dropOwn(r.dropped)
    }
  }

  private tick (): void {
    if (!this.h.ready()) return
    void this.judgeLate()
    this.send(false)
    void this.audit()
  }

  /**
   * Changes a receipt showed and the relay did not serve: withheld, unless a snapshot the relay
   * keeps names them (this replica is behind a stretch pruned under it; it looks for that snapshot).
   */
  private async judgeLate (): Promise<void> {
    const late = this.receipts.late()
    if (late.length === 0 || this.judging) return
    this.judging = true
    try {
      const covered = new Set<string>()
      const r = await this.h.request(reqId => ({ type: 'listSnapshots', reqId, spaceId: this.h.keys.spaceId, limit: 4 }))
      if (r.type === 'snapshots') {
        for (const x of r.snapshots) {
          const o = openEnvelope(this.h.sodium, this.h.keys, x.envelope, { types: [MsgType.snapshot] })
          const body = o.ok ? readSnapshotBody(o.value.plaintext) : undefined
          if (body?.ok !== true) continue
          for (const h of body.value.heads) {
            const sk = `${toHex(h.author)}:${toHex(h.stream)}`
            const l = late.find(x => x.sk === sk)
            if (l !== undefined && h.seq >= (this.h.reader.heads.get(sk)?.seq ?? -1) + l.count) covered.add(sk)
          }
          if (covered.size > 0) void this.h.catchUp?.(x.envelope)
          if (body.value.heads.length > 0 && o.ok) this.h.newerSnapshot(o.value.header.seq)
        }
      }
      this.receipts.check(covered)
    } finally {
      this.judging = false
    }
  }

  private send (force: boolean): void {
    if (!this.h.ready() || this.h.device === undefined) return
    const sig = this.signature()
    const since = Date.now() - this.lastSentAt
    if (!force) {
      if (since < this.opts.receiptMs) return
      // In a space of more than PER_PERIOD editors the cadence stretches with their number: each
      // receipt names every stream (one per writer) and goes to every member, so N members on a
      // fixed cadence cost N³ (50 typists: 416 KB of receipts each in 72 s). A member still hears
      // one about every receiptMs / PER_PERIOD, as in a small space. Counted when due, not once:
      // at the join receipt the members' records have not arrived yet. At most 5 × receiptMs: a
      // hostile editor can mint certified devices with records dated now, and would otherwise
      // stretch everyone's receipts (what shows a lying relay) without bound.
      const every = this.opts.receiptMs * Math.min(5, Math.max(1, [...this.h.answerers()].length / PER_PERIOD))
      const stale = since >= this.opts.receiptMs * 5
      if (!stale && (sig === this.lastSig || since < every)) return
    }
    const f = this.receipts.make()
    if (f === undefined) return
    this.lastSig = sig
    this.lastSentAt = Date.now()
    void this.h.request(reqId => ({ ...f, reqId } as Frame))
  }

  /** What a receipt would say, cheaply: it is sent again only when this changed. */
  private signature (): string {
    let n = 0
    let k = 0
    for (const h of this.h.reader.heads.values()) { n += h.seq; k++ }
    for (const h of this.h.writer?.storedHeads() ?? []) { n += h.seq; k++ }
    const held = this.h.held()
    return `${k}:${n}:${held?.seq ?? -1}`
  }

  /**
   * Own envelopes the snapshots the relay keeps hold: those leave the outbox. A snapshot of another
   * member naming this device's stream with the right hash shows that member held them; this
   * device's own snapshot served back shows the relay holds their content (it may prune the log
   * under it once another member attested it: a read-back racing that prune found them gone and
   * cried `sync/ack-unbacked`). Signed snapshots only: the relay can forge neither. False when the
   * relay did not answer (nothing may be judged lost then).
   */
  private async keptCover (): Promise<boolean> {
    const w = this.h.writer
    if (w === undefined) return false
    const r = await this.h.request(reqId => ({ type: 'listSnapshots', reqId, spaceId: this.h.keys.spaceId, limit: 4 }))
    if (r.type !== 'snapshots') return false
    for (const x of r.snapshots) {
      const o = openEnvelope(this.h.sodium, this.h.keys, x.envelope, { types: [MsgType.snapshot] })
      const body = o.ok ? readSnapshotBody(o.value.plaintext) : undefined
      if (body?.ok !== true) continue
      for (const head of body.value.heads) {
        // A folded head (position only: the stream was idle) counts too; it is how an ended
        // session's stream appears in later snapshots, exactly the stretch a prune removes.
        if (toHex(head.author) !== this.h.devicePkHex) continue
        const seen = w.seen(toHex(head.stream), head.seq, head.hash)
        if (seen.dropped.length > 0) this.h.dropOwn(seen.dropped)
      }
    }
    return true
  }

  /** Asks the relay for what it acknowledged of this device's streams and nobody was seen holding. */
  private async audit (): Promise<void> {
    const w = this.h.writer
    const device = this.h.device
    if (w === undefined || device === undefined || this.auditing) return
    this.auditing = true
    try {
      let missing = 0
      let keptChecked = false
      // The most recent streams first, a few per tick: a lone writer's outbox keeps every session's
      // envelopes until another member shows up, and each is read back once per session.
      const streams = [...w.unseen()].map(([stream, all]) => [stream, all.filter(e => !this.readBack.has(e))] as const).filter(([, todo]) => todo.length > 0)
      for (const [stream, todo] of streams.reverse().slice(0, AUDIT_STREAMS)) {
        const fromSeq = Math.min(...todo.map(e => e.seq))
        const r = await this.h.request(reqId => ({ type: 'fetchStream', reqId, spaceId: this.h.keys.spaceId, author: device.publicKey, stream: hexBytes(stream), fromSeq, limit: 512 }))
        if (r.type !== 'entries' || r.more) continue
        // By position, then bytes: one pass over each side, not every pair (a burst of typing
        // puts hundreds of envelopes on each side).
        const served = new Map<number, Uint8Array[]>()
        for (const x of r.entries) {
          const p = parseEnvelope(x.envelope)
          if (p.ok) served.set(p.value.header.seq, [...(served.get(p.value.header.seq) ?? []), x.envelope])
        }
        const lost: Uint8Array[] = []
        for (const e of todo) {
          if (served.get(e.seq)?.some(x => equalBytes(x, e.env)) === true) this.readBack.add(e)
          else lost.push(e.env)
        }
        // Not served may mean pruned under a snapshot that holds them (once another member
        // attested it): those leave the outbox instead (keptCover), and only the rest are lost.
        // Unanswered (offline, closing): nothing is judged this round; the next tick asks again.
        if (lost.length > 0 && !keptChecked) {
          if (!await this.keptCover()) return
          keptChecked = true
        }
        if (lost.length > 0) missing += w.resend(lost)
      }
      if (missing > 0) {
        this.h.alert('sync/ack-unbacked', `the relay acknowledged ${missing} change(s) it does not hold; they are sent again`, {})
        this.h.requeue()
      }
    } finally {
      this.auditing = false
    }
  }
}

/** Hex keys here are this session's own (stream ids, device keys): never malformed. */
const hexBytes = (h: string): Uint8Array => fromHex(h) ?? new Uint8Array(0)
