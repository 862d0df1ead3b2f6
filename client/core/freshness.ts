import { equalBytes, fromHex, toHex } from '../../shared/bytes.js'
import { CHECKPOINT_HASH_BYTES, MAX_CHECKPOINT_HEADS, type Checkpoint, type CheckpointHead } from '../../shared/checkpoint.js'
import type { StreamHead, StreamReader } from './reader.js'

/**
 * Freshness for new devices (DESIGN.md §7 "Rollback", issue 8), sans IO. A device that already
 * holds a space refuses to go back from what it holds; a device opening an invite link holds
 * nothing, so a relay could serve it an old snapshot and nothing after it, and it would show that
 * as the space. The link therefore carries a checkpoint (shared/checkpoint.ts) of what the inviter
 * had verified, and the joiner:
 *
 * - after each catch-up, judges whether what it holds reaches every head the checkpoint names;
 * - asks the relay for each stream it lacks (`fetchStream`, as for a gap), and if the relay still
 *   has not served them, raises `sync/stale-join` naming how many changes it lacks, keeps asking
 *   every `retryMs`, and clears the alert once they arrive;
 * - a head it holds with another hash than the checkpoint's is `sync/equivocation` (the author
 *   signed two envelopes for one seq, and the relay served each side one);
 * - opening an old link (no checkpoint) as a new device, it cannot check: its status says so
 *   (`sync/freshness-unchecked`), which is information, not an alert.
 *
 * Heads of this device's own streams are skipped (it knows what it sealed; an older session's
 * stream may have left its session state), and so are streams stopped at refused content (already
 * alerted; every honest replica stops at the same place).
 */
export type FreshnessState =
  /** No checkpoint, and this device held the space already (or created it): its own state is the floor. */
  | 'local'
  /** A new device opened an old link (no checkpoint): nothing to check against. */
  | 'unchecked'
  /** A checkpoint waits to be judged (not caught up yet). */
  | 'checking'
  | 'reached'
  /** Caught up, asked, and still short of the checkpoint: `sync/stale-join` stands. */
  | 'behind'
  /** A head the checkpoint names is held here with another hash. */
  | 'contradicted'

export interface Freshness {
  readonly state: FreshnessState
  /** Changes the checkpoint names that this replica lacks (while 'behind'). */
  readonly behind: number
  /** The info code a person is shown while freshness cannot be checked. */
  readonly code?: 'sync/freshness-unchecked'
}

/** Positions this device holds of its own streams, as the writer keeps them (hex stream id). */
export interface OwnHead { readonly stream: string; readonly seq: number; readonly hash: Uint8Array; readonly cursor: number }

/**
 * The checkpoint a link made now carries: up to MAX_CHECKPOINT_HEADS heads, the most recently
 * active first (highest relay cursor: a rollback to any earlier point leaves the newest out).
 * Positions known only from a snapshot's claim come after every verified one, so they are named
 * only when this replica has verified fewer heads than a link carries.
 */
export function checkpointOf (heads: ReadonlyMap<string, StreamHead>, own: readonly OwnHead[], devicePkHex: string): Checkpoint {
  const all = new Map<string, { head: StreamHead; verified: boolean }>()
  for (const [sk, h] of heads) all.set(sk, { head: h, verified: h.claimUpTo === undefined || h.seq > h.claimUpTo })
  for (const o of own) {
    const sk = `${devicePkHex}:${o.stream}`
    if ((all.get(sk)?.head.seq ?? -1) < o.seq) all.set(sk, { head: { seq: o.seq, hash: o.hash, cursor: o.cursor }, verified: true })
  }
  const ranked = [...all].sort(([, a], [, b]) => Number(b.verified) - Number(a.verified) || (b.head.cursor ?? 0) - (a.head.cursor ?? 0) || b.head.seq - a.head.seq)
  const out: CheckpointHead[] = []
  for (const [sk, { head }] of ranked.slice(0, MAX_CHECKPOINT_HEADS)) {
    const [a, s] = sk.split(':')
    const author = fromHex(a ?? '')
    const stream = fromHex(s ?? '')
    if (author?.length !== 32 || stream?.length !== 8) continue
    out.push({ author, stream, seq: head.seq, hash: head.hash.subarray(0, CHECKPOINT_HASH_BYTES) })
  }
  return { heads: out }
}

export interface Missing { readonly sk: string; readonly author: Uint8Array; readonly stream: Uint8Array; readonly have: number; readonly seq: number }
/** A named position held here with another hash; `claim`: known here only from a snapshot's claim. */
export interface Contradiction { readonly sk: string; readonly seq: number; readonly claim: boolean }
export interface Reach { readonly missing: readonly Missing[]; readonly contradicted: readonly Contradiction[] }
export type ReaderView = Pick<StreamReader, 'heads' | 'stuck' | 'hashAt'>

/** What of `cp` this replica does not reach (missing), or holds otherwise (contradicted). */
export function judge (cp: Checkpoint, reader: ReaderView, devicePkHex: string): Reach {
  const missing: Missing[] = []
  const contradicted: Contradiction[] = []
  for (const h of cp.heads) {
    const authorHex = toHex(h.author)
    const sk = `${authorHex}:${toHex(h.stream)}`
    if (authorHex === devicePkHex || reader.stuck.has(sk)) continue
    const mine = reader.heads.get(sk)
    const have = mine?.seq ?? -1
    if (have < h.seq) { missing.push({ sk, author: h.author, stream: h.stream, have, seq: h.seq }); continue }
    // Past it, the hash at that seq is known for the last positions only: a position is enough then.
    const at = h.hash.length === 0 ? undefined : reader.hashAt(sk, h.seq)
    if (at !== undefined && at.length > 0 && !equalBytes(at.subarray(0, h.hash.length), h.hash)) contradicted.push({ sk, seq: h.seq, claim: mine?.claimUpTo !== undefined && h.seq <= mine.claimUpTo })
  }
  return { missing, contradicted }
}

export interface FreshnessHost {
  readonly reader: ReaderView
  readonly devicePkHex: string
  /** How long to wait for the relay's answer, and between asking again while behind. */
  readonly retryMs: number
  /** Asks the relay for a stream from `fromSeq` (applied through the reader); resolves once answered. */
  fetchStream (author: Uint8Array, stream: Uint8Array, fromSeq: number): Promise<unknown>
  alert (code: string, message: string, extra: { author?: string }): void
  /** The alert with this code no longer stands (the checkpoint was reached). */
  clear (code: string): void
  /** The freshness status changed. */
  changed (): void
}

export class FreshnessCheck {
  private state: FreshnessState
  private behind = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private asking = false
  private readonly alerted = new Set<string>()

  /** `isNew`: this device held no state of the space before this session (and did not create it). */
  constructor (private readonly h: FreshnessHost, private readonly checkpoint: Checkpoint | undefined, isNew: boolean) {
    this.state = checkpoint !== undefined ? 'checking' : isNew ? 'unchecked' : 'local'
  }

  get status (): Freshness {
    return { state: this.state, behind: this.behind, ...(this.state === 'unchecked' ? { code: 'sync/freshness-unchecked' as const } : {}) }
  }

  /** Caught up with the relay: judge, ask for what is missing, and alert what it still does not serve. */
  async caughtUp (): Promise<void> {
    if ((this.state !== 'checking' && this.state !== 'behind') || this.asking) return
    const first = this.settle()
    if (first === undefined) return
    this.asking = true
    try {
      await this.ask(first)
    } finally {
      this.asking = false
    }
    const still = this.settle()
    if (still === undefined) return
    const count = still.reduce((n, m) => n + m.seq - m.have, 0)
    const authors = new Set(still.map(m => toHex(m.author)))
    if (this.state !== 'behind' || count !== this.behind) {
      this.state = 'behind'
      this.behind = count
      this.h.changed()
    }
    this.once('stale', 'sync/stale-join', `the relay served this device an older state than the invite link vouches for: ${count} change(s) in ${still.length} stream(s) by ${authors.size} member(s) are missing; this copy is not current, and Cove keeps asking for them`, authors.size === 1 ? { author: [...authors][0]! } : {})
    this.schedule()
  }

  /** Remote content was applied: the checkpoint may be reached now. */
  applied (): void {
    if (this.state === 'behind') this.settle()
  }

  stop (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Judges now: undefined once settled (reached, contradicted), else what is missing. */
  private settle (): readonly Missing[] | undefined {
    if (this.checkpoint === undefined) return undefined
    const r = judge(this.checkpoint, this.h.reader, this.h.devicePkHex)
    if (r.contradicted.length > 0) {
      for (const c of r.contradicted) {
        // Known here from a snapshot only: its maker or the stream's author signed something false; which, the stream will tell.
        if (c.claim) this.once(`eq:${c.sk}:${c.seq}`, 'sync/equivocation', `a snapshot this device holds names another envelope for seq ${c.seq} of a member's stream than the invite link: the snapshot's maker or the stream's author signed two versions`, {})
        else this.once(`eq:${c.sk}:${c.seq}`, 'sync/equivocation', `this device holds another envelope for seq ${c.seq} of a member's stream than the invite link names: its author signed two versions, and the relay gave each side one`, { author: c.sk.split(':')[0]! })
      }
      return this.move('contradicted')
    }
    if (r.missing.length > 0) return r.missing
    return this.move('reached')
  }

  private move (to: 'reached' | 'contradicted'): undefined {
    const was = this.state
    this.state = to
    this.behind = 0
    this.stop()
    if (was === 'behind') this.h.clear('sync/stale-join')
    if (was !== to) this.h.changed()
    return undefined
  }

  /** Asks for every missing stream; waits for the answers, at most `retryMs`. */
  private async ask (missing: readonly Missing[]): Promise<void> {
    let bound: ReturnType<typeof setTimeout> | undefined
    const wait = new Promise<void>(resolve => { bound = setTimeout(resolve, this.h.retryMs) })
    ;(bound as { unref?: () => void } | undefined)?.unref?.()
    await Promise.race([Promise.all(missing.map(m => this.h.fetchStream(m.author, m.stream, m.have + 1))), wait])
    clearTimeout(bound)
  }

  /** While behind, asks again every `retryMs` (a relay may serve late what it withheld). */
  private schedule (): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.caughtUp()
    }, this.h.retryMs)
    // A timer must not keep a CLI process alive.
    ;(this.timer as { unref?: () => void }).unref?.()
  }

  private once (key: string, code: string, message: string, extra: { author?: string }): void {
    if (this.alerted.has(key)) return
    this.alerted.add(key)
    this.h.alert(code, message, extra)
  }
}
