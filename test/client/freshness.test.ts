import { describe, expect, it } from 'vitest'
import { toHex } from '../../shared/bytes.js'
import { CHECKPOINT_HASH_BYTES, MAX_CHECKPOINT_HEADS, type Checkpoint } from '../../shared/checkpoint.js'
import { checkpointOf, FreshnessCheck, judge, type FreshnessHost, type ReaderView } from '../../client/core/freshness.js'
import type { StreamHead } from '../../client/core/reader.js'

/**
 * The freshness part alone (client/core/freshness.ts), with plain inputs: what a link's checkpoint
 * names, and how a joiner judges, asks, alerts and clears. The wiring over a real relay and a lying
 * one is in test/relay/stale-join.test.ts.
 */
const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)
const A = toHex(bytes(32, 0xa1))
const B = toHex(bytes(32, 0xb2))
const ME = toHex(bytes(32, 0xee))
const sk = (author: string, s: number): string => `${author}:${toHex(bytes(8, s))}`
const h32 = (x: number): Uint8Array => bytes(32, x)

function reader (heads: [string, StreamHead][], hashes: Record<string, Uint8Array> = {}, stuck: [string, number][] = []): ReaderView & { heads: Map<string, StreamHead> } {
  const m = new Map(heads)
  return {
    heads: m,
    stuck: new Map(stuck),
    hashAt: (k: string, seq: number) => {
      const h = m.get(k)
      if (h !== undefined && h.seq === seq && h.hash.length > 0) return h.hash
      return hashes[`${k}@${seq}`]
    }
  } as unknown as ReaderView & { heads: Map<string, StreamHead> }
}

describe('checkpointOf: what a link made now names', () => {
  it('the most recently active heads first (by relay cursor), at most four, with hash prefixes', () => {
    const r = reader([
      [sk(A, 1), { seq: 5, hash: h32(1), cursor: 10 }],
      [sk(A, 2), { seq: 9, hash: h32(2), cursor: 50 }],
      [sk(B, 1), { seq: 2, hash: h32(3), cursor: 40 }],
      [sk(B, 2), { seq: 7, hash: new Uint8Array(0), cursor: 30 }], // folded: position only
      [sk(B, 3), { seq: 1, hash: h32(5), cursor: 5 }]
    ])
    const cp = checkpointOf(r.heads, [], ME)
    expect(cp.heads.map(h => `${toHex(h.author)}:${toHex(h.stream)}@${h.seq}`)).toEqual([`${sk(A, 2)}@9`, `${sk(B, 1)}@2`, `${sk(B, 2)}@7`, `${sk(A, 1)}@5`])
    expect(cp.heads[0]!.hash).toEqual(bytes(CHECKPOINT_HASH_BYTES, 2))
    expect(cp.heads[2]!.hash.length).toBe(0)
  })

  it('includes this device\'s own stored heads; a snapshot\'s claims only after every verified head', () => {
    const r = reader([
      [sk(A, 1), { seq: 100, hash: h32(1), cursor: 0, claimUpTo: 100, claimedBy: B }],
      [sk(B, 1), { seq: 3, hash: h32(2), cursor: 20 }]
    ])
    const cp = checkpointOf(r.heads, [{ stream: toHex(bytes(8, 9)), seq: 4, hash: h32(9), cursor: 60 }], ME)
    expect(cp.heads.map(h => `${toHex(h.author)}:${toHex(h.stream)}`)).toEqual([sk(ME, 9), sk(B, 1), sk(A, 1)])
    const many = reader(Array.from({ length: 6 }, (_, i) => [sk(B, i + 10), { seq: i, hash: h32(i), cursor: 100 + i }] as [string, StreamHead]))
    many.heads.set(sk(A, 1), { seq: 100, hash: h32(1), cursor: 0, claimUpTo: 100, claimedBy: B })
    const top = checkpointOf(many.heads, [], ME)
    expect(top.heads).toHaveLength(MAX_CHECKPOINT_HEADS)
    expect(top.heads.some(h => toHex(h.author) === A)).toBe(false)
  })

  it('an empty space gives an empty checkpoint', () => {
    expect(checkpointOf(new Map(), [], ME)).toEqual({ heads: [] })
  })
})

describe('judge: does this replica reach a checkpoint', () => {
  const cp: Checkpoint = {
    heads: [
      { author: bytes(32, 0xa1), stream: bytes(8, 1), seq: 5, hash: bytes(CHECKPOINT_HASH_BYTES, 1) },
      { author: bytes(32, 0xb2), stream: bytes(8, 1), seq: 2, hash: new Uint8Array(0) }
    ]
  }

  it('reached at or past every head (past it, a known hash is compared, an unknown one is not needed)', () => {
    expect(judge(cp, reader([[sk(A, 1), { seq: 5, hash: h32(1) }], [sk(B, 1), { seq: 2, hash: h32(7) }]]), ME)).toEqual({ missing: [], contradicted: [] })
    expect(judge(cp, reader([[sk(A, 1), { seq: 9, hash: h32(9) }], [sk(B, 1), { seq: 40, hash: h32(7) }]]), ME)).toEqual({ missing: [], contradicted: [] })
    expect(judge(cp, reader([[sk(A, 1), { seq: 9, hash: h32(9) }], [sk(B, 1), { seq: 2, hash: new Uint8Array(0) }]], { [`${sk(A, 1)}@5`]: h32(1) }), ME).missing).toEqual([])
  })

  it('names what is missing, and how far each stream is behind', () => {
    const r = judge(cp, reader([[sk(A, 1), { seq: 1, hash: h32(1) }]]), ME)
    expect(r.missing.map(m => [m.sk, m.have, m.seq])).toEqual([[sk(A, 1), 1, 5], [sk(B, 1), -1, 2]])
  })

  it('another hash at a named position is a contradiction', () => {
    const r = judge(cp, reader([[sk(A, 1), { seq: 5, hash: h32(6) }], [sk(B, 1), { seq: 2, hash: h32(7) }]]), ME)
    expect(r.contradicted).toEqual([{ sk: sk(A, 1), seq: 5, claim: false }])
    const claimed = judge(cp, reader([[sk(A, 1), { seq: 5, hash: h32(6), claimUpTo: 5, claimedBy: B }], [sk(B, 1), { seq: 2, hash: h32(7) }]]), ME)
    expect(claimed.contradicted).toEqual([{ sk: sk(A, 1), seq: 5, claim: true }])
    const past = judge(cp, reader([[sk(A, 1), { seq: 8, hash: h32(8) }], [sk(B, 1), { seq: 2, hash: h32(7) }]], { [`${sk(A, 1)}@5`]: h32(6) }), ME)
    expect(past.contradicted).toHaveLength(1)
  })

  it('skips this device\'s own streams and streams stopped at refused content', () => {
    const mine: Checkpoint = { heads: [{ author: bytes(32, 0xee), stream: bytes(8, 1), seq: 50, hash: new Uint8Array(0) }, cp.heads[0]!] }
    expect(judge(mine, reader([], {}, [[sk(A, 1), 3]]), ME)).toEqual({ missing: [], contradicted: [] })
  })
})

describe('FreshnessCheck: a joiner judges, asks, alerts and clears', () => {
  const cp: Checkpoint = { heads: [{ author: bytes(32, 0xa1), stream: bytes(8, 1), seq: 3, hash: bytes(CHECKPOINT_HASH_BYTES, 3) }] }
  function world (serve: boolean) {
    const r = reader([[sk(A, 1), { seq: 0, hash: h32(0) }]])
    const log = { alerts: [] as { code: string; message: string; author?: string }[], cleared: [] as string[], changed: 0, asked: [] as number[] }
    const host: FreshnessHost = {
      reader: r, devicePkHex: ME, retryMs: 30,
      fetchStream: async (_a, _s, from) => {
        log.asked.push(from)
        if (serve) r.heads.set(sk(A, 1), { seq: 3, hash: h32(3) })
        return true
      },
      alert: (code, message, extra) => log.alerts.push({ code, message, ...extra }),
      clear: code => log.cleared.push(code),
      changed: () => { log.changed++ }
    }
    return { r, log, host }
  }

  it('an old link on a new device cannot be checked: said in the status, not alerted', () => {
    const { host, log } = world(true)
    expect(new FreshnessCheck(host, undefined, true).status).toEqual({ state: 'unchecked', behind: 0, code: 'sync/freshness-unchecked' })
    expect(new FreshnessCheck(host, undefined, false).status).toEqual({ state: 'local', behind: 0 })
    expect(log.alerts).toEqual([])
  })

  it('an honest relay serves what it lacks when asked: reached, no alert', async () => {
    const { host, log } = world(true)
    const f = new FreshnessCheck(host, cp, true)
    expect(f.status.state).toBe('checking')
    await f.caughtUp()
    expect(log.asked).toEqual([1])
    expect(f.status.state).toBe('reached')
    expect(log.alerts).toEqual([])
  })

  it('a relay that serves less: sync/stale-join naming the author and the count, asked again, cleared once reached', async () => {
    const { host, log, r } = world(false)
    const f = new FreshnessCheck(host, cp, true)
    await f.caughtUp()
    expect(f.status).toEqual({ state: 'behind', behind: 3 })
    expect(log.alerts).toHaveLength(1)
    expect(log.alerts[0]).toMatchObject({ code: 'sync/stale-join', author: A })
    expect(log.alerts[0]!.message).toMatch(/3 change\(s\) in 1 stream\(s\)/)
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(log.asked.length).toBeGreaterThan(1) // kept asking
    expect(log.alerts).toHaveLength(1) // alerted once
    r.heads.set(sk(A, 1), { seq: 4, hash: h32(4) })
    f.applied()
    expect(f.status.state).toBe('reached')
    expect(log.cleared).toEqual(['sync/stale-join'])
    const asked = log.asked.length
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(log.asked.length).toBe(asked) // stopped asking
    f.stop()
  })

  it('a relay that never answers does not hold the judgement up past retryMs', async () => {
    const { host, log } = world(false)
    const f = new FreshnessCheck({ ...host, fetchStream: () => new Promise(() => {}) }, cp, true)
    await f.caughtUp()
    expect(f.status.state).toBe('behind')
    expect(log.alerts.map(a => a.code)).toEqual(['sync/stale-join'])
    f.stop()
  })

  it('another envelope at the named position: sync/equivocation, settled', async () => {
    const { host, log, r } = world(false)
    r.heads.set(sk(A, 1), { seq: 3, hash: h32(9) })
    const f = new FreshnessCheck(host, cp, true)
    await f.caughtUp()
    expect(f.status.state).toBe('contradicted')
    expect(log.alerts).toMatchObject([{ code: 'sync/equivocation', author: A }])
  })
})
