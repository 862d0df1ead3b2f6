import * as Y from 'yjs'
import { equalBytes, fromHex, toHex } from '../../shared/bytes.js'
import type { Device } from '../../shared/envelope.js'
import type { Frame, FrameOf } from '../../shared/frame.js'
import { headerSeq } from '../../shared/header.js'
import type { SpaceKeys } from '../../shared/keys.js'
import { hash } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'
import type { StreamReader } from './reader.js'
import type { ShadowApplier } from './shadow.js'
import { streamKey, verifySnapshot, type StreamHeadRef } from './snapshot.js'
import { claimsOf, otherOwnersItem, shortOnlyInOthers, Snapshotter, unboundClients, type Opened } from './snapshotter.js'
import type { StreamWriter } from './writer.js'
import type { SnapshotInfo } from './space-types.js'
import { encodeState } from './state.js'
import { within } from './within.js'
import { MIN_SNAPSHOT_LOG_BYTES, SnapshotCadence, type LogPlace, type SnapshotPolicy } from './snapshot-cadence.js'

/**
 * The snapshot side of a session (DESIGN.md §5, §12): when to seal one, racing other writers for a
 * chain position, judging the snapshots other members store (and attesting the good ones), and a
 * cold or stale join from a snapshot. The checks themselves are in snapshotter.ts and snapshot.ts;
 * the session (space.ts) gives this part what it needs through `SnapshotSyncHost`.
 */
/** How long, in all, a snapshot waits for this session's envelopes in flight to be acknowledged. */
const SETTLE_MS = 2_000
/** A snapshot is `lagging` when own in-flight bytes × this reach its state's (a pasted 5 MB note), and 32 KiB. */
const LAG_FACTOR = 4

export interface SnapshotSyncHost {
  readonly sodium: Sodium
  readonly keys: SpaceKeys
  readonly device: Device | undefined
  readonly devicePkHex: string
  readonly doc: Y.Doc
  readonly shadow: ShadowApplier
  readonly reader: StreamReader
  readonly writer: StreamWriter | undefined
  readonly bindings: Map<number, string>
  readonly gapTimeoutMs: number
  readonly closed: boolean
  /** Local edits are waiting to be sealed. */
  unsealed (): boolean
  /** Joined, caught up, and nothing failed to verify since: what this replica holds is what the relay has. */
  ready (): boolean
  request (make: (reqId: number) => Frame, timeoutMs?: number): Promise<Frame>
  /** Asks for a stream from `fromSeq`; resolves once the answer was read: true when it was complete (no more pages, not cut off). */
  fetchStream (author: Uint8Array, stream: Uint8Array, fromSeq: number): Promise<boolean>
  alert (code: string, message: string, extra?: { author?: string; cursor?: number }): void
  flush (): Promise<void>
  /** This session's envelopes not acknowledged by the relay yet, plus one while edits wait to be sealed. */
  unsynced (): number
  /** Resolves when every envelope sealed so far is acknowledged (or the session closed); rejects after `timeoutMs`. */
  whenAcked (timeoutMs: number): Promise<void>
  resumeCursor (): number
  headRefs (): StreamHeadRef[]
  scheduleMeta (): void
  rejected (): void
  remote (): void
  /** A snapshot another member made was verified here (its heads cover this device's envelopes under them). */
  verifiedOthers? (heads: readonly StreamHeadRef[]): void
  /** The snapshot this replica holds changed (made or accepted here). */
  heldChanged? (): void
  /** Streams members' receipts show further than this replica holds, from where it stands. */
  owed? (): readonly { sk: string; fromSeq: number }[]
  /** The join snapshot could not be read for a reason the relay could cause: read again. */
  readAgain (): void
  /** Read the log itself from the resume point up to `upTo` (a join snapshot was refused). */
  fetchLog (upTo: number): void
  /** Frames held while the join snapshot was fetched. */
  replay (frames: Frame[]): void
  /** Move the resume point to a snapshot's cursor. */
  advance (covers: number): void
  /** Apply a whole V2 state all-or-nothing, as remote content. */
  applyState (state: Uint8Array): { ok: true } | { ok: false; code: string; message: string }
  /** Replace the local update log by the current state and meta, atomically. */
  compactLocal (): void
}

export class SnapshotSync {
  readonly snaps: Snapshotter
  readonly cadence: SnapshotCadence
  /** Snapshots this replica offered the relay, and how many it kept (the bench's storm figure). */
  readonly stats = { attempts: 0, stored: 0 }
  /** Frames held while a join snapshot's parts are fetched, processed in order after it. */
  gate: Frame[] | undefined
  /** Others' snapshots waiting until this replica has applied the heads they name. */
  readonly toVerify = new Map<string, { o: Opened; since: number }>()
  private verifyTimer: ReturnType<typeof setTimeout> | undefined
  /** The snapshot under way: a closing member waits for it before it decides to seal its own (`closes`). */
  private snapshotting: Promise<void> | undefined
  private adopting = false

  constructor (private readonly h: SnapshotSyncHost, policy: SnapshotPolicy) {
    this.snaps = new Snapshotter(h.sodium, h.keys, h.device, { request: (make, t) => h.request(make, t), alert: (c, m, e) => h.alert(c, m, e) })
    this.cadence = new SnapshotCadence(policy, {
      me: h.devicePkHex,
      canSnapshot: () => h.device !== undefined,
      snapshot: () => { void this.snapshot() },
      stateBytes: () => this.snaps.held === undefined ? undefined : encodeState(h.doc).length
    })
  }

  /** Holds live frames while a join snapshot is being fetched; true when `f` was held. */
  hold (f: Frame): boolean {
    if (this.gate === undefined || !(f.type === 'entries' || (f.type === 'snapshots' && f.reqId === 0))) return false
    this.gate.push(f)
    return true
  }

  /** The connection closed: frames held for a join are moot. */
  reset (): void { this.gate = undefined }

  stop (): void {
    this.cadence.stop()
    if (this.verifyTimer !== undefined) clearTimeout(this.verifyTimer)
  }

  /** Counts an envelope (own, when the relay stored it; or applied) toward the next snapshot (snapshot-cadence.ts). */
  noteActivity (bytes: number, own: boolean, at: LogPlace): void { this.cadence.note(bytes, own, at) }

  /** Own envelopes in flight at sealing (LAG_FACTOR) lie after `covers`: joiners get them twice (space.ts seals again on close). */
  get lagging (): boolean { return this.lag === this.snaps.held?.seq }
  private lag = -1
  /** Whether this member seals a snapshot as it closes: `lagging`, or one is due (`minEnvelopes` since, or the cadence's bytes: a big paste) and it is its turn (snapshot-cadence.ts `closes`). */
  async closes (editors: Iterable<string>, minEnvelopes: number): Promise<boolean> { await within(this.snapshotting, 5000); return this.h.device !== undefined && (this.lagging || (this.cadence.closes(editors, this.snaps.held?.seq ?? -1) && (this.cadence.since.envelopes >= minEnvelopes || this.cadence.due()))) }

  /**
   * Seals the whole document as the next snapshot of the chain and offers it to the relay, which
   * keeps one winner per position. 'conflict': another writer won; this replica checks the newer
   * snapshots and carries on past them. 'skipped': not now (view-only, offline, or a gap pending).
   */
  async snapshot (): Promise<'stored' | 'conflict' | 'skipped'> {
    if (this.h.device === undefined || !this.h.ready() || this.h.reader.pending > 0 || this.snapshotting !== undefined || this.gate !== undefined) return 'skipped'
    // Not while a newer snapshot waits to be judged: ours would race it, or cover less.
    if (this.toVerify.size > 0) return 'skipped'
    // Not while behind the (good) snapshot we hold: ours would cover less than it. This session's
    // own stream is the only one not read back (other sessions of this device are read like anyone's).
    const own = this.h.writer === undefined ? '' : `${this.h.devicePkHex}:${this.h.writer.stream}`
    for (const [k, seq] of this.snaps.held?.heads ?? []) if (k !== own && (this.h.reader.heads.get(k)?.seq ?? -1) < seq) return 'skipped'
    // Not while envelopes of an earlier session wait to be sent: their content is in this
    // document, but no head this snapshot could name covers it yet. (Acknowledged ones waiting to
    // be seen are covered: their streams' heads are this replica's.)
    const w = this.h.writer
    if (w?.outbox.some(e => e.stream !== w.stream && !w.isAcked(e)) === true) return 'skipped'
    let done = (): void => {}
    this.snapshotting = new Promise<void>(resolve => { done = resolve })
    const seen = this.cadence.seenCount
    try {
      // The snapshot records exactly what it holds: the state is taken when this session's own
      // envelopes are all acknowledged, so `covers` (the relay position) includes them and a joiner
      // does not download them again after the state. At most three round trips within SETTLE_MS
      // (the others' fallback starts 3 s after the crossing); then the in-flight tail is named by
      // the heads but lies after `covers` (`lagging`).
      const settled = Date.now() + SETTLE_MS
      for (let round = 0; round < 3 && this.h.unsynced() > 0 && Date.now() < settled; round++) {
        await this.h.flush()
        try {
          await this.h.whenAcked(settled - Date.now())
        } catch {
          break
        }
      }
      if (!this.h.ready() || this.h.reader.pending > 0 || this.toVerify.size > 0 || this.gate !== undefined) return 'skipped'
      // Another member stored one meanwhile (its doorbell came while this waited): ours would lose
      // the race for that chain position; this replica checks theirs instead.
      if (this.cadence.seenCount !== seen) return 'skipped'
      // Edits made meanwhile are sealed now, synchronously, so the state below holds nothing the
      // heads do not name (members check that it holds exactly that).
      void this.h.flush()
      const seq = this.snaps.held === undefined ? 0 : this.snaps.held.seq + 1
      // Streams idle since the snapshot before this one are named by position only (folded).
      if (this.snaps.held !== undefined) this.h.reader.fold(this.snaps.held.covers ?? 0)
      const heads = this.h.headRefs()
      const bindings: Array<readonly [number, Uint8Array]> = [...this.h.bindings].map(([c, a]) => [c, fromHex(a) ?? new Uint8Array(0)] as const)
      const covers = this.h.resumeCursor()
      const state = encodeState(this.h.doc)
      const tail = [...this.h.writer?.pending ?? []].reduce((n, e) => n + e.env.length, 0)
      const sealed = this.snaps.seal(seq, { createdAt: Date.now(), covers, heads, bindings }, state)
      this.stats.attempts++
      const res = await this.snaps.put(covers, sealed)
      if (res.type === 'ok') {
        this.stats.stored++
        this.cadence.taken(state.length)
        this.snaps.hold({ seq, hash: hash(this.h.sodium, sealed.head), heads, covers }, 'good')
        this.lag = tail * LAG_FACTOR >= state.length && tail >= MIN_SNAPSHOT_LOG_BYTES ? seq : -1
        this.h.heldChanged?.()
        this.h.scheduleMeta()
        return 'stored'
      }
      if (res.type === 'error' && res.code === 'store/snapshot-conflict') {
        this.cadence.seen()
        await this.adoptNewer()
        return 'conflict'
      }
      if (res.type === 'error' && res.code !== 'sync/offline' && res.code !== 'sync/closed') this.h.alert('sync/snapshot-refused', `the relay refused a snapshot: ${res.code} ${res.message}`)
      return 'skipped'
    } finally {
      this.snapshotting = undefined
      done()
    }
  }

  /**
   * After losing a snapshot race (or being told of a new one): check the snapshots newer than ours;
   * told the newest is `seq` (by the relay: it only sets how many to ask for), only those (issue 10).
   */
  async adoptNewer (seq?: number): Promise<void> {
    const limit = seq === undefined ? 4 : Math.max(1, Math.min(4, seq - (this.snaps.held?.seq ?? -1)))
    const res = await this.h.request(reqId => ({ type: 'listSnapshots', reqId, spaceId: this.h.keys.spaceId, limit }))
    if (res.type !== 'snapshots') return
    const heldSeq = this.snaps.held?.seq ?? -1
    const fresh: Opened[] = []
    for (const s of res.snapshots) {
      const o = await this.snaps.open(s.envelope)
      if (!o.ok) { this.snapshotOpenFailed(o.code, o.message, s.envelope); continue }
      if (o.value.header.seq > heldSeq) fresh.push(o.value)
    }
    fresh.sort((a, b) => a.header.seq - b.header.seq)
    for (const o of fresh) this.judge(o)
  }

  /** A member's receipt names snapshot `seq`, newer than the one held here: look for it (once per seq). */
  lookForNewer (seq: number): void {
    if (seq > this.askedNewer && seq > (this.snaps.held?.seq ?? -1) && this.adopt(seq)) this.askedNewer = seq
  }

  private askedNewer = -1

  /** A relay doorbell (the snapshot's header only): a member stored a snapshot. Fetch it, check it, attest it. */
  onAnnounced (f: FrameOf<'snapshots'>): void {
    // Another member snapshotted: this one backs off (counting starts again) whatever the check says.
    this.cadence.seen()
    this.adopt(f.snapshots.length === 0 ? undefined : Math.max(...f.snapshots.map(s => headerSeq(s.envelope) ?? Infinity)))
  }

  /** A view-only device cannot attest; and a check already under way will see what came meanwhile. */
  private adopt (seq: number | undefined): boolean {
    if (this.h.device === undefined || this.adopting) return false
    this.adopting = true
    void this.adoptNewer(seq).finally(() => { this.adopting = false })
    return true
  }

  snapshotOpenFailed (code: string, message: string, env: Uint8Array): void {
    // The header's author field: after version, type, spaceId (16), epoch (4) and key id (8).
    const author = env.length > 62 ? toHex(env.subarray(30, 62)) : undefined
    this.h.alert(code.startsWith('snapshot/') ? code : 'snapshot/unreadable', `a snapshot could not be opened: ${message}`, author === undefined ? {} : { author })
    // Signed but unreadable, it is still the chain's newest position: the next snapshot links past it.
    const at = code === 'snapshot/malformed' ? this.snaps.signedPosition(env) : undefined
    if (at !== undefined && at.seq > (this.snaps.held?.seq ?? -1)) { this.snaps.hold(at, 'bad'); this.h.scheduleMeta() }
  }

  /** Judges another member's snapshot now, or later once this replica has the heads it names. */
  judge (o: Opened, fetched = false): void {
    const authorHex = toHex(o.header.author)
    const ownHeads = new Map<string, number>()
    const own = this.h.writer?.head
    if (own !== undefined) ownHeads.set(`${this.h.devicePkHex}:${toHex(own.stream)}`, own.seq)
    const v = this.snaps.verifyMember(o, this.h.reader, this.h.bindings, this.h.doc, ownHeads, { hex: this.h.devicePkHex, unsealed: this.h.unsealed() || this.ownBeyond(o), ownReach: seq => this.h.writer?.reachOf(seq) })
    const key = toHex(o.hash)
    if (v.verdict === 'not-yet') {
      const since = this.toVerify.get(key)?.since ?? Date.now()
      if (!this.toVerify.has(key)) {
        // Ask for what it names. The author learnt others' positions from the relay, so if the
        // relay's complete answer does not reach one of those, this replica cannot vouch for it:
        // passed over at once (not attested; its own next snapshot goes past it). Its author's own
        // streams may still have envelopes on their way to the relay: those get the time bound below.
        void this.fetchClaimed(o).then(complete => {
          if (!complete || !this.toVerify.has(key)) return
          // Entries this replica misses (a gap it holds later seqs past) that the relay's complete
          // answer no longer has, and this snapshot names: this replica is behind a stretch pruned
          // under it, like a joiner, and this snapshot is the only way past (checked as a joiner's).
          if (this.h.reader.gapNamed(o.body.heads, this.h.owed?.() ?? [])) {
            this.toVerify.delete(key)
            this.applyJoinSnapshot(o, 0)
            return
          }
          if (shortOnlyInOthers(o, this.h.reader, authorHex, this.h.devicePkHex)) this.judge(o, true)
        })
      }
      // Not blamed from here (a member behind a pruned stretch gets an empty answer as well); the
      // author of the stream it inflates does blame it (verifyMember, its own stream).
      if (fetched && this.h.reader.pending === 0 && this.h.ready()) {
        this.toVerify.delete(key)
        this.short.add(key)
        this.snaps.hold({ seq: o.header.seq, hash: o.hash }, 'bad')
        this.h.scheduleMeta()
        return
      }
      // Still short of its author's own streams after the bound (envelopes may be on their way): no
      // blame, not attested, and this replica's next snapshot goes past it (compaction goes on).
      if (Date.now() - since > this.h.gapTimeoutMs * 3 && this.h.ready()) {
        this.toVerify.delete(key)
        this.short.add(key)
        this.snaps.hold({ seq: o.header.seq, hash: o.hash }, 'bad')
        this.h.scheduleMeta()
        return
      }
      this.toVerify.set(key, { o, since })
      this.armVerifyTimer()
      return
    }
    this.toVerify.delete(key)
    if (v.verdict === 'known') return
    if (v.verdict === 'unverifiable') {
      // Nobody is blamed; it is not attested, and this replica's next snapshot goes past it.
      this.snaps.hold({ seq: o.header.seq, hash: o.hash }, 'bad')
      this.h.scheduleMeta()
      return
    }
    if (v.verdict === 'bad') {
      // A member other than its maker wrote two versions of one item: the maker may hold the other
      // version honestly. That member is named (reader.ts); not attested, the next snapshot goes past.
      // The same when another member signed two envelopes for one seq (the maker may hold the
      // other), or sent malformed updates (they may have merged differently at the maker).
      const r = this.h.reader
      const forkedByOther = [...r.forked, ...r.equivocated, ...r.malformed].some(a => a !== authorHex)
      // Another envelope named at another member's position: that member may have signed two (one
      // reached the maker), or the maker made the hash up; nothing here tells which. Not blamed,
      // not attested. (At the maker's own position, the maker signed both: blamed.)
      const onlyEquivocators = v.code === 'snapshot/contradicts-heads' && this.h.reader.contradicted(o.body.heads).every(a => a !== authorHex)
      // Covering less of a stream than the snapshot held here is what an honest member does after
      // passing over that snapshot (it could not vouch for it): not attested, not blamed.
      if ((forkedByOther && (v.code === 'snapshot/content-mismatch' || v.code === 'snapshot/missing-content')) || v.code === 'snapshot/regression' || onlyEquivocators) {
        this.snaps.hold({ seq: o.header.seq, hash: o.hash }, 'bad')
        this.h.scheduleMeta()
        return
      }
            this.h.alert(v.code ?? 'snapshot/bad', `a member's snapshot is refused: ${v.message ?? ''}; later snapshots are made past it`, { author: authorHex })
      this.snaps.hold({ seq: o.header.seq, hash: o.hash }, 'bad')
      this.h.scheduleMeta()
      return
    }
    this.snaps.hold({ seq: o.header.seq, hash: o.hash, heads: o.body.heads, covers: o.body.covers }, 'good')
    this.cadence.taken(o.state.length)
    this.h.scheduleMeta()
    if (authorHex !== this.h.devicePkHex) {
      const a = this.snaps.attest(o.hash)
      if (a !== undefined) void this.h.request(reqId => ({ ...a, reqId } as Frame))
      this.h.verifiedOthers?.(o.body.heads)
    }
    this.h.heldChanged?.()
  }

  /**
   * This device's own envelopes still in the outbox beyond what `o` names of their streams (an
   * earlier session's change sent again, say): their content is in this document and in no
   * snapshot yet, like an edit not sealed.
   */
  private ownBeyond (o: Opened): boolean {
    const named = new Map(o.body.heads.filter(h => toHex(h.author) === this.h.devicePkHex).map(h => [toHex(h.stream), h.seq]))
    return this.h.writer?.outbox.some(e => (named.get(e.stream) ?? -1) < e.seq) ?? false
  }

  /** Snapshots passed over only because what they name could not be fetched: one may be taken in past a pruned stretch. */
  private readonly short = new Set<string>()

  /** Behind a stretch pruned under a kept snapshot (receipts show it): take it in as a joiner would (one passed over only for what it names being out of reach included). */
  async catchUp (env: Uint8Array): Promise<void> {
    const o = await this.snaps.open(env)
    if (!o.ok || !this.h.reader.gapNamed(o.value.body.heads, this.h.owed?.() ?? [])) return
    const known = this.snaps.known.get(toHex(o.value.hash))
    if (known === 'bad' && !this.short.has(toHex(o.value.hash))) return
    this.applyJoinSnapshot(o.value, 0, true)
  }

  /** A join snapshot refused that its maker cannot be blamed for (another member's two versions): what was pruned under it may be out of reach. */
  private unverifiableJoin (covers: number, suspects: readonly string[], maker: string): void {
    // A member caught writing two versions is named; else the maker if caught at any of it; else nobody.
    const r = this.h.reader
    const known = suspects.find(a => r.forked.has(a) || r.equivocated.has(a)) ?? ([r.forked, r.equivocated, r.malformed].some(x => x.has(maker)) ? maker : undefined)
    this.h.alert('snapshot/unverifiable', 'a snapshot holds another version of a member\'s change than this device and was not applied: changes made before it may be missing here; compare the space code with a member', known === undefined ? { cursor: covers } : { cursor: covers, author: known })
  }

  /** Asks the relay for what a snapshot names beyond our heads; true once every answer was complete. */
  async fetchClaimed (o: Opened): Promise<boolean> {
    const asks: Promise<boolean>[] = []
    for (const h of o.body.heads) {
      const sk = streamKey(h.author, h.stream)
      const mine = this.h.reader.heads.get(sk)?.seq ?? -1
      if (mine >= h.seq || (this.h.writer !== undefined && sk === `${this.h.devicePkHex}:${this.h.writer.stream}`)) continue
      asks.push(this.h.fetchStream(h.author, h.stream, mine + 1))
    }
    return (await Promise.all(asks)).every(Boolean)
  }

  recheckSnapshots (): void {
    if (this.toVerify.size === 0) return
    for (const { o } of [...this.toVerify.values()]) this.judge(o)
  }

  armVerifyTimer (): void {
    if (this.verifyTimer !== undefined || this.h.closed) return
    this.verifyTimer = setTimeout(() => {
      this.verifyTimer = undefined
      this.recheckSnapshots()
      if (this.toVerify.size > 0) this.armVerifyTimer()
    }, this.h.gapTimeoutMs)
  }

  /** The relay starts a cold or stale join with a snapshot: verify it, then apply it. */
  onJoinSnapshot (f: FrameOf<'snapshots'>): void {
    const s = f.snapshots[0]
    if (s === undefined) return
    // A token per join: an answer that comes after the connection changed must not release the
    // frames (or skip the snapshot) of the next join.
    const gate: Frame[] = []
    this.gate = gate
    void this.snaps.open(s.envelope).then(o => {
      if (this.gate !== gate) return
      if (!o.ok) {
        if (o.code === 'snapshot/part-unavailable' || o.code.startsWith('envelope/')) {
          // The relay (or the network) could have done this: read again.
          this.h.alert(o.code, `the join snapshot could not be read: ${o.message}; reading again`)
          this.h.readAgain()
        } else {
          this.snapshotOpenFailed(o.code, o.message, s.envelope)
          this.h.fetchLog(s.covers)
        }
      } else {
        this.applyJoinSnapshot(o.value, s.covers)
      }
      this.gate = undefined
      this.h.replay(gate)
    })
  }

  /**
   * A join snapshot: verified (or one this replica already judged), then applied all-or-nothing.
   * The relay goes on after the snapshot's cursor, so a refused one is replaced by the log up to
   * that cursor (never pruned under a snapshot nobody but its author checked).
   */
  applyJoinSnapshot (o: Opened, covers: number, passedOver = false): void {
    const authorHex = toHex(o.header.author)
    const held = this.snaps.held
    const known = this.snaps.known.get(toHex(o.hash)) ?? (held !== undefined && equalBytes(held.hash, o.hash) ? 'good' : undefined)
    if (known === 'bad' && !passedOver) {
      this.h.fetchLog(covers)
      return
    }
    if (known === undefined || passedOver) {
      const v = this.verifyForJoin(o)
      if (v !== undefined) {
        this.h.rejected()
        // Another member's position named by another envelope: not provably the maker's (judge()).
        const notProven = v.code === 'snapshot/contradicts-heads' && this.h.reader.contradicted(o.body.heads).every(a => a !== authorHex)
        if (!notProven) this.h.alert(v.code, v.message, { author: authorHex, cursor: covers })
        else this.unverifiableJoin(covers, this.h.reader.contradicted(o.body.heads), authorHex)
        this.h.fetchLog(covers)
        return
      }
    }
    // Local edits not yet sealed are sealed first: a compacted state holding local content that no
    // envelope in the outbox carries would, after a crash, stay on this device and never be sent.
    void this.h.flush()
    // Applied even when it is one this replica holds (the relay re-sends it after a reset): what
    // it covers may include entries this replica skipped, and applying is idempotent.
    const r = this.h.applyState(o.state)
    if (!r.ok) {
      this.h.rejected()
      // Another member's two versions of one item (one reached the maker, one this replica) are
      // that member's doing, not the maker's: no blame; the log is read instead.
      const owner = r.code === 'apply/conflicting-item' ? otherOwnersItem(o, this.h.doc, this.h.bindings) : undefined
      if (owner === undefined) this.h.alert(r.code, `the join snapshot does not integrate: ${r.message}`, { author: authorHex, cursor: covers })
      else this.unverifiableJoin(covers, [owner], authorHex)
      this.h.fetchLog(covers)
      return
    }
    for (const [c, a] of o.body.bindings) if (!this.h.bindings.has(c)) this.h.bindings.set(c, toHex(a))
    this.h.reader.claim(claimsOf(o.body.heads.filter(h => toHex(h.author) !== this.h.devicePkHex || this.h.writer === undefined || toHex(h.stream) !== this.h.writer.stream)), authorHex)
    this.h.advance(covers)
    if (known === undefined) {
      this.snaps.hold({ seq: o.header.seq, hash: o.hash, heads: o.body.heads, covers }, 'good')
      this.cadence.taken(o.state.length)
    }
    this.h.remote()
    // Store the merged state in place of the update log, with the meta that describes it, atomically.
    this.h.compactLocal()
  }

  /** The snapshots the relay keeps (newest first), decrypted and signature-checked: `cove history`. */
  history (limit = 16): Promise<SnapshotInfo[]> { return this.snaps.history(limit) }

  /** A joiner's checks of a snapshot (what it can verify without the log: see PROTOCOL.md). */
  private verifyForJoin (o: Opened): { code: string; message: string } | undefined {
    const ctx = { held: this.snaps.held, heads: this.h.reader.heads, bindings: this.h.bindings, doc: this.h.doc, selfHex: this.h.devicePkHex }
    const v = verifySnapshot(o.header.seq, o.header.prevHash, { ...o.body, state: o.state }, ctx)
    if (!v.ok) return v
    let unbound: number[]
    try {
      unbound = unboundClients(o.state, o.body.bindings, ctx.bindings)
    } catch {
      return { code: 'snapshot/malformed', message: 'snapshot state cannot be decoded' }
    }
    if (unbound.length > 0) return { code: 'snapshot/unbound-content', message: `snapshot holds content of clientIDs no writer is bound to (${unbound.slice(0, 3).join(', ')})` }
    return undefined
  }
}
