import { concat, fromB64u, toB64u } from './bytes.js'
import { certMessage, verifyDetached } from './sign.js'
import type { Sodium } from './sodium.js'

/**
 * Proofs for the blob endpoints (PROTOCOL.md §Files). Blobs travel over plain HTTP, not the
 * authenticated WebSocket, so every request carries one, bound to the method, space, blob and time.
 *
 * Reading needs membership: a signature by the space's access key (the key the relay checks at
 * `auth`), which every link holds:
 *
 *   x-cove-auth (GET, HEAD) := decimal(unixMillis) "." b64u(Ed25519_sign(access.sk, TAG_BLOB • method • 0x00 • spaceId • blobId • decimal(unixMillis)))
 *
 * Writing needs the write capability, like an update envelope (issue 8: a view link could
 * upload): a device key, its certificate by the write key, and the device's signature:
 *
 *   x-cove-auth (PUT) := decimal(unixMillis) "." b64u(device.pk) "." b64u(cert) "." b64u(Ed25519_sign(device.sk, TAG_BLOB_WRITE • "PUT" • 0x00 • spaceId • blobId • decimal(unixMillis)))
 *   cert              := Ed25519_sign(write.sk, "cove/device-cert/v1\0" • spaceId • device.pk)      (as in envelope headers)
 *
 * The domain tags keep either from ever verifying as a relay-auth, envelope or each other's
 * signature. The time bounds a captured header's reuse; blobs are immutable, so a replayed PUT
 * cannot change one.
 */
export const TAG_BLOB = new TextEncoder().encode('cove/blob-auth/v1\0')
export const TAG_BLOB_WRITE = new TextEncoder().encode('cove/blob-write/v1\0')
export const BLOB_ID_BYTES = 16
export const AUTH_HEADER = 'x-cove-auth'

/** A device that signs blob writes: its key pair and its certificate by the space's write key. */
export interface BlobWriter { readonly publicKey: Uint8Array; readonly privateKey: Uint8Array; readonly cert: Uint8Array }

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

function writeMessage (spaceId: Uint8Array, blobId: Uint8Array, at: number): Uint8Array {
  const enc = new TextEncoder()
  return concat(TAG_BLOB_WRITE, enc.encode('PUT'), new Uint8Array([0]), spaceId, blobId, enc.encode(String(at)))
}

/** The PUT header a writer's device sends. */
export function signBlobWrite (sodium: Sodium, device: BlobWriter, spaceId: Uint8Array, blobId: Uint8Array, at = Date.now()): string {
  const sig = sodium.crypto_sign_detached(writeMessage(spaceId, blobId, at), device.privateKey)
  return `${at}.${toB64u(device.publicKey)}.${toB64u(device.cert)}.${toB64u(sig)}`
}

/**
 * True when the header is a fresh PUT signature for exactly this blob by a device that `writePk`
 * certified for this space. A view link holds no write key, so it can produce no such header.
 */
export function verifyBlobWrite (sodium: Sodium, writePk: Uint8Array, header: string, spaceId: Uint8Array, blobId: Uint8Array, now: number, skewMs: number): boolean {
  const m = /^(\d{1,15})\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{86})\.([A-Za-z0-9_-]{86})$/.exec(header)
  if (m === null) return false
  const at = Number(m[1])
  if (Math.abs(now - at) > skewMs) return false
  const device = fromB64u(m[2]!)
  const cert = fromB64u(m[3]!)
  const sig = fromB64u(m[4]!)
  if (device === undefined || cert === undefined || sig === undefined) return false
  return verifyDetached(sodium, cert, certMessage(spaceId, device), writePk) &&
    verifyDetached(sodium, sig, writeMessage(spaceId, blobId, at), device)
}
