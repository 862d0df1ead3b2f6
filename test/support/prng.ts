/**
 * A tiny seeded PRNG for randomized tests: sfc32 (Chris Doty-Humphrey's Small Fast Counter, as in
 * PractRand), seeded through splitmix32 so nearby seeds give unrelated streams. Not for secrets:
 * test randomness only, chosen so a failing run can be replayed exactly from its printed seed.
 */
export interface Prng {
  readonly seed: number
  /** Uniform in [0, 1). */
  next (): number
  /** Uniform integer in [lo, hi], both ends included. */
  int (lo: number, hi: number): number
  /** A uniformly chosen element; throws on an empty array (a test bug). */
  pick<T> (arr: readonly T[]): T
  /** True with probability `p` (default one half). */
  bool (p?: number): boolean
  /** `n` pseudo-random bytes. */
  bytes (n: number): Uint8Array
}

function splitmix32 (state: number): () => number {
  let s = state >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
}

export function createPrng (seed: number): Prng {
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`)
  const init = splitmix32(seed)
  let a = init()
  let b = init()
  let c = init()
  let d = 1
  const u32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = ((c << 21) | (c >>> 11)) >>> 0
    c = (c + t) >>> 0
    return t
  }
  // Discard the first outputs: sfc32's state needs a few rounds to mix (PractRand's own seeding does 12).
  for (let i = 0; i < 12; i++) u32()
  const next = (): number => u32() / 0x1_0000_0000
  const int = (lo: number, hi: number): number => {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) throw new Error(`bad range [${lo}, ${hi}]`)
    return lo + Math.floor(next() * (hi - lo + 1))
  }
  return {
    seed,
    next,
    int,
    pick<T> (arr: readonly T[]): T {
      if (arr.length === 0) throw new Error('pick from an empty array')
      return arr[int(0, arr.length - 1)] as T
    },
    bool: (p = 0.5) => next() < p,
    bytes (n: number): Uint8Array {
      const out = new Uint8Array(n)
      for (let i = 0; i < n; i++) out[i] = u32() & 0xff
      return out
    }
  }
}

/**
 * The seed for one randomized test: `SEED` from the environment when set (to replay a failure),
 * otherwise a fresh random one. Logged either way, so the seed of a failing run is in its output:
 *   SEED=1234 npx vitest run test/shared/frame.test.ts
 */
export function testSeed (name: string): number {
  const fromEnv = process.env.SEED
  let seed: number
  if (fromEnv !== undefined && fromEnv !== '') {
    seed = Number(fromEnv)
    if (!Number.isSafeInteger(seed)) throw new Error(`SEED must be an integer, got ${JSON.stringify(fromEnv)}`)
    // fast-check and sfc32 both take 32-bit seeds.
    seed |= 0
  } else {
    seed = globalThis.crypto.getRandomValues(new Int32Array(1))[0]!
  }
  console.log(`[seed] ${name}: SEED=${seed}`)
  return seed
}
