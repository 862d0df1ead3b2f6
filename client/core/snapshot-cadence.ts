/**
 * When this replica makes a snapshot (DESIGN.md §5), sans the snapshot itself (snapshot-sync.ts):
 *
 * - **one member at a time**: every member counts the same log, so the writer whose own envelope
 *   crosses the threshold goes at once (a little jitter), and the others only after `FALLBACK_MS`
 *   (to twice that, at random) if no snapshot came by then (that writer left); a snapshot they
 *   take in meanwhile resets the count. The idle snapshot likewise: the last writer first. Every
 *   member answering every threshold was 88 attempts for 3 stored snapshots with 50 editors.
 *   View-only devices never try.
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

export interface SnapshotCadenceHost {
  /** False for a view-only device: it never snapshots. */
  canSnapshot (): boolean
  snapshot (): void
  /** Bytes of the current state when a snapshot is held (measured once per session), else undefined. */
  stateBytes (): number | undefined
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

/** A member whose own envelope did not cross the threshold waits this long (to twice) first. */
const FALLBACK_MS = 1000
/** The member whose own envelope crossed it waits up to this long: writers crossing together (each counts its own envelopes before the relay orders them) mostly see the first one's doorbell first. */
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

  constructor (private readonly policy: SnapshotPolicy, private readonly h: SnapshotCadenceHost) {}

  /** An envelope sealed here (`own`) or applied. */
  note (bytes: number, own: boolean): void {
    const able = this.h.canSnapshot()
    const was = able && this.due()
    this.since.envelopes++
    this.since.bytes += bytes
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
      }, mine ? Math.floor(Math.random() * OWN_JITTER_MS) : FALLBACK_MS * (1 + Math.random()))
    }
    if (this.policy.snapshotIdleMs > 0) {
      if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined
        if (this.since.envelopes > 0 && this.grown()) this.h.snapshot()
      }, this.policy.snapshotIdleMs + (own ? 0 : FALLBACK_MS * (1 + Math.random())))
    }
  }

  /** A snapshot of `stateBytes` was made or taken here: counting starts again. */
  taken (stateBytes: number): void {
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
    this.since = { envelopes: 0, bytes: 0 }
    this.lastAt = Date.now()
    this.seenCount++
  }

  /** How many times another member's snapshot was seen: a snapshot under way gives up if it moves. */
  seenCount = 0

  stop (): void {
    for (const t of [this.timer, this.idleTimer]) if (t !== undefined) clearTimeout(t)
    this.timer = undefined
    this.idleTimer = undefined
  }

  /** Past the envelope or byte threshold since the last snapshot. */
  private due (): boolean {
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
