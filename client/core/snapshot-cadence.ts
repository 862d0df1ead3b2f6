/**
 * When this replica makes a snapshot (DESIGN.md §5), sans the snapshot itself (snapshot-sync.ts):
 *
 * - **one member at a time**: every member counts the same log in the same order (its own
 *   envelopes when the relay acknowledges them, which comes after every entry below them; the
 *   others' as they are applied; each by its envelope's length), so all agree on the envelope that
 *   crossed the threshold. Its writer goes at once (a little jitter); if no snapshot came by
 *   `FALLBACK_MS` (that writer left, or could not), the other writers of the log since the last
 *   snapshot take over one at a time, in an order every member derives alike from the crossing
 *   envelope's cursor (`fallbackRank`), `FALLBACK_MS` apart; a snapshot they take in meanwhile
 *   resets the count. Fallbacks drawn at random from 1–2 s all fired together with 100 writers in
 *   a busy process (dozens of attempts for one stored). The idle snapshot likewise: the last writer
 *   first. Every member answering every threshold was 88 attempts for 3 stored snapshots with 50
 *   editors; counting own envelopes when sealed (before the relay ordered them) let every writer
 *   whose envelope was in flight at the crossing think it crossed (100 map writers: 24–91
 *   attempts for 2 stored). View-only devices never try.
 * - **in proportion to the state**: a snapshot by count or idleness also waits until the envelope
 *   bytes since the last one reach `stateFactor` × that snapshot's state. A snapshot uploads the
 *   whole state: one every 256 envelopes made a writer's upload per keystroke grow with the
 *   document (75× the plaintext server's at 250k ops); in proportion it stays flat, and a cold
 *   join still downloads at most the state and that fraction of it again (or MIN_SNAPSHOT_LOG_BYTES
 *   for a small state: a short history gets its snapshot soon).
 */
export interface SnapshotPolicy {
  readonly snapshotEvery: number
  readonly snapshotBytes: number
  readonly snapshotIdleMs: number
  /** See above; 0: count and idleness alone decide. */
  readonly stateFactor: number
}

/** Where an envelope sits in the log: its author (device key, hex) and cursor. */
export interface LogPlace {
  readonly author: string
  readonly cursor: number
}

export interface SnapshotCadenceHost {
  /** False for a view-only device: it never snapshots. */
  canSnapshot (): boolean
  snapshot (): void
  /** Bytes of the current state when a snapshot is held (measured once per session), else undefined. */
  stateBytes (): number | undefined
  /** This device's key (hex): its place in the fallback order. */
  readonly me: string
}

/**
 * This device's place in the order in which the writers other than the crosser take over a
 * snapshot turn: every member ranks the same writers by a hash of (crossing cursor, writer), so
 * they agree without a word, and the order changes from one threshold to the next. Also the order
 * of the members answering a snapshot or a stream with receipts (receipt-sync.ts), and of those
 * sealing one as they close (`closes`): `seed` is then what they answer.
 */
export function fallbackRank (writers: Iterable<string>, crosser: string, seed: number | string, me: string): number {
  const mine = fnv1a(`${seed}:${me}`)
  let rank = 0
  for (const w of writers) {
    if (w === me || w === crosser) continue
    const h = fnv1a(`${seed}:${w}`)
    if (h < mine || (h === mine && w < me)) rank++
  }
  return rank
}

/** FNV-1a, 32 bits: spreading, not security (a member who games its rank only snapshots or answers sooner or later; devices minted to take the receipt turns leave them to the cadence: PROTOCOL.md, Receipts). */
function fnv1a (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0
  return h
}

/**
 * A snapshot is due once the envelope bytes since the last one reach the larger of this and the
 * state's size (× stateFactor), even before `snapshotEvery` envelopes: a short history (or a small
 * space) gets its snapshot early, while its writer and readers are still there to make and attest
 * it, so a later cold joiner downloads about the state and at most this much log (10,000 typed ops:
 * 152 KB of log for 16 KB of state). The floor keeps small spaces from snapshotting every few
 * keystrokes (each snapshot is checked by every member).
 */
export const MIN_SNAPSHOT_LOG_BYTES = 32 * 1024
/**
 * The floor above makes a snapshot due at most this often (the first one aside): ten members at one
 * op per 2 ms made one every half second, each checked by every member (twice the CPU per op).
 */
export const MIN_SNAPSHOT_FLOOR_INTERVAL_MS = 10_000

/**
 * How long the crosser, then each writer in the fallback order, has for its snapshot before the
 * next one tries: enough to make, upload and announce it on a busy device.
 */
const FALLBACK_MS = 3000
/** Members who wrote nothing since the last snapshot and still seal one as they close (`closes`). */
const CLOSE_SNAPSHOTTERS = 3
/** The idle snapshot's fallback, after the idle time itself. */
const IDLE_FALLBACK_MS = 1000
/** The member whose own envelope crossed it waits up to this long: members whose counts differ a little (a snapshot seen at another point) and both think they crossed mostly see the first one's doorbell first. */
const OWN_JITTER_MS = 250

export class SnapshotCadence {
  /** Envelopes and their bytes since the last snapshot made or taken here. */
  since = { envelopes: 0, bytes: 0 }
  private timer: ReturnType<typeof setTimeout> | undefined
  /** The pending `timer` is this device's own turn (not a fallback). */
  private ownTurn = false
  private idleTimer: ReturnType<typeof setTimeout> | undefined
  /** When a snapshot was last made, taken or seen here (ms since the epoch). */
  private lastAt = Number.NEGATIVE_INFINITY
  /** State bytes of the newest snapshot made or taken here (undefined: not known yet this session). */
  private stateBytes: number | undefined
  /** Authors of the envelopes counted since the last snapshot: who may take over a turn. */
  private writers = new Set<string>()

  constructor (private readonly policy: SnapshotPolicy, private readonly h: SnapshotCadenceHost) {}

  /**
   * An envelope of this replica's stored by the relay (`own`: at its ack), or another's applied,
   * at `at` in the log (without it, as in unit tests, a fallback waits `FALLBACK_MS` to twice).
   */
  note (bytes: number, own: boolean, at?: LogPlace): void {
    const able = this.h.canSnapshot()
    const was = able && this.due()
    this.since.envelopes++
    this.since.bytes += bytes
    if (at !== undefined) this.writers.add(at.author)
    if (!able) return
    // Only the envelope that crossed the threshold gives its sealer the turn: when any own
    // envelope sealed while due did, every member typing took it within a round trip (20
    // typists: 80 attempts for 5 snapshots). A turn that passed without a snapshot (one was under
    // way or waiting to be checked) is retried by fallback.
    const crossed = !was && this.due()
    if ((crossed && (this.timer === undefined || (own && !this.ownTurn))) || (was && this.timer === undefined)) {
      if (this.timer !== undefined) clearTimeout(this.timer)
      const mine = crossed && own
      this.ownTurn = mine
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.ownTurn = false
        if (this.due()) this.h.snapshot()
      }, mine ? Math.floor(Math.random() * OWN_JITTER_MS) : this.fallbackMs(at))
    }
    if (this.policy.snapshotIdleMs > 0) {
      if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined
        if (this.since.envelopes > 0 && this.grown()) this.h.snapshot()
      }, this.policy.snapshotIdleMs + (own ? 0 : IDLE_FALLBACK_MS * (1 + Math.random())))
    }
  }

  /** This device's wait before it takes over a turn the envelope at `at` gave another writer. */
  private fallbackMs (at: LogPlace | undefined): number {
    if (at === undefined) return FALLBACK_MS * (1 + Math.random())
    if (!this.writers.has(this.h.me)) {
      // Not a writer of this log: after every writer, spread over a whole turn (the members who
      // only read do not know each other's places; 49 of them all at rank 0 went together).
      let others = 0
      for (const w of this.writers) if (w !== at.author) others++
      return FALLBACK_MS * (1 + others) + Math.floor(Math.random() * FALLBACK_MS)
    }
    const rank = fallbackRank(this.writers, at.author, at.cursor, this.h.me)
    // A little jitter: members whose counts differ slightly may disagree on the crossing envelope.
    return FALLBACK_MS * (1 + rank) + Math.floor(Math.random() * OWN_JITTER_MS)
  }

  /** A snapshot of `stateBytes` was made or taken here: counting starts again. */
  taken (stateBytes: number): void {
    this.turnOver()
    this.writers.clear()
    this.since = { envelopes: 0, bytes: 0 }
    this.lastAt = Date.now()
    this.stateBytes = stateBytes
  }

  /**
   * Another member stored a snapshot (the relay's doorbell, or ours lost the race): counting starts
   * again now, before that snapshot is checked. Checking waits until this replica holds every head
   * it names, which with many members typing takes a while; counting on meanwhile, every member
   * whose own envelope crossed the threshold tried too (50 typists: 299 attempts, 6 stored).
   */
  seen (): void {
    this.turnOver()
    this.writers.clear()
    this.since = { envelopes: 0, bytes: 0 }
    this.lastAt = Date.now()
    this.seenCount++
  }

  /**
   * The turn a crossing gave is over: its timer must not fire on a later count. Left armed, a
   * reader's fallback from one crossing fired 3 s later, when the count since the snapshot had
   * reached the threshold again, and took the turn the typist's own next crossing was about to take
   * (50 edit-capable readers: a third of the snapshots were made by readers, 2 attempts per stored).
   */
  private turnOver (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.ownTurn = false
  }

  /**
   * Whether this member seals a snapshot as it closes (space.ts), past the envelope count: when it
   * wrote since the last snapshot, or as one of the first `CLOSE_SNAPSHOTTERS` of `editors` (seen
   * lately, this one included) in an order every member derives alike from the snapshot held. The
   * others check and attest theirs. Everyone trying was 50 snapshots sealed and uploaded, 49 of
   * them refused, when 50 members who had watched one typist left together.
   */
  closes (editors: Iterable<string>, heldSeq: number): boolean {
    return this.writers.has(this.h.me) || fallbackRank(editors, '', `close:${heldSeq}`, this.h.me) < CLOSE_SNAPSHOTTERS
  }

  /** How many times another member's snapshot was seen: a snapshot under way gives up if it moves. */
  seenCount = 0

  stop (): void {
    for (const t of [this.timer, this.idleTimer]) if (t !== undefined) clearTimeout(t)
    this.timer = undefined
    this.idleTimer = undefined
  }

  /** Past the envelope or byte threshold since the last snapshot (also what makes a closing member seal one). */
  due (): boolean {
    const p = this.policy
    if (this.since.bytes >= p.snapshotBytes) return true
    if (p.snapshotEvery === 0) return false
    if (this.since.envelopes >= p.snapshotEvery && this.grown()) return true
    if (p.stateFactor === 0) return false
    this.stateBytes ??= this.h.stateBytes()
    const floor = this.stateBytes === undefined || Date.now() - this.lastAt >= MIN_SNAPSHOT_FLOOR_INTERVAL_MS ? MIN_SNAPSHOT_LOG_BYTES : p.snapshotBytes
    return this.since.bytes >= Math.max(floor, p.stateFactor * (this.stateBytes ?? 0))
  }

  /** The log since the last snapshot is large enough, against its state, to be worth a new one. */
  private grown (): boolean {
    if (this.policy.stateFactor === 0) return true
    this.stateBytes ??= this.h.stateBytes()
    return this.since.bytes >= this.policy.stateFactor * (this.stateBytes ?? 0)
  }
}
