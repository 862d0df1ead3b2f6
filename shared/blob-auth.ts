import { concat, fromB64u, toB64u } from './bytes.js'
import { verifyDetached } from './sign.js'
import type { Sodium } from './sodium.js'

/**
 * Proof of space membership for the blob endpoints (PROTOCOL.md §Blobs). Blobs travel over plain
 * HTTP, not the authenticated WebSocket, so every request carries a signature by the space's
 * access key (the key the relay already checks at `auth`) over the method, space, blob and time:
 *
 *   x-cove-auth := decimal(unixMillis) "." b64u(Ed25519_sign(access.sk, TAG_BLOB • method • 0x00 • spaceId • blobId • decimal(unixMillis)))
 *
 * The domain tag keeps it from ever verifying as a relay-auth or envelope signature. The time
 * bounds a captured header's reuse; blobs are immutable, so a replayed PUT cannot change one.
 */
export const TAG_BLOB = new TextEncoder().encode('cove/blob-auth/v1\0')
export const BLOB_ID_BYTES = 16
export const AUTH_HEADER = 'x-cove-auth'

export function blobAuthMessage (method: string, spaceId: Uint8Array, blobId: Uint8Array, at: number): Uint8Array {
  const enc = new TextEncoder()
  return concat(TAG_BLOB, enc.encode(method.toUpperCase()), new Uint8Array([0]), spaceId, blobId, enc.encode(String(at)))
}

/** The header value a member sends; `accessSk` is the space's access private key. */
export function signBlobRequest (sodium: Sodium, accessSk: Uint8Array, method: string, spaceId: Uint8Array, blobId: Uint8Array, at = Date.now()): string {
  return `${at}.${toB64u(sodium.crypto_sign_detached(blobAuthMessage(method, spaceId, blobId, at), accessSk))}`
}

/** True when the header is a fresh signature by `accessPk` for exactly this request. */
export function verifyBlobRequest (sodium: Sodium, accessPk: Uint8Array, header: string, method: string, spaceId: Uint8Array, blobId: Uint8Array, now: number, skewMs: number): boolean {
  const m = /^(\d{1,15})\.([A-Za-z0-9_-]{86})$/.exec(header)
  if (m === null) return false
  const at = Number(m[1])
  if (Math.abs(now - at) > skewMs) return false
  const sig = fromB64u(m[2]!)
  if (sig === undefined) return false
  return verifyDetached(sodium, sig, blobAuthMessage(method, spaceId, blobId, at), accessPk)
}
