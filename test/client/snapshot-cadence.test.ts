import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { fallbackRank, MIN_SNAPSHOT_FLOOR_INTERVAL_MS, MIN_SNAPSHOT_LOG_BYTES, SnapshotCadence, type SnapshotPolicy } from '../../client/core/snapshot-cadence.js'

/**
 * When a replica snapshots (client/core/snapshot-cadence.ts), with fake timers: the policy alone,
 * no session. The product policy is 256 envelopes or 256 KiB, 5 s idle, state factor 1.
 */
const PRODUCT: SnapshotPolicy = { snapshotEvery: 256, snapshotBytes: 256 * 1024, snapshotIdleMs: 5000, stateFactor: 1 }

function world (policy: SnapshotPolicy = PRODUCT, opts: { canSnapshot?: boolean; held?: number; me?: string } = {}): { c: SnapshotCadence; made: () => number; setHeld: (n: number | undefined) => void } {
  let made = 0
  let held = opts.held
  const c = new SnapshotCadence(policy, {
    canSnapshot: () => opts.canSnapshot ?? true,
    snapshot: () => { made++ },
    stateBytes: () => held,
    me: opts.me ?? 'me'
  })
  return { c, made: () => made, setHeld: n => { held = n } }
}

/** `n` envelopes of `bytes` each, sealed here (`own`) or applied. */
function notes (c: SnapshotCadence, n: number, bytes: number, own: boolean): void {
  for (let i = 0; i < n; i++) c.note(bytes, own)
}

beforeEach(() => { vi.useFakeTimers() })
afterEach(() => { vi.useRealTimers(); vi.restoreAllMocks() })

describe('snapshot cadence', () => {
  it('before any snapshot the first comes early: after MIN_SNAPSHOT_LOG_BYTES of envelopes, far below 256 envelopes or 256 KiB', () => {
    const w = world()
    const env = 1000
    const n = Math.ceil(MIN_SNAPSHOT_LOG_BYTES / env)
    notes(w.c, n - 1, env, true)
    vi.advanceTimersByTime(300)
    expect(w.made()).toBe(0)
    w.c.note(env, true)
    vi.advanceTimersByTime(300)
    expect(w.made()).toBe(1)
    expect(n).toBeLessThan(256)
  })

  it('once a snapshot is held, the next waits for 256 envelopes and as many envelope bytes as its state', () => {
    const w = world(PRODUCT, { held: 100_000 })
    w.c.taken(100_000)
    // 300 envelopes of 200 bytes: past the count, not past the state's size.
    notes(w.c, 300, 200, true)
    vi.advanceTimersByTime(300)
    expect(w.made()).toBe(0)
    notes(w.c, 250, 200, true)
    vi.advanceTimersByTime(300)
    expect(w.made()).toBe(1)
  })

  it('a small space snapshots again after MIN_SNAPSHOT_LOG_BYTES of envelopes, not only after 256 of them', () => {
    const w = world({ ...PRODUCT, snapshotIdleMs: 0 }, { held: 5_000 })
    w.c.taken(5_000)
    // Far past its 5 KB state, below the floor: not yet (a small space does not snapshot every few keystrokes).
    notes(w.c, 60, 350, true)
    vi.advanceTimersByTime(300)
    expect(w.made()).toBe(0)
    // Past the floor, but within MIN_SNAPSHOT_FLOOR_INTERVAL_MS of the last snapshot: not yet.
    notes(w.c, 40, 350, false)
    vi.advanceTimersByTime(3000)
    expect(w.made()).toBe(0)
    // Once that long has passed, the next envelope makes it due.
    vi.advanceTimersByTime(MIN_SNAPSHOT_FLOOR_INTERVAL_MS)
    expect(w.made()).toBe(0)
    w.c.note(350, true)
    vi.advanceTimersByTime(6500)
    expect(w.made()).toBe(1)
  })

  it('with stateFactor 0 only count, bytes and idleness decide (tests that control snapshots)', () => {
    const w = world({ ...PRODUCT, stateFactor: 0, snapshotIdleMs: 0 })
    notes(w.c, 200, 1000, true)
    vi.advanceTimersByTime(300)
    expect(w.made()).toBe(0)
    notes(w.c, 56, 1000, true)
    vi.advanceTimersByTime(300)
    expect(w.made()).toBe(1)
  })

  it('the member whose own envelope crossed goes first; another waits 3–6 s as a fallback; a view-only device never', () => {
    const policy = { ...PRODUCT, snapshotIdleMs: 0 }
    const own = world(policy)
    const other = world(policy)
    const viewer = world(policy, { canSnapshot: false })
    for (let i = 0; i < 40; i++) { own.c.note(1000, true); other.c.note(1000, false); viewer.c.note(1000, false) }
    vi.advanceTimersByTime(300)
    expect(own.made()).toBe(1)
    expect(other.made()).toBe(0)
    vi.advanceTimersByTime(2500)
    expect(other.made()).toBe(0)
    vi.advanceTimersByTime(3500)
    expect(other.made()).toBe(1)
    vi.advanceTimersByTime(60_000)
    expect(viewer.made()).toBe(0)
  })

  it('a snapshot taken meanwhile resets the count: the fallback does not fire', () => {
    const other = world()
    notes(other.c, 40, 1000, false)
    other.c.taken(5000)
    other.setHeld(5000)
    vi.advanceTimersByTime(7000)
    expect(other.made()).toBe(0)
  })

  it('another member\'s snapshot (seen) makes this one back off: counting starts again', () => {
    const w = world({ ...PRODUCT, snapshotIdleMs: 0 })
    notes(w.c, 30, 1000, false)
    w.c.seen()
    notes(w.c, 10, 1000, false)
    vi.advanceTimersByTime(7000)
    expect(w.made()).toBe(0)
    notes(w.c, 30, 1000, false)
    vi.advanceTimersByTime(7000)
    expect(w.made()).toBe(1)
  })

  it('only the envelope that crossed the threshold gives its sealer the turn, not any own envelope sealed while it stays crossed', () => {
    const w = world({ ...PRODUCT, snapshotIdleMs: 0 })
    // Crossed by another member's envelope: the fallback (3–6 s), not at once.
    notes(w.c, 40, 1000, false)
    // This member types on (own envelopes) while the threshold stays crossed: still the fallback.
    notes(w.c, 5, 300, true)
    vi.advanceTimersByTime(2900)
    expect(w.made()).toBe(0)
    vi.advanceTimersByTime(3200)
    expect(w.made()).toBe(1)
  })

  it('the fallback order: every member ranks the other writers alike, one per rank, and the order changes with the crossing cursor', () => {
    const writers = Array.from({ length: 20 }, (_, i) => `w${i}`)
    const order = (cursor: number): string[] => {
      const ranks = writers.slice(1).map(w => fallbackRank(writers, 'w0', cursor, w))
      expect([...ranks].sort((a, b) => a - b)).toEqual(writers.slice(1).map((_, i) => i))
      return writers.slice(1).sort((a, b) => fallbackRank(writers, 'w0', cursor, a) - fallbackRank(writers, 'w0', cursor, b))
    }
    expect(order(100)).toEqual(order(100))
    expect(order(100)).not.toEqual(order(101))
  })

  it('with places in the log, the other writers take over one at a time, 3 s apart, not all after 3–6 s', () => {
    const names = ['a', 'b', 'c', 'd']
    const ws = names.map(me => ({ me, w: world({ ...PRODUCT, snapshotIdleMs: 0 }, { me }) }))
    // 40 envelopes of 1 KB, written in turn by the four; the 33rd (cursor 32) crosses 32 KiB.
    for (let cursor = 0; cursor < 40; cursor++) {
      const author = names[cursor % 4] as string
      for (const { me, w } of ws) w.c.note(1000, me === author, { author, cursor })
    }
    const crosser = names[32 % 4] as string
    // The crosser's own turn fails (it left): nothing made by it here.
    const others = ws.filter(x => x.me !== crosser)
    const at = (ms: number): number => { vi.advanceTimersByTime(ms); return others.reduce((n, x) => n + x.w.made(), 0) }
    expect(at(2900)).toBe(0)
    expect(at(600)).toBe(1)
    const first = others.find(x => x.w.made() === 1)?.me as string
    expect(fallbackRank(names, crosser, 32, first)).toBe(0)
    expect(at(2400)).toBe(1)
    expect(at(600)).toBe(2)
    expect(at(3000)).toBe(3)
  })
  it('a turn is over once a snapshot is seen: its fallback does not fire on the count that follows (the crosser\'s own next turn)', () => {
    const random = vi.spyOn(Math, 'random').mockReturnValue(0)
    const w = world({ ...PRODUCT, snapshotIdleMs: 0 }, { me: 'reader' })
    const place = (cursor: number): { author: string; cursor: number } => ({ author: 'typist', cursor })
    let cursor = 0
    // The typist's envelope crosses: this member's fallback is armed for 3 s later.
    for (let i = 0; i < 40; i++) w.c.note(1000, false, place(cursor++))
    vi.advanceTimersByTime(1000)
    // The typist's snapshot arrives; the typist types on and crosses again at once.
    w.c.seen()
    for (let i = 0; i < 40; i++) w.c.note(1000, false, place(cursor++))
    // The first crossing's fallback would have fired at 3 s (with the count due again) and taken
    // the turn from the typist; the new crossing's fallback comes 3 s after it, not before.
    vi.advanceTimersByTime(2500)
    expect(w.made()).toBe(0)
    vi.advanceTimersByTime(6500)
    expect(w.made()).toBe(1)
    random.mockRestore()
  })

  it('a member who wrote nothing since the last snapshot comes after every writer, spread over a whole turn', () => {
    const random = vi.spyOn(Math, 'random')
    try {
      const fired: number[] = []
      for (const r of [0, 0.5, 0.99]) {
        random.mockReturnValue(r)
        const w = world({ ...PRODUCT, snapshotIdleMs: 0 }, { me: 'reader' })
        // Writers a (the crosser), b and c; this member only reads.
        for (let cursor = 0; cursor < 40; cursor++) w.c.note(1000, false, { author: 'abc'[cursor % 3] as string, cursor })
        let t = 0
        while (w.made() === 0 && t < 30_000) { vi.advanceTimersByTime(100); t += 100 }
        fired.push(t)
      }
      // b and c have 3 s each after the crosser's 3 s; the reader then draws from a 3 s window.
      expect(fired[0]).toBeGreaterThanOrEqual(9000)
      expect(fired[0]).toBeLessThanOrEqual(9100)
      expect(fired[1]).toBeGreaterThanOrEqual(10_500)
      expect(fired[2]).toBeGreaterThanOrEqual(11_900)
    } finally {
      random.mockRestore()
    }
  })
  it('closing: a member who wrote since the last snapshot seals one; of those who did not, three of the editors, the same three for everyone', () => {
    const editors = Array.from({ length: 20 }, (_, i) => `e${i}`)
    const closers = (heldSeq: number): string[] => editors.filter(me => {
      const w = world({ ...PRODUCT, snapshotIdleMs: 0 }, { me })
      // Everyone applied 40 envelopes of e0's.
      for (let cursor = 0; cursor < 40; cursor++) w.c.note(1000, me === 'e0', { author: 'e0', cursor })
      return w.c.closes(editors, heldSeq)
    })
    const now = closers(4)
    expect(now).toContain('e0')
    expect(now.filter(e => e !== 'e0').length).toBeLessThanOrEqual(3)
    expect(now.length).toBeGreaterThanOrEqual(3)
    expect(closers(4)).toEqual(now)
    // Another snapshot held: another three (as a rule; fixed here).
    expect(closers(5)).not.toEqual(now)
  })
})
