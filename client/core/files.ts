import { AUTH_HEADER, BLOB_ID_BYTES, signBlobRequest, signBlobWrite } from '../../shared/blob-auth.js'
import { concat, toHex } from '../../shared/bytes.js'
import { err, ok, type Result } from '../../shared/errors.js'
import { certifyDevice, type SpaceKeys } from '../../shared/keys.js'
import { randomBytes, type Sodium } from '../../shared/sodium.js'

/**
 * Files and photos (issue 3), encrypted on the device before upload.
 *
 *   blob      := header(24) • chunk* • finalChunk
 *   chunk     := crypto_secretstream_xchacha20poly1305_push(key, plain(64 KiB), ad = AD, TAG_MESSAGE)
 *   finalChunk:= the same with TAG_FINAL (plain ≤ 64 KiB, possibly empty)
 *   AD        := "cove/file/v1\0" • blobId(16)
 *
 * libsodium's secretstream gives every chunk its own nonce from an internal counter, so chunks
 * cannot be reordered, dropped or duplicated, and the final tag makes truncation detectable. The
 * blob id in the associated data stops the relay from answering one file's request with another
 * file's bytes. Each file has its own random key, stored only in the (encrypted) space document.
 *
 * Neither side holds a whole file in memory: encryption reads the file in 64 KiB slices and
 * builds the ciphertext as a Blob (the browser keeps large Blobs on disk); the relay streams the
 * upload to a file; download decrypts chunk by chunk as the response arrives.
 */
export const CHUNK_BYTES = 64 * 1024
/** Plaintext read from the file at once (a multiple of CHUNK_BYTES). */
const READ_BYTES = 64 * CHUNK_BYTES
const ABYTES = 17
const HEADER_BYTES = 24
const AD_TAG = new TextEncoder().encode('cove/file/v1\0')

/**
 * Why a file could not be read or sent. `network`: no answer from the relay (offline, or the relay
 * is down); `not-found`: the relay has no such blob (not uploaded yet); `forbidden`: 403 (a bad or
 * stale signature, or a space the relay does not know yet: created offline); `too-large`: 413.
 */
export type FileErrorCode = 'file/truncated' | 'file/bad-chunk' | 'file/trailing-bytes' | 'file/http' | 'file/network' | 'file/read-only' | 'file/quota' | 'file/not-found' | 'file/forbidden' | 'file/too-large'

export type Progress = (done: number, total: number) => void

export interface Encrypted {
  readonly blobId: Uint8Array
  readonly key: Uint8Array
  readonly ciphertext: Blob
  readonly size: number
}

/** Size of the ciphertext for a plaintext of `n` bytes. */
export function cipherSize (n: number, chunk = CHUNK_BYTES): number {
  const chunks = Math.max(1, Math.ceil(n / chunk))
  return HEADER_BYTES + n + chunks * ABYTES
}

/** Encrypts `file` in chunks; `onProgress` reports plaintext bytes done. */
export async function encryptFile (sodium: Sodium, file: Blob, onProgress?: Progress): Promise<Encrypted> {
  const blobId = randomBytes(BLOB_ID_BYTES)
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
  const ad = concat(AD_TAG, blobId)
  const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key)
  let out = new Blob([header as Uint8Array<ArrayBuffer>])
  let batch: Uint8Array<ArrayBuffer>[] = []
  let batchBytes = 0
  const total = file.size
  // Read a few MB at a time: each Blob read is a round trip to the browser's blob store, and one
  // per 64 KiB chunk made encryption several times slower than the cipher.
  let slab = new Uint8Array(0)
  let slabAt = 0
  for (let off = 0; ; off += CHUNK_BYTES) {
    const end = Math.min(total, off + CHUNK_BYTES)
    if (end > slabAt + slab.length) {
      slabAt = off
      slab = new Uint8Array(await file.slice(off, Math.min(total, off + READ_BYTES)).arrayBuffer())
    }
    const plain = slab.subarray(off - slabAt, end - slabAt)
    const last = end >= total
    const tag = last ? sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL : sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
    const c = sodium.crypto_secretstream_xchacha20poly1305_push(state, plain, ad, tag) as Uint8Array<ArrayBuffer>
    batch.push(c)
    batchBytes += c.length
    // Fold into the Blob every few MB so JS memory stays small however large the file is.
    if (batchBytes >= 4 * 1024 * 1024 || last) {
      out = new Blob([out, ...batch])
      batch = []
      batchBytes = 0
    }
    onProgress?.(end, total)
    if (last) break
  }
  return { blobId, key, ciphertext: out, size: out.size }
}

/**
 * Decrypts a ciphertext stream into a Blob of plaintext. Fails (never returns partial content
 * as if whole) when a chunk does not authenticate, the final tag is missing, or bytes follow it.
 */
export async function decryptStream (sodium: Sodium, body: ReadableStream<Uint8Array>, key: Uint8Array, blobId: Uint8Array, onProgress?: Progress, total = 0): Promise<Result<Blob, FileErrorCode>> {
  const ad = concat(AD_TAG, blobId)
  const reader = body.getReader()
  let buf: Uint8Array = new Uint8Array(0)
  let state: ReturnType<Sodium['crypto_secretstream_xchacha20poly1305_init_pull']> | undefined
  let finished = false
  let parts: Uint8Array<ArrayBuffer>[] = []
  let out = new Blob([])
  let received = 0
  const take = (n: number): Uint8Array => {
    const x = buf.subarray(0, n)
    buf = buf.subarray(n)
    return x
  }
  const pull = (c: Uint8Array): Result<void, FileErrorCode> => {
    if (state === undefined) return err('file/bad-chunk', 'no stream header')
    let r: { message: Uint8Array; tag: number } | false
    try {
      r = sodium.crypto_secretstream_xchacha20poly1305_pull(state, c, ad)
    } catch {
      r = false
    }
    if (r === false) return err('file/bad-chunk', 'a chunk of the file was altered or is out of order')
    parts.push(r.message as Uint8Array<ArrayBuffer>)
    if (r.tag === sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL) finished = true
    return ok(undefined)
  }
  for (;;) {
    const { value, done } = await reader.read()
    if (value !== undefined) {
      received += value.length
      buf = buf.length === 0 ? value : concat(buf, value)
      onProgress?.(received, total)
    }
    if (state === undefined && buf.length >= HEADER_BYTES) {
      state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(take(HEADER_BYTES).slice(), key)
    }
    // Keep one whole chunk back until the stream ends: only then is a short last chunk final.
    while (state !== undefined && !finished && (buf.length > CHUNK_BYTES + ABYTES || (done === true && buf.length > 0))) {
      const r = pull(take(Math.min(buf.length, CHUNK_BYTES + ABYTES)).slice())
      if (!r.ok) { await reader.cancel().catch(() => {}); return r }
    }
    if (finished && buf.length > 0) { await reader.cancel().catch(() => {}); return err('file/trailing-bytes', 'bytes after the end of the file') }
    if (parts.length >= 64 || (done === true && parts.length > 0)) {
      out = new Blob([out, ...parts])
      parts = []
    }
    if (done === true) break
  }
  if (!finished) return err('file/truncated', 'the file ended early: the relay sent only part of it')
  return ok(out)
}

/**
 * What the blob endpoints need from a space: its id, the access key that proves membership (to
 * read) and, to upload, the write key (absent in a view link) that certifies the uploading device.
 */
export type BlobKeys = Pick<SpaceKeys, 'spaceId' | 'access' | 'write'>

export function blobUrl (httpOrigin: string, keys: BlobKeys, blobId: Uint8Array): string {
  return `${httpOrigin.replace(/\/$/, '')}/blobs/${toHex(keys.spaceId)}/${toHex(blobId)}`
}

/** What an upload answer means; `body` is the relay's error code, when it sent one. */
function uploadResult (status: number, body: string): Result<void, FileErrorCode> {
  if (status === 201 || status === 409) return ok(undefined)
  const said = body.trim() === '' ? String(status) : `${status} ${body.trim()}`
  if (status === 507) return err('file/quota', `the relay's file space for this space is full (${said})`)
  if (status === 413) return err('file/too-large', `the file is larger than this relay accepts (${said})`)
  if (status === 403) return err('file/forbidden', `the relay did not accept this device's upload permission (${said})`)
  return err('file/http', `the relay refused the upload (${said})`)
}

/** Said instead of the browser's "Failed to fetch", which names neither the relay nor the network. */
export const UNREACHABLE = 'the relay cannot be reached (no network, or the relay is down)'

/** The bytes an upload sends: a file's ciphertext under its blob id (the key stays on the device). */
export type Upload = Pick<Encrypted, 'blobId' | 'ciphertext' | 'size'>

/**
 * PUT the ciphertext. XMLHttpRequest where it exists (fetch has no upload progress); fetch in Node.
 * A 409 means the blob is already there (a retry after a lost answer): ids are 16 random bytes.
 *
 * Blob writes need the write capability (issue 8), like update envelopes: the request is signed by
 * a device the write key certifies. A fresh one-off device per upload, so the relay cannot link an
 * upload to the member device that writes the space's updates.
 */
export async function uploadBlob (sodium: Sodium, httpOrigin: string, keys: BlobKeys, enc: Upload, onProgress?: Progress, signal?: AbortSignal): Promise<Result<void, FileErrorCode>> {
  const url = blobUrl(httpOrigin, keys, enc.blobId)
  const device = sodium.crypto_sign_keypair()
  const cert = certifyDevice(sodium, keys, device.publicKey)
  if (cert === undefined) return err('file/read-only', 'this link is view-only: it cannot upload files')
  const auth = signBlobWrite(sodium, { publicKey: device.publicKey, privateKey: device.privateKey, cert }, keys.spaceId, enc.blobId)
  sodium.memzero(device.privateKey)
  if (typeof XMLHttpRequest === 'function') {
    return new Promise(resolve => {
      const x = new XMLHttpRequest()
      x.open('PUT', url)
      x.setRequestHeader(AUTH_HEADER, auth)
      x.setRequestHeader('content-type', 'application/octet-stream')
      x.upload.onprogress = e => onProgress?.(e.loaded, e.total)
      x.onload = () => resolve(uploadResult(x.status, x.responseText))
      x.onerror = () => resolve(err('file/network', UNREACHABLE))
      x.onabort = () => resolve(err('file/network', 'the upload was stopped'))
      signal?.addEventListener('abort', () => x.abort(), { once: true })
      x.send(enc.ciphertext)
    })
  }
  try {
    const r = await fetch(url, { method: 'PUT', headers: { [AUTH_HEADER]: auth, 'content-type': 'application/octet-stream' }, body: enc.ciphertext, ...(signal === undefined ? {} : { signal }) })
    onProgress?.(enc.size, enc.size)
    return uploadResult(r.status, r.status === 201 ? '' : await r.text().catch(() => ''))
  } catch {
    return err('file/network', UNREACHABLE)
  }
}

/** GETs and decrypts a blob; the result is the plaintext as a Blob. A 404 is `file/not-found`: not uploaded (yet). */
export async function downloadFile (sodium: Sodium, httpOrigin: string, keys: BlobKeys, blobId: Uint8Array, key: Uint8Array, onProgress?: Progress): Promise<Result<Blob, FileErrorCode>> {
  let r: Response
  try {
    r = await fetch(blobUrl(httpOrigin, keys, blobId), { headers: { [AUTH_HEADER]: signBlobRequest(sodium, keys.access.privateKey, 'GET', keys.spaceId, blobId) }, cache: 'no-store' })
  } catch {
    return err('file/network', UNREACHABLE)
  }
  if (r.status === 404) return err('file/not-found', 'the relay does not have this file')
  if (!r.ok || r.body === null) return err('file/http', `the relay could not send the file (${r.status})`)
  return decryptStream(sodium, r.body, key, blobId, onProgress, Number(r.headers.get('content-length') ?? 0))
}

/** Decrypts a ciphertext kept on this device (client/core/local-files.ts): opening it needs no relay. */
export function decryptBlob (sodium: Sodium, ciphertext: Blob, key: Uint8Array, blobId: Uint8Array, onProgress?: Progress): Promise<Result<Blob, FileErrorCode>> {
  return decryptStream(sodium, ciphertext.stream(), key, blobId, onProgress, ciphertext.size)
}
