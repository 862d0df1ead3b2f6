import { concat } from './bytes.js'
import { err, ok, type Result } from './errors.js'
import type { Header, Parsed } from './header.js'
import type { Sodium } from './sodium.js'

/**
 * Signatures that anyone holding only public keys can check: the relay (defense in depth)
 * and every client. Each signed message starts with its own domain tag, so a signature made for
 * one purpose can never be replayed as another (RFC 8032 leaves domain separation to the caller).
 */
const enc = new TextEncoder()
export const TAG_CERT = enc.encode('cove/device-cert/v1\0')
export const TAG_ENVELOPE = enc.encode('cove/envelope/v1\0')
export const TAG_AUTH = enc.encode('cove/relay-auth/v1\0')
export const TAG_ATTEST = enc.encode('cove/attest/v1\0')
export const TAG_VIEW_CERT = enc.encode('cove/view-cert/v1\0')

/** BLAKE2b-256: envelope ids, chain links and ciphertext digests. */
export function hash (sodium: Sodium, data: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(32, data, null)
}

/** Ed25519 verify that turns libsodium's throws on malformed lengths into a plain `false`. */
export function verifyDetached (sodium: Sodium, sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): boolean {
  if (sig.length !== 64 || pk.length !== 32) return false
  try {
    return sodium.crypto_sign_verify_detached(sig, msg, pk)
  } catch {
    return false
  }
}

/** What the write capability signs to admit a device as a writer of one space. */
export function certMessage (spaceId: Uint8Array, author: Uint8Array): Uint8Array {
  return concat(TAG_CERT, spaceId, author)
}

/** What a device signs: the whole header (which holds nonce and commitment) and a digest of the ciphertext. */
export function envelopeMessage (sodium: Sodium, headerBytes: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return concat(TAG_ENVELOPE, headerBytes, hash(sodium, ciphertext))
}

/** What a connection signs with the space's access key to be admitted by the relay. */
export function authMessage (spaceId: Uint8Array, challenge: Uint8Array): Uint8Array {
  return concat(TAG_AUTH, spaceId, challenge)
}

/**
 * What a member's device signs to say "I opened this snapshot and it matches what I hold". The
 * relay prunes the log under a snapshot only once a device other than its author attested it
 * (issue 7): one member's poisoned snapshot must never become the only copy of a space.
 */
export function attestMessage (spaceId: Uint8Array, snapshotHash: Uint8Array): Uint8Array {
  return concat(TAG_ATTEST, spaceId, snapshotHash)
}

/**
 * Checks an attestation without any secret: `cert` is the device's write certificate (as in
 * envelope headers) under the space's `writePk`, and `signature` is the device's over
 * `attestMessage`. A view-only holder has no certificate, so it cannot attest.
 */
export function verifyAttestation (
  sodium: Sodium, spaceId: Uint8Array, writePk: Uint8Array, snapshotHash: Uint8Array,
  device: Uint8Array, cert: Uint8Array, signature: Uint8Array
): boolean {
  if (snapshotHash.length !== 32 || device.length !== 32) return false
  return verifyDetached(sodium, cert, certMessage(spaceId, device), writePk) &&
    verifyDetached(sodium, signature, attestMessage(spaceId, snapshotHash), device)
}

export type SignatureErrorCode = 'envelope/bad-cert' | 'envelope/bad-signature'

/**
 * The `cert` field of a presence envelope sealed by a view-only device: 64 zero bytes. Such a
 * device holds no write certificate, yet may say it is here (PROTOCOL.md "Presence"); everyone
 * shows it as an unverified viewer. An all-zero signature never verifies (its R encodes a point
 * of small order, which libsodium refuses), so no real certificate can be taken for this one.
 */
export const NO_CERT = new Uint8Array(64)

export function isNoCert (cert: Uint8Array): boolean {
  if (cert.length !== NO_CERT.length) return false
  let d = 0
  for (const b of cert) d |= b
  return d === 0
}

/**
 * Only the device signature, no certificate: for a view-only device's presence, and nothing else.
 * Callers must never take such an envelope, or its author, as certified (nor cache it as such).
 */
export function verifyDeviceSignature (sodium: Sodium, p: Parsed): Result<Header, 'envelope/bad-signature'> {
  if (!verifyDetached(sodium, p.signature, envelopeMessage(sodium, p.headerBytes, p.ciphertext), p.header.author)) {
    return err('envelope/bad-signature', 'device signature does not match')
  }
  return ok(p.header)
}

/**
 * The checks that need no secret: the author holds a write certificate for this space, and the
 * author signed these exact bytes. A view-only key cannot produce either.
 * `certOk` lets callers skip re-verifying a certificate they already verified for this author.
 */
export function verifyEnvelope (sodium: Sodium, p: Parsed, writePk: Uint8Array, certOk = false): Result<Header, SignatureErrorCode> {
  const h = p.header
  if (!certOk && !verifyDetached(sodium, h.cert, certMessage(h.spaceId, h.author), writePk)) {
    return err('envelope/bad-cert', 'author has no write capability for this space')
  }
  return verifyDeviceSignature(sodium, p)
}

/**
 * What the access key signs to vouch for a view-only device in its join record (issue 11): any
 * holder of the view link holds the access key, so this proves only "opened with a link of this
 * epoch". Its own domain tag keeps it from ever passing as a write certificate; the relay and
 * clients accept it in the `cert` field of a member record (type 6) and nowhere else.
 */
export function viewCertMessage (spaceId: Uint8Array, author: Uint8Array): Uint8Array {
  return concat(TAG_VIEW_CERT, spaceId, author)
}

/**
 * Checks a member record's author: a write certificate under `writePk` makes it an editor, a view
 * certificate under `accessPk` a viewer; then the device signature. Nothing else may call a
 * view-certified key a member.
 */
export function verifyMemberRecord (sodium: Sodium, p: Parsed, writePk: Uint8Array, accessPk: Uint8Array): Result<'edit' | 'view', SignatureErrorCode> {
  const h = p.header
  const role = verifyDetached(sodium, h.cert, certMessage(h.spaceId, h.author), writePk)
    ? 'edit'
    : verifyDetached(sodium, h.cert, viewCertMessage(h.spaceId, h.author), accessPk) ? 'view' : undefined
  if (role === undefined) return err('envelope/bad-cert', 'the author holds neither a write nor a view certificate of this space')
  const sig = verifyDeviceSignature(sodium, p)
  return sig.ok ? ok(role) : sig
}
