import { err, ok, type Result } from './errors.js'
import type { Sodium } from './sodium.js'

/**
 * XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03 §2, over RFC 8439 §2.8), the one AEAD Cove uses.
 * The only place that calls libsodium's AEAD, so the Wycheproof vectors test exactly what
 * `envelope.ts` runs. Lengths are checked first and named in the error (libsodium would throw a
 * generic message, or for some sizes not at all until deep inside); a forged or damaged ciphertext
 * is an expected failure and comes back as a value, not a throw.
 *
 * Not key-committing: callers that need "opens under exactly one key" add a commitment
 * (see `commitment` in envelope.ts).
 */
export const AEAD_KEY_BYTES = 32
export const AEAD_NONCE_BYTES = 24
export const AEAD_TAG_BYTES = 16

export type AeadErrorCode = 'aead/bad-key-length' | 'aead/bad-nonce-length' | 'aead/bad-ciphertext'

function checkLengths (key: Uint8Array, nonce: Uint8Array): Result<void, AeadErrorCode> {
  if (key.length !== AEAD_KEY_BYTES) return err('aead/bad-key-length', `key must be ${AEAD_KEY_BYTES} bytes, got ${key.length}`)
  if (nonce.length !== AEAD_NONCE_BYTES) return err('aead/bad-nonce-length', `nonce must be ${AEAD_NONCE_BYTES} bytes, got ${nonce.length}`)
  return ok(undefined)
}

/** Returns `ciphertext • tag(16)`. The nonce must be fresh and random for every message under a key. */
export function aeadEncrypt (sodium: Sodium, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Result<Uint8Array, AeadErrorCode> {
  const lengths = checkLengths(key, nonce)
  if (!lengths.ok) return lengths
  // With the lengths checked, libsodium's encrypt cannot fail on byte inputs: a throw here is a bug
  // and stays an exception.
  return ok(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, key))
}

/** Verifies the tag over `aad` and the ciphertext before returning any plaintext. */
export function aeadDecrypt (sodium: Sodium, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Result<Uint8Array, AeadErrorCode> {
  const lengths = checkLengths(key, nonce)
  if (!lengths.ok) return lengths
  try {
    return ok(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ct, aad, nonce, key))
  } catch {
    // libsodium throws on a bad tag and on a ciphertext shorter than the tag.
    return err('aead/bad-ciphertext', 'ciphertext, tag or associated data was altered')
  }
}
