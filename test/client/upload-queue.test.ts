import { describe, expect, it } from 'vitest'
import * as queue from '../../client/core/upload-queue.js'
import { BACKOFF, PHASE, type QueueEntry } from '../../client/core/upload-queue.js'

/** The upload queue's rules alone (issue 9.5): plain entries, `now` passed in. */
const entry = (blob: string, addedAt: number, bytes = 100): QueueEntry => queue.newEntry({ blob, item: `i-${blob}`, name: `${blob}.bin`, bytes }, addedAt)

describe('upload queue rules', () => {
  it('a new entry is due at once; the oldest due entry goes first', () => {
    const a = entry('a', 10)
    const b = entry('b', 5)
    expect(a).toMatchObject({ phase: PHASE.waiting, attempts: 0, nextAt: 10 })
    expect(queue.due([a, b], 10)?.blob).toBe('b')
    expect(queue.due([a, b], 7)?.blob).toBe('b')
    expect(queue.due([a], 9)).toBeUndefined()
    expect(queue.wakeAt([a, b])).toBe(5)
    expect(queue.wakeAt([])).toBeUndefined()
  })

  it('backs off exponentially with jitter, capped', () => {
    expect(queue.backoffMs(1, () => 1)).toBe(BACKOFF.baseMs)
    expect(queue.backoffMs(2, () => 1)).toBe(2 * BACKOFF.baseMs)
    expect(queue.backoffMs(4, () => 0)).toBe(4 * BACKOFF.baseMs)
    expect(queue.backoffMs(50, () => 1)).toBe(BACKOFF.maxMs)
    for (let n = 1; n < 20; n++) {
      const ms = queue.backoffMs(n)
      expect(ms).toBeGreaterThanOrEqual(BACKOFF.baseMs / 2)
      expect(ms).toBeLessThanOrEqual(BACKOFF.maxMs)
    }
  })

  it('no answer from the relay, a 5xx or a 403: waits and tries again, later each time', () => {
    let e = entry('a', 0)
    const waits: number[] = []
    for (const code of ['file/network', 'file/http', 'file/forbidden', 'file/network'] as const) {
      e = queue.failed(e, code, 'x', 1000, () => 1)
      expect(e.phase).toBe(PHASE.waiting)
      waits.push(e.nextAt - 1000)
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000])
    expect(e.attempts).toBe(4)
    expect(e.error).toEqual({ code: 'file/network', message: 'x' })
  })

  it('a full quota holds the file (kept, tried again rarely); a refusal for good fails it until Retry', () => {
    const held = queue.failed(entry('a', 0), 'file/quota', 'full', 50)
    expect(held).toMatchObject({ phase: PHASE.held, nextAt: 50 + BACKOFF.heldMs, error: { code: 'file/quota' } })
    expect(queue.due([held], 50 + BACKOFF.heldMs - 1)).toBeUndefined()
    expect(queue.due([held], 50 + BACKOFF.heldMs)?.blob).toBe('a')
    for (const code of ['file/too-large', 'file/read-only', 'file/missing-local'] as const) {
      const f = queue.failed(entry('b', 0), code, 'no', 50)
      expect(f.phase).toBe(PHASE.failed)
      expect(queue.due([f], Number.MAX_SAFE_INTEGER)).toBeUndefined()
      expect(queue.wakeAt([f])).toBeUndefined()
      const again = queue.retry(f, 60)
      expect(again).toMatchObject({ phase: PHASE.waiting, attempts: 0, nextAt: 60 })
    }
  })

  it('reachable again: only what waits out a network backoff is due now', () => {
    const net = queue.failed(entry('a', 0), 'file/network', 'x', 0)
    const held = queue.failed(entry('b', 0), 'file/quota', 'x', 0)
    const stop = queue.failed(entry('c', 0), 'file/too-large', 'x', 0)
    const [n, h, s] = queue.reachable([net, held, stop], 5)
    expect(n).toMatchObject({ phase: PHASE.waiting, nextAt: 5, attempts: 1 })
    expect(h).toBe(held)
    expect(s).toBe(stop)
  })

  it('uploaded: done, error cleared, never due; Retry leaves it alone', () => {
    const up = queue.uploaded(queue.failed(entry('a', 0), 'file/network', 'x', 0), 9)
    expect(up).toMatchObject({ phase: PHASE.uploaded, uploadedAt: 9, attempts: 0 })
    expect(up.error).toBeUndefined()
    expect(queue.due([up], Number.MAX_SAFE_INTEGER)).toBeUndefined()
    expect(queue.retry(up, 10)).toBe(up)
  })

  it('evicts uploaded local copies oldest first past the budget, never a file not uploaded yet', () => {
    const up = (blob: string, at: number, bytes: number): QueueEntry => queue.uploaded(entry(blob, 0, bytes), at)
    const waiting = entry('w', 0, 10_000)
    const list = [up('old', 1, 40), up('mid', 2, 40), up('new', 3, 40), waiting]
    expect(queue.evictable(list, 100)).toEqual(['old'])
    expect(queue.evictable(list, 40)).toEqual(['mid', 'old'])
    expect(queue.evictable(list, 0)).toEqual(['new', 'mid', 'old'])
    expect(queue.evictable([waiting], 0)).toEqual([])
  })
})
