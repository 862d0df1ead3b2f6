import type http from 'node:http'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { AUTH_HEADER, BLOB_ID_BYTES, verifyBlobRequest, verifyBlobWrite } from '../shared/blob-auth.js'
import { fromHex } from '../shared/bytes.js'
import type { Sodium } from '../shared/sodium.js'
import { BlobUsage, DEFAULT_BLOB_QUOTA, type BlobQuota, type Reservation } from './blob-quota.js'
import { createFsBlobStore } from './blob-store/fs.js'
import type { BlobStore, BlobUpload } from './blob-store/port.js'
import type { LogStore } from './storage/port.js'

/**
 * Encrypted file blobs (issue 3): `PUT|GET /blobs/<spaceId hex>/<blobId hex>`.
 *
 * The relay stores opaque bytes (client-side chunked XChaCha20-Poly1305 secretstream, see
 * client/core/files.ts); it never learns a name, type or key. Bodies are streamed into a blob
 * store (blob-store/: files on disk by default, rows in PostgreSQL for several relays), so a 100 MB
 * upload costs a small buffer, never the whole file, and a crash never leaves a half blob under a
 * real name. Blobs are immutable: a second PUT of an id is refused, so a replayed request cannot
 * change one.
 *
 * A read must prove membership with a signature by the space's access key, a write the write
 * capability: a device certificate by the space's write key and that device's signature
 * (shared/blob-auth.ts), checked against the public keys the relay stored at `create`. Each space
 * may hold at most so many blobs and bytes of them (blob-quota.ts).
 */
export interface BlobOptions {
  /** Blobs live under `<dir>/<spaceId hex>/` (a filesystem blob store), unless `blobStore` is given. */
  readonly dir?: string
  /** Where blobs live (several relays: the database they share). */
  readonly blobStore?: BlobStore
  readonly store: Pick<LogStore, 'getSpace'>
  readonly sodium: Sodium
  /** Largest blob accepted, in bytes (ciphertext). */
  readonly maxBytes?: number
  /** How far a request's signed time may be from the relay's clock. */
  readonly skewMs?: number
  readonly now?: () => number
  /** Blobs and blob bytes per space. */
  readonly quota?: BlobQuota
}

/** The usage counters of each handler configuration (one per relay). */
const usages = new WeakMap<BlobOptions, BlobUsage>()
const stores = new WeakMap<BlobOptions, BlobStore>()
function storeOf (opts: BlobOptions): BlobStore {
  let s = stores.get(opts)
  if (s === undefined) {
    if (opts.blobStore === undefined && opts.dir === undefined) throw new Error('blob options need dir or blobStore')
    stores.set(opts, s = opts.blobStore ?? createFsBlobStore(opts.dir!))
  }
  return s
}
function usageOf (opts: BlobOptions): BlobUsage {
  let u = usages.get(opts)
  if (u === undefined) {
    const store = storeOf(opts)
    usages.set(opts, u = new BlobUsage(space => store.usage(space), opts.quota ?? DEFAULT_BLOB_QUOTA))
  }
  return u
}

const KNOWN_FAILURES: Readonly<Record<string, { status: number }>> = { 'blob/too-large': { status: 413 }, 'blob/quota': { status: 507 } }

const PATH = /^\/blobs\/([0-9a-f]{32})\/([0-9a-f]{32})$/
const DEFAULT_MAX = 2 * 1024 * 1024 * 1024

export const isBlobPath = (p: string): boolean => p.startsWith('/blobs/')

function reply (res: http.ServerResponse, status: number, code: string): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(code + '\n')
}

export async function handleBlob (opts: BlobOptions, req: http.IncomingMessage, res: http.ServerResponse, rawPath: string): Promise<void> {
  const m = PATH.exec(rawPath)
  if (m === null) return reply(res, 404, 'blob/bad-path')
  const method = req.method ?? ''
  if (method !== 'GET' && method !== 'PUT' && method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD, PUT')
    return reply(res, 405, 'blob/method')
  }
  const spaceId = fromHex(m[1]!)
  const blobId = fromHex(m[2]!)
  if (spaceId?.length !== 16 || blobId?.length !== BLOB_ID_BYTES) return reply(res, 404, 'blob/bad-path')
  const space = await opts.store.getSpace(spaceId)
  const auth = req.headers[AUTH_HEADER]
  const now = (opts.now ?? Date.now)()
  const skew = opts.skewMs ?? 10 * 60_000
  // HEAD is signed as GET: it reveals no more than GET does. A PUT needs a certified device.
  const allowed = space !== undefined && typeof auth === 'string' && (method === 'PUT'
    ? verifyBlobWrite(opts.sodium, space.writePk, auth, spaceId, blobId, now, skew)
    : verifyBlobRequest(opts.sodium, space.accessPk, auth, 'GET', spaceId, blobId, now, skew))
  // One answer for "no such space", "bad signature" and "read-only": a non-member learns nothing.
  if (!allowed) return reply(res, 403, 'blob/forbidden')
  const blobs = storeOf(opts)
  if (method === 'PUT') return put(opts, blobs, req, res, m[1]!, m[2]!)
  const size = await blobs.size(m[1]!, m[2]!)
  if (size === undefined) return reply(res, 404, 'blob/not-found')
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size), 'cache-control': 'no-store' })
  if (method === 'HEAD') return void res.end()
  await pipeline(blobs.read(m[1]!, m[2]!), res)
}

async function put (opts: BlobOptions, blobs: BlobStore, req: http.IncomingMessage, res: http.ServerResponse, spaceHex: string, blobHex: string): Promise<void> {
  const max = opts.maxBytes ?? DEFAULT_MAX
  const declared = Number(req.headers['content-length'] ?? NaN)
  if (Number.isFinite(declared) && declared > max) return reply(res, 413, 'blob/too-large')
  if (await blobs.size(spaceHex, blobHex) !== undefined) return reply(res, 409, 'blob/exists')
  // The slot, and the declared bytes, are taken before the body is read: an upload the space has
  // no room for is refused at once, and uploads running together cannot overshoot the quota.
  const quota = await usageOf(opts).begin(spaceHex)
  if (quota === undefined) {
    req.resume()
    return reply(res, 507, 'blob/quota')
  }
  let reserved = Number.isFinite(declared) && declared >= 0 ? declared : 0
  if (!quota.add(reserved)) {
    quota.release()
    req.resume()
    return reply(res, 507, 'blob/quota')
  }
  let size = 0
  const limit = new Transform({
    transform (chunk: Buffer, _enc, cb) {
      size += chunk.length
      if (size > max) return cb(new Error('blob/too-large'))
      // A body without (or beyond) its declared length takes its bytes as they come.
      if (size > reserved) {
        if (!quota.add(size - reserved)) return cb(new Error('blob/quota'))
        reserved = size
      }
      cb(null, chunk)
    }
  })
  try {
    return await store(req, res, limit, await blobs.begin(spaceHex, blobHex), quota)
  } finally {
    // A no-op once the blob was linked into place (committed).
    quota.release()
  }
}

async function store (req: http.IncomingMessage, res: http.ServerResponse, limit: Transform, upload: BlobUpload, quota: Reservation): Promise<void> {
  let status = 201
  let code = 'ok'
  let committed = false
  try {
    await pipeline(req, limit, upload.sink)
    committed = true
    if (await upload.commit() === 'stored') {
      quota.commit()
    } else {
      // Two racing PUTs of one id: the first one wins.
      status = 409
      code = 'blob/exists'
    }
  } catch (e) {
    const known = e instanceof Error ? KNOWN_FAILURES[e.message] : undefined
    status = known?.status ?? 400
    code = known === undefined ? 'blob/incomplete' : (e as Error).message
    req.resume()
    // The partial bytes go before the answer, so no one ever sees a stray partial blob.
    if (!committed) await upload.abort()
    else status = 500
  }
  // Nothing was stored (refused, failed or a second PUT of the id): its share goes back.
  quota.release()
  if (!res.headersSent) reply(res, status, code)
}
