import { describe, expect, it } from 'vitest'
import { toHex } from '../../shared/bytes.js'
import { randomBytes } from '../../shared/sodium.js'

describe('randomBytes', () => {
  it.each([0, 1, 24, 24 * 512, 24 * 512 + 1, 65_536, 65_537, 100_000, 1 << 20])('returns exactly %i bytes', (n) => {
    const b = randomBytes(n)
    expect(b.length).toBe(n)
    // 2^-128 chance of a false failure for the zero check on ≥16 bytes.
    if (n >= 16) expect(b.some(x => x !== 0)).toBe(true)
  })

  it('fills a large request everywhere, not only its first 64 KiB chunk', () => {
    const b = randomBytes(200_000)
    for (const at of [0, 65_536, 131_072, 199_984]) expect(b.subarray(at, at + 16).some(x => x !== 0)).toBe(true)
  })

  it('never hands out the same pooled bytes twice (across pool refills)', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 5_000; i++) seen.add(toHex(randomBytes(24)))
    expect(seen.size).toBe(5_000)
  })

  it('returns copies: changing one result does not touch the next', () => {
    const a = randomBytes(24)
    const b = randomBytes(24)
    const before = toHex(b)
    a.fill(0)
    expect(toHex(b)).toBe(before)
  })
})
