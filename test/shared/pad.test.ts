import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bucket, pad, unpad } from '../../shared/pad.js'
import { createPrng, testSeed } from '../support/prng.js'

const seed = testSeed('pad')

describe('Padmé buckets', () => {
  it('are monotone, never below the length, never below 32, and fixed points of themselves', () => {
    let prev = bucket(0)
    expect(prev).toBe(32)
    for (let n = 1; n <= 1 << 18; n++) {
      const b = bucket(n)
      if (b < prev || b < n || b < 32 || bucket(b) !== b) throw new Error(`bucket(${n}) = ${b} after ${prev}`)
      prev = b
    }
  })

  it('cost at most 12% above 1 KiB (the 0x80 marker included)', () => {
    const over = (n: number): number => (pad(new Uint8Array(n)).length - n) / n
    let worst = 0
    for (let n = 1024; n <= 1 << 18; n++) worst = Math.max(worst, (bucket(n + 1) - n) / n)
    const prng = createPrng(seed)
    for (let i = 0; i < 2000; i++) {
      const n = prng.int(1 << 18, 16 * 1024 * 1024)
      worst = Math.max(worst, (bucket(n + 1) - n) / n)
    }
    expect(worst).toBeLessThanOrEqual(0.12)
    expect(worst).toBeGreaterThan(0) // the loop ran over lengths that do get padded
    for (const n of [1024, 1025, 4097, 100_000]) expect(over(n)).toBeLessThanOrEqual(0.12)
  })

  it('leak few distinct sizes: at most a few dozen buckets up to 64 KiB', () => {
    const sizes = new Set<number>()
    for (let n = 0; n <= 65_536; n++) sizes.add(bucket(n))
    // Padmé leaks O(log log n) bits: far fewer buckets than lengths.
    expect(sizes.size).toBeLessThan(200)
    expect(sizes.size).toBeGreaterThan(10)
  })
})

describe('pad / unpad', () => {
  it('unpad(pad(x)) = x, including plaintexts that end in 0x80 or 0x00', () => {
    const tricky = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.array(fc.constantFrom(0x00, 0x80), { minLength: 1, maxLength: 40 }))
        .map(([a, b]) => Uint8Array.from([...a, ...b]))
    )
    fc.assert(fc.property(tricky, (x) => {
      const p = pad(x)
      expect(p.length).toBe(bucket(x.length + 1))
      expect(p[x.length]).toBe(0x80)
      expect(p.subarray(x.length + 1).every(b => b === 0)).toBe(true)
      expect(unpad(p)).toEqual(x)
    }), { seed, numRuns: 500 })
  })

  it('malformed padding gives undefined', () => {
    expect(unpad(new Uint8Array(0))).toBeUndefined()
    expect(unpad(new Uint8Array(32))).toBeUndefined()
    expect(unpad(Uint8Array.from([1, 2, 3, 0, 0]))).toBeUndefined()
    expect(unpad(Uint8Array.from([0x80, 0x81]))).toBeUndefined()
    expect(unpad(Uint8Array.from([0x80]))).toEqual(new Uint8Array(0))
    // Any buffer whose last non-zero byte is not 0x80 is refused.
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 1, max: 255 }).filter(b => b !== 0x80), fc.nat({ max: 40 }),
      (prefix, last, zeros) => {
        expect(unpad(Uint8Array.from([...prefix, last, ...new Array<number>(zeros).fill(0)]))).toBeUndefined()
      }), { seed, numRuns: 300 })
  })
})
