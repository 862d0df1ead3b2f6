import * as Y from 'yjs'
import type { Frame } from '../../shared/frame.js'
import { RESEAL_CODES, type OutEntry, type StreamWriter } from './writer.js'
import type { WriteBatch } from './store.js'
import { nextMacrotask } from './macrotask.js'

/**
 * The sending side of a session (DESIGN.md §3, §4): batching local edits into envelopes, sending
 * the outbox in order within an in-flight window, and what the relay's answers mean for it.
 * Sealing and the outbox itself are writer.ts's; this part decides when, and reacts.
 *
 * - Batching, clocked by acks: an edit with nothing of ours unacknowledged is sealed at once (next
 *   macrotask); while an envelope is being stored or awaits its ack, updates are gathered, and the
 *   ack seals them as the next envelope. So a lone keystroke never waits (a fixed window cost it
 *   ~5 ms at 2 ms pace), and a fast typist sends one envelope per round trip, however fast the
 *   keys: each envelope costs every reader a signature check, so fewer, fuller envelopes keep
 *   many readers cheap. A burst faster than typing waits `batchMs` between seals (BURST_UPDATES).
 *   Offline, updates gather for `batchMs` × 10 at a time.
 * - An ack marks the envelope stored; it leaves the outbox only once another member is seen
 *   holding it (receipts.ts). A refusal that means "this position will never
 *   hold these bytes" re-seals its content in this session's stream (writer.ts); any other
 *   refusal keeps it and reconnects after a growing delay, never in a tight loop.
 */
export interface OutgoingHost {
  readonly writer: StreamWriter
  readonly spaceId: Uint8Array
  joined (): boolean
  closed (): boolean
  send (f: Frame): boolean
  nextReqId (): number
  reconnect (): void
  alert (code: string, message: string): void
  /** `updates` (this replica's own, in order) as the document holds them (compact-update.ts), or undefined. */
  compact (updates: readonly Uint8Array[]): Uint8Array | undefined
  /** A new envelope was sealed from `updates`: bind their clientIDs, count it, store it. */
  sealed (updates: Uint8Array[], env: Uint8Array): Promise<void>
  /** Writes `batch` to the store; with the session state (heads, cursor) when `withMeta`. */
  persist (batch: WriteBatch, withMeta?: boolean): Promise<void>
  /** The relay stored one of ours at `cursor`. */
  acked (cursor: number, o: OutEntry): void
  statusChanged (): void
}

export interface OutgoingOptions {
  readonly batchMs: number
  readonly maxInflight: number
  readonly ackTimeoutMs: number
}

/**
 * Updates gathered behind one ack from which the next seal waits until `batchMs` after the last:
 * edits made faster than keys are typed (a script, an import, a replayed trace) would otherwise go
 * as one envelope per round trip, hundreds a second, and every reader (and every member catching
 * up later) checks each one's signature. A typist gathers one or two updates per round trip.
 */
const BURST_UPDATES = 32

const MERGE_CHUNK = 512
/** One merged update per envelope; chunks bound Y.mergeUpdates' superlinear cost. */
function mergeInChunks (updates: Uint8Array[]): Uint8Array[] {
  if (updates.length <= 1) return updates
  const out: Uint8Array[] = []
  for (let i = 0; i < updates.length; i += MERGE_CHUNK) out.push(Y.mergeUpdates(updates.slice(i, i + MERGE_CHUNK)))
  return out
}

export class Outgoing {
  /** Envelopes whose content the relay refused for good and that were re-sealed. */
  resealed = 0
  private pending: Uint8Array[] = []
  private flushTimer: ReturnType<typeof setTimeout> | undefined
  private flushImmediate = false
  /** Envelopes sealed whose store write has not finished: gathering goes on meanwhile. */
  private sealing = 0
  private lastFlushAt = 0
  private readonly inflight = new Map<number, OutEntry>()
  private sent = new WeakSet<OutEntry>()
  private ackTimer: ReturnType<typeof setTimeout> | undefined
  private refusedDelay = 1000
  /** The reconnect after a refusal that keeps the envelope: one at a time, however many were refused. */
  private refusedTimer: ReturnType<typeof setTimeout> | undefined

  constructor (private readonly h: OutgoingHost, private readonly opts: OutgoingOptions) {}

  /** Local changes not yet durably stored by the relay (sealed or still gathering). */
  get unsynced (): number { return this.h.writer.unacked + (this.pending.length > 0 ? 1 : 0) }

  /** Local edits gathered and not sealed yet. */
  get unsealed (): boolean { return this.pending.length > 0 }

  owns (reqId: number): boolean { return this.inflight.has(reqId) }

  /** A local Yjs update. */
  local (update: Uint8Array): void {
    this.pending.push(update)
    this.schedule()
    if (this.pending.length === 1) this.h.statusChanged()
  }

  /**
   * Seals what is gathered when nothing of ours is in flight: in the next macrotask, so that a
   * burst of updates in one task goes as one envelope; at once when `now` (an ack: what waited for
   * it is gathered already, and a next macrotask comes only after every other message that arrived
   * with the ack, 50 readers' worth of verifying in one busy process, +3 ms p50 for each keystroke).
   */
  schedule (now = false): void {
    if (this.flushTimer !== undefined || this.flushImmediate || this.pending.length === 0) return
    const joined = this.h.joined()
    // Ack-clocked: the ack (or the store write) of the envelope in flight calls this again.
    if (joined && (this.inflight.size > 0 || this.sealing > 0)) return
    const wait = !joined
      ? this.lastFlushAt + this.opts.batchMs * 10 - Date.now()
      : this.pending.length >= BURST_UPDATES ? this.lastFlushAt + this.opts.batchMs - Date.now() : 0
    if (wait <= 0 && now) {
      void this.flush()
    } else if (wait <= 0) {
      this.flushImmediate = true
      nextMacrotask(() => {
        this.flushImmediate = false
        void this.flush()
      })
    } else {
      this.flushTimer = setTimeout(() => { void this.flush() }, wait)
    }
  }

  /** Seals what is gathered into one envelope now (synchronously); undefined when nothing was. */
  flush (): Promise<void> | undefined {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    if (this.pending.length === 0) return undefined
    // Runs of typing joined as the document holds them; merged update by update otherwise.
    const compacted = this.pending.length > 1 ? this.h.compact(this.pending) : undefined
    const updates = compacted !== undefined ? [compacted] : mergeInChunks(this.pending)
    this.pending = []
    this.lastFlushAt = Date.now()
    const out = this.h.writer.seal(updates)
    this.sealing++
    // Sent now, not once the store write is done (an IndexedDB write takes milliseconds), and
    // before that write is even queued (encoding the session state is on no reader's path): the
    // write is queued in this same task, before any ack can arrive, and the store applies writes
    // in order, so the outbox entry lands before anything its ack leads to; an envelope the relay
    // got from a session that crashed before its write is read back like another device's (a new
    // session opens a new stream, so nothing is sealed twice).
    this.pump()
    const done = this.h.sealed(updates, out.env)
    void done.finally(() => {
      this.sealing--
      this.schedule()
    })
    return done
  }

  /** Sends outbox entries not yet sent on this connection, in order, up to the in-flight window. */
  pump (): void {
    if (!this.h.joined() || this.h.closed()) return
    for (const o of this.h.writer.pending) {
      if (this.sent.has(o)) continue
      if (this.inflight.size >= this.opts.maxInflight * 8) break
      const reqId = this.h.nextReqId()
      if (!this.h.send({ type: 'append', reqId, spaceId: this.h.spaceId, envelope: o.env })) return
      this.inflight.set(reqId, o)
      this.sent.add(o)
    }
    this.armAckTimer()
  }

  private armAckTimer (): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    if (this.inflight.size === 0) return
    this.ackTimer = setTimeout(() => {
      this.h.alert('sync/ack-timeout', 'the relay did not confirm a write in time; reconnecting')
      this.h.reconnect()
    }, this.opts.ackTimeoutMs)
  }

  onAck (reqId: number, cursor: number): void {
    const o = this.inflight.get(reqId)
    if (o === undefined) return
    this.inflight.delete(reqId)
    this.h.acked(cursor, o)
    // The envelope stays in the outbox until another member is seen holding it (receipts.ts); the
    // session state (written soon after: host.acked) names this stream's acknowledged head
    // (writer.storedHeads), so a later session neither sends it again unasked nor reads this
    // stream from a start pruned by then. Lost in a crash before that write, it is merely sent again.
    this.h.writer.stored(o.env, cursor)
    this.refusedDelay = 1000
    // An ack frees a slot of the in-flight window: send what was waiting for one.
    this.pump()
    this.armAckTimer()
    this.schedule(true)
    this.h.statusChanged()
  }

  /** An error answer to one of our appends; false when `reqId` is not ours. */
  onError (reqId: number, code: string, message: string): boolean {
    const o = this.inflight.get(reqId)
    if (o === undefined) return false
    this.inflight.delete(reqId)
    // Answered: the ack deadline covers only what is still in flight (armed for this one, it
    // fired 10 s later as a false sync/ack-timeout and a needless reconnect when nothing else was).
    this.armAckTimer()
    // A refused resend is never taken as stored (store/pruned included: the stored bytes may be
    // another session's): its content goes out again in this session's stream.
    // "Seq gap" while envelopes before it were acknowledged: the relay lost them or never stored
    // them (a forged ack). They are sent again, then this one; nothing is re-sealed.
    if (code === 'store/seq-gap' && this.h.writer.outbox.some(e => e.stream === o.stream && e.seq < o.seq)) {
      if (this.h.writer.unack(o.stream, o.seq) > 0) this.h.alert('sync/ack-unbacked', 'the relay acknowledged writes it does not hold; they are sent again')
      this.requeue()
      // Edits gathered while it was in flight waited for its ack, which an error answer replaces.
      this.schedule()
      return true
    }
    if (RESEAL_CODES.has(code)) {
      this.refused(o, code)
      // As above: without this, an edit made while an earlier session's envelope was being
      // refused as store/pruned was never sealed (convergence SEED=607477144: unsynced 1 forever).
      this.schedule()
      return true
    }
    // Kept in the outbox, same bytes, never re-sealed: a quota refusal (`relay/quota`, the space is
    // full on this relay) lasts until the relay has room again, so the session backs off and tries
    // again. The envelopes in flight with it are refused alike: one alert and one reconnect for all.
    if (this.refusedTimer !== undefined) return true
    if (code === 'relay/quota') {
      this.h.alert('sync/quota', `the relay's storage quota for this space is full (${code}: ${message}); the change stays on this device and is sent again later`)
    } else if (code !== 'relay/unavailable') {
      // (`relay/unavailable`: the relay lost its database for a moment; the status shows the
      // retries, and the write is sent again like any unacknowledged one.)
      this.h.alert('sync/write-refused', `the relay refused a write: ${code} ${message}; the change stays on this device and is sent again`)
    }
    const d = this.refusedDelay
    this.refusedDelay = Math.min(d * 2, 60_000)
    this.refusedTimer = setTimeout(() => {
      this.refusedTimer = undefined
      if (!this.h.closed()) this.h.reconnect()
    }, d)
    return true
  }

  private refused (o: OutEntry, code: string): void {
    const r = this.h.writer.refused(o.env)
    if (r.dropped.length === 0) return
    this.resealed += r.dropped.length
    void this.h.persist({ outboxDrop: r.dropped, ...(r.added === undefined ? {} : { outboxAdd: [r.added] }) })
    // Not an alert by itself: an earlier session's envelope whose position was lost or pruned is
    // expected after a crash, a restored backup or a second process; its content is not lost.
    if (code === 'store/equivocation' && r.added !== undefined && this.h.writer.rotations > 3) {
      this.h.alert('sync/stream-rotated', 'the relay keeps refusing this device\'s writes; its changes were re-sealed in a new stream')
    }
    this.pump()
    this.h.statusChanged()
  }

  /**
   * Sends again, in outbox order, everything not acknowledged and not in flight: after a gap or a
   * read-back showed the relay lacks acknowledged envelopes.
   */
  requeue (): void {
    this.sent = new WeakSet(this.inflight.values())
    this.pump()
    this.h.statusChanged()
  }

  /** The connection closed: everything is sent again on the next one. */
  onClose (): void {
    this.inflight.clear()
    this.sent = new WeakSet()
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer)
    this.ackTimer = undefined
  }

  stop (): void {
    this.onClose()
    if (this.refusedTimer !== undefined) clearTimeout(this.refusedTimer)
    this.refusedTimer = undefined
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
  }
}
