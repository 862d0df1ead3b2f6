import sodiumModule from 'libsodium-wrappers'

/** The libsodium API, passed in explicitly (noble style) so tests and callers control initialisation. */
export type Sodium = typeof sodiumModule

let ready: Promise<Sodium> | undefined

/** Resolves once libsodium's WebAssembly is loaded; every caller shares one instance. */
export function getSodium (): Promise<Sodium> {
  ready ??= sodiumModule.ready.then(() => sodiumModule)
  return ready
}

const POOL = 24 * 512
let pool = new Uint8Array(0)
let poolPos = POOL

/**
 * Fresh random bytes for nonces. `sodium.randombytes_buf` costs ~63 µs a call against ~2 µs for
 * `crypto.getRandomValues` (DESIGN.md §11); slicing from a pooled buffer costs less still.
 * Every call returns bytes never returned before: the pool is refilled, never reused.
 */
export function randomBytes (n: number): Uint8Array {
  if (n > POOL) {
    // One getRandomValues call fills at most 65,536 bytes (WebCrypto throws QuotaExceededError above).
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i += 65536) globalThis.crypto.getRandomValues(out.subarray(i, i + 65536))
    return out
  }
  if (poolPos + n > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(POOL))
    poolPos = 0
  }
  const out = pool.slice(poolPos, poolPos + n)
  pool.fill(0, poolPos, poolPos + n)
  poolPos += n
  return out
}
