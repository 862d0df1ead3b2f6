/**
 * Length hiding (DESIGN.md §3): plaintexts are padded to Padmé buckets (Nikitin et al.,
 * "Reducing Metadata Leakage from Encrypted Files and Communication with PURBs", PETS 2019),
 * which leak O(log log n) bits of the length for at most ~12% overhead, with a 32-byte floor so
 * single keystrokes all look alike. Padding is ISO/IEC 7816-4: a 0x80 byte then zeros.
 */
const MIN_BUCKET = 32

export function bucket (n: number): number {
  if (n <= MIN_BUCKET) return MIN_BUCKET
  const e = Math.floor(Math.log2(n))
  const s = Math.floor(Math.log2(e)) + 1
  const mask = 2 ** (e - s) - 1
  return Math.ceil(n / (mask + 1)) * (mask + 1)
}

export function pad (plain: Uint8Array): Uint8Array {
  const out = new Uint8Array(bucket(plain.length + 1))
  out.set(plain)
  out[plain.length] = 0x80
  return out
}

/** Returns undefined when the padding is not well-formed (only possible for a buggy or hostile sealer). */
export function unpad (padded: Uint8Array): Uint8Array | undefined {
  let i = padded.length - 1
  while (i >= 0 && padded[i] === 0) i--
  if (i < 0 || padded[i] !== 0x80) return undefined
  return padded.subarray(0, i)
}
