import { describe, expect, it } from 'vitest'
import { createPrng, testSeed } from './prng.js'

describe('createPrng', () => {
  it('replays the same stream from the same seed, another from another seed', () => {
    const take = (seed: number): number[] => { const p = createPrng(seed); return Array.from({ length: 20 }, () => p.next()) }
    expect(take(42)).toEqual(take(42))
    expect(take(42)).not.toEqual(take(43))
    expect(take(0)).not.toEqual(take(-1))
  })

  it('stays in range and covers it', () => {
    const p = createPrng(7)
    const seen = new Set<number>()
    let trues = 0
    for (let i = 0; i < 20_000; i++) {
      const x = p.next()
      expect(x >= 0 && x < 1).toBe(true)
      const n = p.int(-3, 3)
      expect(Number.isInteger(n) && n >= -3 && n <= 3).toBe(true)
      seen.add(n)
      if (p.bool(0.25)) trues++
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([-3, -2, -1, 0, 1, 2, 3])
    expect(trues / 20_000).toBeGreaterThan(0.22)
    expect(trues / 20_000).toBeLessThan(0.28)
    expect(p.int(5, 5)).toBe(5)
    expect(['a', 'b', 'c']).toContain(p.pick(['a', 'b', 'c']))
    expect(p.bytes(1000).some(b => b > 127)).toBe(true)
    expect(() => p.pick([])).toThrow()
    expect(() => p.int(2, 1)).toThrow()
  })

  it('testSeed honours SEED', () => {
    const saved = process.env.SEED
    try {
      process.env.SEED = '12345'
      expect(testSeed('prng-test')).toBe(12345)
      delete process.env.SEED
      expect(Number.isInteger(testSeed('prng-test'))).toBe(true)
      process.env.SEED = 'abc'
      expect(() => testSeed('prng-test')).toThrow()
    } finally {
      if (saved === undefined) delete process.env.SEED
      else process.env.SEED = saved
    }
  })
})
