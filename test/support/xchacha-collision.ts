/**
 * A reference XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03 §2, RFC 8439 §2.3, §2.5, §2.8) in
 * plain TypeScript, only to build what libsodium's API will not: a ciphertext that decrypts under
 * TWO keys. That is the premise of the "invisible salamanders" / partitioning-oracle attacks
 * (Len, Grubbs, Ristenpart, USENIX Security 2021) that the envelope's key commitment stops.
 *
 * Poly1305 is linear in the message blocks, so with every block but one fixed, "the tag under key A
 * equals the tag under key B" is one linear equation in the free block over GF(2^130 - 5).
 * Slow and test-only; never use it to encrypt anything.
 */

const P = (1n << 130n) - 5n
const TWO128 = 1n << 128n

function rotl (v: number, n: number): number {
  return ((v << n) | (v >>> (32 - n))) >>> 0
}

function chachaRounds (s: Uint32Array): void {
  const qr = (a: number, b: number, c: number, d: number): void => {
    s[a] = (s[a]! + s[b]!) >>> 0; s[d] = rotl(s[d]! ^ s[a]!, 16)
    s[c] = (s[c]! + s[d]!) >>> 0; s[b] = rotl(s[b]! ^ s[c]!, 12)
    s[a] = (s[a]! + s[b]!) >>> 0; s[d] = rotl(s[d]! ^ s[a]!, 8)
    s[c] = (s[c]! + s[d]!) >>> 0; s[b] = rotl(s[b]! ^ s[c]!, 7)
  }
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)
    qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)
  }
}

function initState (key: Uint8Array, last16: Uint8Array): Uint32Array {
  const s = new Uint32Array(16)
  s.set([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574])
  const kv = new DataView(key.buffer, key.byteOffset, 32)
  for (let i = 0; i < 8; i++) s[4 + i] = kv.getUint32(4 * i, true)
  const nv = new DataView(last16.buffer, last16.byteOffset, 16)
  for (let i = 0; i < 4; i++) s[12 + i] = nv.getUint32(4 * i, true)
  return s
}

function words (s: Uint32Array, idx: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 * idx.length)
  const v = new DataView(out.buffer)
  idx.forEach((w, i) => v.setUint32(4 * i, s[w]!, true))
  return out
}

/** HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2). */
function hchacha20 (key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  const s = initState(key, nonce16)
  chachaRounds(s)
  return words(s, [0, 1, 2, 3, 12, 13, 14, 15])
}

/** One 64-byte ChaCha20 block (RFC 8439 §2.3) with a 32-bit counter and 96-bit nonce. */
function chachaBlock (key: Uint8Array, counter: number, nonce12: Uint8Array): Uint8Array {
  const last = new Uint8Array(16)
  new DataView(last.buffer).setUint32(0, counter, true)
  last.set(nonce12, 4)
  const init = initState(key, last)
  const s = init.slice()
  chachaRounds(s)
  for (let i = 0; i < 16; i++) s[i] = (s[i]! + init[i]!) >>> 0
  return words(s, [...Array(16).keys()])
}

/** XChaCha20 = ChaCha20-IETF under HChaCha20(key, nonce[0..16]) with nonce 0^4 • nonce[16..24]. */
function subkeyAndNonce (key: Uint8Array, nonce: Uint8Array): { subkey: Uint8Array, nonce12: Uint8Array } {
  const nonce12 = new Uint8Array(12)
  nonce12.set(nonce.subarray(16, 24), 4)
  return { subkey: hchacha20(key, nonce.subarray(0, 16)), nonce12 }
}

/** The keystream that encrypts plaintext byte 0 onwards (block counter 1; block 0 is the Poly1305 key). */
export function xchachaKeystream (key: Uint8Array, nonce: Uint8Array, length: number): Uint8Array {
  const { subkey, nonce12 } = subkeyAndNonce(key, nonce)
  const out = new Uint8Array(length)
  for (let i = 0; i * 64 < length; i++) out.set(chachaBlock(subkey, i + 1, nonce12).subarray(0, Math.min(64, length - 64 * i)), 64 * i)
  return out
}

function le (b: Uint8Array): bigint {
  let v = 0n
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!)
  return v
}

function toLe16 (v: bigint): Uint8Array {
  const out = new Uint8Array(16)
  for (let i = 0; i < 16; i++) { out[i] = Number(v & 0xffn); v >>= 8n }
  return out
}

function modpow (b: bigint, e: bigint): bigint {
  let r = 1n
  b %= P
  while (e > 0n) {
    if ((e & 1n) === 1n) r = (r * b) % P
    b = (b * b) % P
    e >>= 1n
  }
  return r
}

const mod = (v: bigint): bigint => ((v % P) + P) % P

function polyKey (key: Uint8Array, nonce: Uint8Array): { r: bigint, s: bigint } {
  const { subkey, nonce12 } = subkeyAndNonce(key, nonce)
  const block0 = chachaBlock(subkey, 0, nonce12)
  return { r: le(block0.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn, s: le(block0.subarray(16, 32)) }
}

/** The RFC 8439 §2.8 MAC input as Poly1305 block integers (each with its 2^128 marker bit). */
function macBlocks (aad: Uint8Array, ct: Uint8Array): bigint[] {
  const blocks: bigint[] = []
  const padded = (b: Uint8Array): void => {
    for (let i = 0; i < b.length; i += 16) {
      const blk = new Uint8Array(16)
      blk.set(b.subarray(i, i + 16))
      blocks.push(le(blk) + TWO128)
    }
  }
  padded(aad)
  padded(ct)
  const lens = new Uint8Array(16)
  const v = new DataView(lens.buffer)
  v.setBigUint64(0, BigInt(aad.length), true)
  v.setBigUint64(8, BigInt(ct.length), true)
  blocks.push(le(lens) + TWO128)
  return blocks
}

/** h = Σ m_j · r^(q−j+1) mod p, before adding s. */
function polyH (blocks: readonly bigint[], r: bigint): bigint {
  let h = 0n
  for (const m of blocks) h = ((h + m) * r) % P
  return h
}

/** The 16-byte tag libsodium appends to the ciphertext. */
export function referenceTag (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  const { r, s } = polyKey(key, nonce)
  return toLe16((polyH(macBlocks(aad, ct), r) + s) % TWO128)
}

/**
 * `ciphertext • tag` whose first 16-byte block is solved so the tag is valid under both keys;
 * `tail` (a multiple of 16 bytes) is the rest of the ciphertext, unchanged. Returns undefined for
 * the ~3 in 4 nonces where the solution does not fit in one block or the tags differ by p mod 2^128:
 * the caller retries with a fresh nonce.
 */
export function twoKeyCiphertext (keyA: Uint8Array, keyB: Uint8Array, nonce: Uint8Array, aad: Uint8Array, tail: Uint8Array): Uint8Array | undefined {
  if (tail.length % 16 !== 0) throw new Error('tail must be whole blocks')
  const A = polyKey(keyA, nonce)
  const B = polyKey(keyB, nonce)
  const ct = new Uint8Array(16 + tail.length)
  ct.set(tail, 16)
  // With the free block x at 0, h(x) = h(0) + x · r^e, e = its distance from the end of the MAC input.
  const blocks = macBlocks(aad, ct)
  const e = BigInt(blocks.length - Math.ceil(aad.length / 16))
  const hA0 = polyH(blocks, A.r)
  const hB0 = polyH(blocks, B.r)
  const cA = modpow(A.r, e)
  const cB = modpow(B.r, e)
  // Want hA + sA = hB + sB as integers; solve hA − hB ≡ sB − sA (mod p) for x.
  const x = mod(mod(B.s - A.s - hA0 + hB0) * modpow(mod(cA - cB), P - 2n))
  if (x >= TWO128) return undefined
  ct.set(toLe16(x), 0)
  const tagA = referenceTag(keyA, nonce, aad, ct)
  const tagB = referenceTag(keyB, nonce, aad, ct)
  if (le(tagA) !== le(tagB)) return undefined
  const out = new Uint8Array(ct.length + 16)
  out.set(ct)
  out.set(tagA, ct.length)
  return out
}
