import type { Frame, FrameOf } from '../../shared/frame.js'
import type { StreamReader } from './reader.js'

/**
 * What a session asks the relay for outside the live catch-up (DESIGN.md §4, §7): a stream's
 * missing entries (gaps, by stream and seq, never trusting the relay's cursor), the rest of a stream
 * a snapshot names, and a range of the log read in place of a join snapshot that was refused.
 *
 * - A gap is asked for at once and again every `gapTimeoutMs` while it stays open, with a
 *   `sync/missing-entries` alert each time (the relay may be withholding).
 * - A log range moves the resume point down (`floor`) until it is read, so a crash halfway reads
 *   it again instead of skipping it.
 */
export interface FetcherHost {
  readonly spaceId: Uint8Array
  readonly reader: StreamReader
  readonly gapTimeoutMs: number
  send (f: Frame): boolean
  nextReqId (): number
  alert (code: string, message: string, extra: { author?: string }): void
  scheduleMeta (): void
}

export class Fetcher {
  private readonly reqs = new Set<number>()
  private readonly logReqs = new Set<number>()
  /** Callers waiting for a fetchStream answer to be read: called with whether it was complete. */
  private readonly waiters = new Map<number, (complete: boolean) => void>()
  private readonly gapTimers = new Map<string, ReturnType<typeof setTimeout>>()
  /** Reading the log from here up to `logUpTo` in place of a refused join snapshot. */
  private logFloor: number | undefined
  private logUpTo = 0

  constructor (private readonly h: FetcherHost) {}

  /** The resume point may not pass this while a log range is being read. */
  get floor (): number | undefined { return this.logFloor }

  owns (reqId: number): boolean { return this.reqs.has(reqId) }

  /** An `entries` frame answering one of ours: true (and forgotten) when it is. */
  take (reqId: number): boolean { return this.reqs.delete(reqId) }

  /** After an answer's entries were read: next log page, the rest of a cut gap page, waiters. */
  answered (f: FrameOf<'entries'>): void {
    if (this.logReqs.has(f.reqId)) this.onLogPage(f)
    else if (f.more) this.continueGaps()
    const w = this.waiters.get(f.reqId)
    if (w !== undefined) { this.waiters.delete(f.reqId); w(!f.more) }
  }

  /** An error answer to one of ours: true when it was. */
  failed (reqId: number): boolean {
    const w = this.waiters.get(reqId)
    if (w === undefined) return false
    this.waiters.delete(reqId)
    this.reqs.delete(reqId)
    w(false)
    return true
  }

  private ask (f: (reqId: number) => Frame): number | undefined {
    const reqId = this.h.nextReqId()
    this.reqs.add(reqId)
    if (this.h.send(f(reqId))) return reqId
    this.reqs.delete(reqId)
    return undefined
  }

  /** Asks for a stream from `fromSeq`; resolves once the answer was read: true when it was complete. */
  stream (author: Uint8Array, stream: Uint8Array, fromSeq: number): Promise<boolean> {
    return new Promise(resolve => {
      const reqId = this.ask(reqId => ({ type: 'fetchStream', reqId, spaceId: this.h.spaceId, author, stream, fromSeq, limit: 512 }))
      if (reqId === undefined) resolve(false)
      else this.waiters.set(reqId, resolve)
    })
  }

  gap (sk: string, author: Uint8Array, stream: Uint8Array, fromSeq: number): void {
    if (this.gapTimers.has(sk)) return
    this.ask(reqId => ({ type: 'fetchStream', reqId, spaceId: this.h.spaceId, author, stream, fromSeq, limit: 512 }))
    this.gapTimers.set(sk, setTimeout(() => {
      this.gapTimers.delete(sk)
      const r = this.h.reader
      if (r.stuck.has(sk) || !r.missing(sk)) return
      this.h.alert('sync/missing-entries', `entries from seq ${fromSeq} of a member's stream are missing: the relay may be withholding them`, { author: sk.split(':')[0]! })
      this.gap(sk, author, stream, (r.heads.get(sk)?.seq ?? -1) + 1)
    }, this.h.gapTimeoutMs))
  }

  /** Asks at once, again, for every stream still missing entries (a cut page, a new connection). */
  continueGaps (): void {
    for (const g of this.h.reader.gaps()) {
      this.clearGap(g.sk)
      this.gap(g.sk, g.author, g.stream, g.fromSeq)
    }
  }

  clearGap (sk: string): void {
    const t = this.gapTimers.get(sk)
    if (t !== undefined) clearTimeout(t)
    this.gapTimers.delete(sk)
  }

  /** Reads the log after `from` up to `upTo` (a join snapshot was refused; the relay went on after it). */
  log (from: number, upTo: number): void {
    if (from >= upTo) return
    this.logFloor = Math.min(this.logFloor ?? Infinity, from)
    this.logUpTo = Math.max(this.logUpTo, upTo)
    this.logPage(from)
  }

  private logPage (after: number): void {
    const reqId = this.ask(reqId => ({ type: 'fetch', reqId, spaceId: this.h.spaceId, after, limit: 512 }))
    if (reqId !== undefined) this.logReqs.add(reqId)
  }

  private onLogPage (f: FrameOf<'entries'>): void {
    this.logReqs.delete(f.reqId)
    const last = f.entries.at(-1)?.cursor
    if (last !== undefined && last < this.logUpTo) return this.logPage(last)
    this.logFloor = undefined
    this.logUpTo = 0
    this.h.scheduleMeta()
  }

  /** The connection closed: answers will not come (gaps are asked for again on the next one). */
  onClose (): void {
    this.reqs.clear()
    this.logReqs.clear()
    for (const w of this.waiters.values()) w(false)
    this.waiters.clear()
  }

  stop (): void {
    this.onClose()
    for (const t of this.gapTimers.values()) clearTimeout(t)
    this.gapTimers.clear()
  }
}
