import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { fromB64u, toB64u } from '../../shared/bytes.js'
import { CHECKPOINT_HASH_BYTES, MAX_CHECKPOINT_BYTES, MAX_CHECKPOINT_HEADS, readCheckpoint, writeCheckpoint, type Checkpoint, type CheckpointHead } from '../../shared/checkpoint.js'
import { formatLink, newSpaceSecrets, parseLink, type SpaceSecrets } from '../../shared/keys.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'
import { testSeed } from '../support/prng.js'

const seed = testSeed('checkpoint')
let sodium: Sodium
let secrets: SpaceSecrets
beforeAll(async () => {
  sodium = await getSodium()
  secrets = newSpaceSecrets(sodium)
})

const ORIGIN = 'https://cove.example'
const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)
const head = (a: number, s: number, seq: number, hashed = true): CheckpointHead =>
  ({ author: bytes(32, a), stream: bytes(8, s), seq, hash: hashed ? bytes(CHECKPOINT_HASH_BYTES, a ^ s ^ 0x5a) : new Uint8Array(0) })

const arbHead = fc.record({
  author: fc.constantFrom(1, 2, 3).map(a => bytes(32, a)),
  stream: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  seq: fc.integer({ min: 0, max: 0xffffffff }),
  hash: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: CHECKPOINT_HASH_BYTES, maxLength: CHECKPOINT_HASH_BYTES }))
})
/** Heads as the decoder returns them: grouped by author in first-seen order. */
const grouped = (hs: readonly CheckpointHead[]): CheckpointHead[] => {
  const order: string[] = []
  for (const h of hs) if (!order.includes(toB64u(h.author))) order.push(toB64u(h.author))
  return order.flatMap(a => hs.filter(h => toB64u(h.author) === a))
}
const distinct = (hs: CheckpointHead[]): CheckpointHead[] => hs.filter((h, i) => hs.findIndex(x => toB64u(x.author) === toB64u(h.author) && toB64u(x.stream) === toB64u(h.stream)) === i)

describe('freshness checkpoints (shared/checkpoint.ts)', () => {
  it('round-trip any heads up to the cap, grouped by author', () => {
    fc.assert(fc.property(fc.array(arbHead, { maxLength: MAX_CHECKPOINT_HEADS }).map(distinct), heads => {
      const enc = writeCheckpoint({ heads })
      expect(enc.length).toBeLessThanOrEqual(MAX_CHECKPOINT_BYTES)
      const r = readCheckpoint(enc)
      if (!r.ok) throw new Error(r.message)
      expect(r.value.heads).toEqual(grouped(heads))
    }), { seed, numRuns: 300 })
  })

  it('are short: an empty one is 2 bytes, one author with 4 streams 139', () => {
    expect(writeCheckpoint({ heads: [] })).toEqual(Uint8Array.of(1, 0))
    const four = writeCheckpoint({ heads: [head(1, 1, 100), head(1, 2, 5), head(1, 3, 0), head(1, 4, 7)] })
    expect(four.length).toBe(2 + 32 + 1 + 4 * (8 + 1 + 1 + 16))
  })

  it('write only the first MAX_CHECKPOINT_HEADS heads and the hash prefix', () => {
    const full = { author: bytes(32, 9), stream: bytes(8, 9), seq: 3, hash: bytes(32, 7) }
    const many = [full, head(1, 1, 1), head(2, 2, 2), head(3, 3, 3), head(4, 4, 4)]
    const r = readCheckpoint(writeCheckpoint({ heads: many }))
    if (!r.ok) throw new Error(r.message)
    expect(r.value.heads).toHaveLength(MAX_CHECKPOINT_HEADS)
    expect(r.value.heads[0]!.hash).toEqual(bytes(CHECKPOINT_HASH_BYTES, 7))
    expect(() => writeCheckpoint({ heads: [{ ...full, stream: bytes(7, 0) }] })).toThrow()
    expect(() => writeCheckpoint({ heads: [{ ...full, seq: 2 ** 32 }] })).toThrow()
  })

  it('refuse malformed input with link/bad-checkpoint', () => {
    const good = writeCheckpoint({ heads: [head(1, 1, 300), head(2, 1, 4, false)] })
    const codeOf = (b: Uint8Array): string => { const r = readCheckpoint(b); return r.ok ? 'ok' : r.code }
    expect(codeOf(good)).toBe('ok')
    // Every truncation, down to nothing; any extra byte.
    for (let k = 1; k <= good.length; k++) expect(codeOf(good.subarray(0, good.length - k))).toBe('link/bad-checkpoint')
    expect(codeOf(Uint8Array.of(...good, 0))).toBe('link/bad-checkpoint')
    expect(codeOf(Uint8Array.of(2, 0))).toBe('link/bad-checkpoint') // unknown version
    expect(codeOf(Uint8Array.of(1, MAX_CHECKPOINT_HEADS + 1))).toBe('link/bad-checkpoint') // too many authors
    expect(codeOf(Uint8Array.of(1, 1, ...bytes(32, 1), 0))).toBe('link/bad-checkpoint') // an author with no streams
    expect(codeOf(Uint8Array.of(1, 1, ...bytes(32, 1), MAX_CHECKPOINT_HEADS + 1))).toBe('link/bad-checkpoint')
    expect(codeOf(Uint8Array.of(1, 1, ...bytes(32, 1), 1, ...bytes(8, 1), 0, 2))).toBe('link/bad-checkpoint') // hash flag 2
    expect(codeOf(Uint8Array.of(1, 1, ...bytes(32, 1), 1, ...bytes(8, 1), 0x80, 0x80, 0x80, 0x80, 0x10, 0))).toBe('link/bad-checkpoint') // seq ≥ 2^32
    expect(codeOf(Uint8Array.of(1, 1, ...bytes(32, 1), 2, ...bytes(8, 1), 0, 0, ...bytes(8, 1), 1, 0))).toBe('link/bad-checkpoint') // a stream twice
    expect(codeOf(Uint8Array.of(1, 2, ...bytes(32, 1), 3, ...bytes(8, 1), 0, 0, ...bytes(8, 2), 0, 0, ...bytes(8, 3), 0, 0, ...bytes(32, 2), 2))).toBe('link/bad-checkpoint') // 5 heads in all
    expect(codeOf(new Uint8Array(MAX_CHECKPOINT_BYTES + 1))).toBe('link/bad-checkpoint')
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), b => { expect(() => readCheckpoint(b)).not.toThrow() }), { seed, numRuns: 500 })
  })
})

describe('invite links with a checkpoint', () => {
  const cp: Checkpoint = { heads: [head(1, 1, 41), head(2, 3, 0, false)] }

  it('carry it after the key, for both kinds, and give it back parsed', () => {
    for (const mode of ['edit', 'view'] as const) {
      const link = formatLink(ORIGIN, secrets, mode, cp)
      const old = formatLink(ORIGIN, secrets, mode)
      expect(link.startsWith(`${old}.`)).toBe(true)
      const r = parseLink(sodium, link)
      if (!r.ok) throw new Error(r.message)
      expect(r.value.checkpoint).toEqual(cp)
      expect(r.value.secrets).toEqual((parseLink(sodium, old) as { ok: true; value: { secrets: SpaceSecrets } }).value.secrets)
      // Everything stays in the fragment.
      expect(new URL(link).hash).toBe(link.slice(link.indexOf('#')))
    }
    // The longest link (four authors, large seqs) stays pasteable: under 500 characters.
    const four = formatLink(ORIGIN, secrets, 'edit', { heads: [head(1, 1, 2 ** 32 - 1), head(2, 2, 2 ** 32 - 1), head(3, 3, 2 ** 32 - 1), head(4, 4, 2 ** 32 - 1)] })
    expect(four.length - ORIGIN.length).toBeLessThan(480)
  })

  it('made by older clients (no checkpoint) still parse, with none', () => {
    const r = parseLink(sodium, formatLink(ORIGIN, secrets, 'view'))
    expect(r.ok && r.value.checkpoint).toBeUndefined()
    expect(r.ok && 'checkpoint' in r.value).toBe(false)
    // A fixed link of the first format, as existing clients printed it.
    const fixed = `http://127.0.0.1:8787/#view1.${toB64u(new Uint8Array(84).fill(7))}`
    const f = parseLink(sodium, fixed)
    expect(f.ok && f.value.mode).toBe('view')
    expect(f.ok && f.value.checkpoint).toBeUndefined()
  })

  it('refuse a damaged checkpoint (typed), never dropping it silently', () => {
    const link = formatLink(ORIGIN, secrets, 'edit', cp)
    const tail = link.slice(link.lastIndexOf('.') + 1)
    const codeOf = (l: string): string => { const r = parseLink(sodium, l); return r.ok ? 'ok' : r.code }
    expect(codeOf(link)).toBe('ok')
    // Every truncation inside the checkpoint is refused (down to an empty one after the dot).
    for (let k = 1; k <= tail.length; k++) expect(['link/bad-checkpoint', 'link/malformed']).toContain(codeOf(link.slice(0, link.length - k)))
    expect(codeOf(link.slice(0, link.length - tail.length))).toBe('link/bad-checkpoint')
    expect(codeOf(`${link}A`)).not.toBe('ok')
    expect(codeOf(`${link}.AQA`)).toBe('link/malformed') // a third part
    expect(codeOf(`${link.slice(0, -tail.length)}AQA`)).toBe('ok') // the empty checkpoint
    expect(codeOf(`${link.slice(0, -tail.length)}${toB64u(Uint8Array.of(9, 0))}`)).toBe('link/bad-checkpoint')
    expect(codeOf(`${link.slice(0, -tail.length)}A+A`)).toBe('link/bad-checkpoint')
    expect(fromB64u(tail)).toBeDefined()
  })
})
