import type { Frame } from '../../shared/frame.js'

/**
 * Request ids and the answers awaited by them (DESIGN.md §4). The relay matches an answer to its
 * request by reqId alone, and nothing authenticates that id: ids are never reused in a session
 * (a counter, so a late answer to an old request cannot match a new one), never one another part
 * of the session still waits on, and every waiter gets an answer (the relay's, or a timeout,
 * offline or closed error of our own) so no caller hangs on a lost or withheld frame.
 */
export interface RequestsHost {
  send (f: Frame): boolean
  /** Another part (the join, appends, fetches) waits for an answer to this reqId. */
  taken (reqId: number): boolean
}

export class Requests {
  private readonly pending = new Map<number, (f: Frame) => void>()
  /**
   * The next id. A counter rather than random: a small id is 1–3 bytes on the wire where a random
   * 32-bit one is 5, and every keystroke's append carries one (issue 10). Only the relay sees the
   * ids and it can answer any of them anyway, so nothing is gained by making them unguessable.
   */
  private next = 1

  constructor (private readonly spaceId: Uint8Array, private readonly h: RequestsHost) {}

  /** A fresh request id: never 0 (which marks live pushes), never one awaited by any part. */
  nextId (): number {
    for (;;) {
      const id = this.next
      this.next = id >= 0x7fffffff ? 1 : id + 1
      if (!this.h.taken(id) && !this.pending.has(id)) return id
    }
  }

  /** Routes an answer to a pending `request`; false if nobody waits for this reqId. */
  answer (f: Frame): boolean {
    if (!('reqId' in f)) return false
    const fn = this.pending.get(f.reqId)
    if (fn === undefined) return false
    this.pending.delete(f.reqId)
    fn(f)
    return true
  }

  /** Sends a request frame and resolves with its answer (ok, error, snapshots or a part). */
  request (make: (reqId: number) => Frame, timeoutMs = 30_000): Promise<Frame> {
    const reqId = this.nextId()
    return new Promise(resolve => {
      const timer = setTimeout(() => {
        this.pending.delete(reqId)
        resolve({ type: 'error', reqId, spaceId: this.spaceId, code: 'sync/timeout', message: 'no answer from the relay' })
      }, timeoutMs)
      this.pending.set(reqId, f => { clearTimeout(timer); resolve(f) })
      if (!this.h.send(make(reqId))) this.answer({ type: 'error', reqId, spaceId: this.spaceId, code: 'sync/offline', message: 'not connected to the relay' })
    })
  }

  /** Answers every pending request with an error of ours now (the connection or the space closed). */
  failAll (code: string, message: string): void {
    for (const [reqId, answer] of [...this.pending]) {
      this.pending.delete(reqId)
      answer({ type: 'error', reqId, spaceId: this.spaceId, code, message })
    }
  }
}
