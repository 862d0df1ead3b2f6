/**
 * Callers waiting for "every local change is durably stored by the relay" (Space.whenStored, the
 * CLI's exit condition), or for particular acks (a snapshot's wait for its envelopes in flight).
 * The session wakes them on every status change; each checks its own condition.
 */
export class StoredWaiters {
  private readonly waiters = new Set<() => void>()

  /** Resolves once `done()` holds at a wake-up (or now); rejects after `timeoutMs`. */
  wait (timeoutMs: number, done: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (done()) { cleanup(); resolve() }
      }
      const timer = setTimeout(() => { cleanup(); reject(new Error('timed out waiting for the relay')) }, timeoutMs)
      const cleanup = (): void => { clearTimeout(timer); this.waiters.delete(check) }
      this.waiters.add(check)
      check()
    })
  }

  wake (): void {
    for (const w of [...this.waiters]) w()
  }
}
