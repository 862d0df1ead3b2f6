import type { AppendResult, LogStore } from '../../relay/storage/port.js'

/**
 * A relay log store that can "lose power" (kill -9) in process. Appends are held for a short
 * random time before they reach the real store, like a request still being handled; `crash()`
 * then drops those (never committed, never acknowledged) and swallows the results of appends the
 * real store committed but the relay had not yet acknowledged (committed, ack lost). Both states are
 * what a relay killed mid-write leaves behind: clients must resend the first and must not
 * duplicate the second. Reads after a crash never answer, so nothing more is sent either.
 */
export interface CrashableStore extends LogStore {
  crash (): void
}

export function createCrashableStore (inner: LogStore, delay: () => number, trace?: (line: string) => void): CrashableStore {
  let crashed = false
  const never = <T>(): Promise<T> => new Promise<T>(() => {})
  const append: LogStore['append'] = async (spaceId, e, maxLogBytes): Promise<AppendResult> => {
    const ms = delay()
    if (ms > 0) await new Promise(resolve => setTimeout(resolve, ms))
    if (crashed) return never()
    const r = await inner.append(spaceId, e, maxLogBytes)
    trace?.(`relay append ${Buffer.from(e.author).toString('hex').slice(0, 6)}#${e.seq} -> ${r.ok ? `cursor ${r.cursor}${r.duplicate ? ' (duplicate)' : ''}` : r.code}${crashed ? ' (after the crash: never acknowledged)' : ''}`)
    return crashed ? never() : r
  }
  const own: Record<string, unknown> = { append, crash () { crashed = true }, close: () => inner.close() }
  // Every other port method is forwarded, and goes silent after the crash (a Proxy, so methods
  // added to the port later are covered too).
  return new Proxy(inner, {
    get (target, prop, receiver) {
      if (typeof prop === 'string' && prop in own) return own[prop]
      const v: unknown = Reflect.get(target, prop, receiver)
      if (typeof v !== 'function') return v
      return async (...args: unknown[]): Promise<unknown> => {
        if (crashed) return never()
        const r: unknown = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        if (prop === 'prune' || prop === 'putSnapshot') trace?.(`relay ${prop}(${prop === 'prune' ? String(args[1]) : `covers ${String((args[1] as { covers: number }).covers)}`}) -> ${JSON.stringify(r)}`)
        return crashed ? never() : r
      }
    }
  }) as CrashableStore
}
