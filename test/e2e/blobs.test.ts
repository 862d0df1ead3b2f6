import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBlobHandlerForTest } from './blob-handler.js'
import { AUTH_HEADER, signBlobRequest, signBlobWrite } from '../../shared/blob-auth.js'
import { toHex } from '../../shared/bytes.js'
import { certifyDevice, deriveKeys, newSpaceSecrets, type SpaceKeys } from '../../shared/keys.js'
import type { Sodium } from '../../shared/sodium.js'
import { getSodium } from '../../shared/sodium.js'
import { decryptStream, downloadFile, encryptFile, uploadBlob } from '../../client/core/files.js'
import { freePort, spawnRelay, type RelayProcess } from '../support/proc.js'
import { tempDir, testClient } from '../support/relay.js'

/**
 * The relay's blob endpoints over real HTTP: membership proof to read, the write capability to
 * write, immutability, per-space quotas, and a 100 MB upload and download streamed through a relay
 * *process* whose peak memory is read from /proc, to show the file is never held whole in the
 * relay's memory.
 *
 * Shown failing with the defence off (run by hand): with relay/blobs.ts accepting the access-key
 * signature for a PUT again, "a view-only holder cannot upload" fails (201, not 403); with the
 * quota ignored, "caps the number of blobs" fails (201, not 507).
 */
const MB = 1024 * 1024

/** The PUT header of an editor: a device certified by the write key signs the request. */
function writeAuth (sodium: Sodium, keys: SpaceKeys, blobId: Uint8Array, at = Date.now()): string {
  const kp = sodium.crypto_sign_keypair()
  return signBlobWrite(sodium, { ...kp, cert: certifyDevice(sodium, keys, kp.publicKey)! }, keys.spaceId, blobId, at)
}

function vmHwm (pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1] ?? 0) * 1024
}

function request (url: string, method: string, headers: Record<string, string>, body?: (req: http.ClientRequest) => Promise<void>): Promise<{ status: number; hash: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, res => {
      const h = crypto.createHash('sha256')
      let bytes = 0
      res.on('data', (d: Buffer) => { h.update(d); bytes += d.length })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, hash: h.digest('hex'), bytes }))
      res.on('error', reject)
    })
    req.on('error', reject)
    if (body === undefined) req.end()
    else body(req).then(() => req.end(), reject)
  })
}

describe('blob endpoints', () => {
  let relay: RelayProcess
  let origin: string
  const secrets = { value: undefined as ReturnType<typeof newSpaceSecrets> | undefined }

  beforeAll(async () => {
    // A small young generation: peak RSS then measures what the relay holds, not how lazily V8
    // collects the 64 KiB buffers streaming through (with the default it sometimes peaked at 70 MB).
    relay = await spawnRelay({ port: await freePort(), dir: tempDir('cove-blobs-'), nodeArgs: ['--max-semi-space-size=1'] })
    origin = relay.url.replace(/^ws/, 'http')
    // Register a space the normal way: the relay then holds its access public key.
    const client = await testClient()
    const { space } = await client.createSpace(relay.url, 'blobs')
    await space.whenStored(10_000).catch(() => {})
    await space.whenCaughtUp(10_000)
    secrets.value = space.secrets
    await client.close()
  })
  afterAll(async () => { await relay?.kill() })

  it('streams a 100 MB blob in and out without holding it in memory', async () => {
    const sodium = await getSodium()
    const keys = deriveKeys(sodium, secrets.value!)
    const blobId = crypto.getRandomValues(new Uint8Array(16))
    const url = `${origin}/blobs/${toHex(keys.spaceId)}/${toHex(blobId)}`
    const size = 100 * MB
    const chunk = crypto.randomBytes(MB)
    const sent = crypto.createHash('sha256')
    const before = vmHwm(relay.child.pid!)
    const put = await request(url, 'PUT', { [AUTH_HEADER]: writeAuth(sodium, keys, blobId), 'content-length': String(size) }, async req => {
      for (let i = 0; i < size / MB; i++) {
        chunk[0] = i & 255
        sent.update(chunk)
        if (!req.write(chunk)) await new Promise(resolve => req.once('drain', resolve))
      }
    })
    expect(put.status).toBe(201)
    const got = await request(url, 'GET', { [AUTH_HEADER]: signBlobRequest(sodium, keys.access.privateKey, 'GET', keys.spaceId, blobId) })
    expect(got.status).toBe(200)
    expect(got.bytes).toBe(size)
    expect(got.hash).toBe(sent.digest('hex'))
    const grew = vmHwm(relay.child.pid!) - before
    console.log(`relay peak RSS grew by ${(grew / MB).toFixed(1)} MB for a 100 MB upload + download`)
    // GC slack for the 64 KiB buffers passing through is expected; holding the file would be 100 MB or more.
    expect(grew).toBeLessThan(60 * MB)
    expect(fs.statSync(path.join(relay.dir, 'blobs', toHex(keys.spaceId), toHex(blobId))).size).toBe(size)
  })

  it('refuses non-members, stale or misdirected signatures, and a second write of an id', async () => {
    const sodium = await getSodium()
    const keys = deriveKeys(sodium, secrets.value!)
    const other = deriveKeys(sodium, newSpaceSecrets(sodium))
    const blobId = crypto.getRandomValues(new Uint8Array(16))
    const url = `${origin}/blobs/${toHex(keys.spaceId)}/${toHex(blobId)}`
    const body = async (req: http.ClientRequest): Promise<void> => { req.write(Buffer.from('opaque')) }
    const sig = (method: string, at = Date.now(), k = keys, id = blobId): string => signBlobRequest(sodium, k.access.privateKey, method, keys.spaceId, id, at)
    const put = (at = Date.now(), k = keys, id = blobId): string => writeAuth(sodium, k, id, at)
    expect((await request(url, 'PUT', {}, body)).status).toBe(403)
    // A device certified for another space, a stale signature, a read signature, another blob's.
    expect((await request(url, 'PUT', { [AUTH_HEADER]: put(Date.now(), other) }, body)).status).toBe(403)
    expect((await request(url, 'PUT', { [AUTH_HEADER]: put(Date.now() - 3_600_000) }, body)).status).toBe(403)
    expect((await request(url, 'PUT', { [AUTH_HEADER]: sig('GET') }, body)).status).toBe(403)
    expect((await request(url, 'PUT', { [AUTH_HEADER]: put(Date.now(), keys, new Uint8Array(16)) }, body)).status).toBe(403)
    expect((await request(url, 'GET', { [AUTH_HEADER]: sig('GET') })).status).toBe(404)
    // A write header does not read either.
    expect((await request(url, 'GET', { [AUTH_HEADER]: put() })).status).toBe(403)
    expect((await request(url, 'PUT', { [AUTH_HEADER]: put() }, body)).status).toBe(201)
    expect((await request(url, 'PUT', { [AUTH_HEADER]: put() }, async req => { req.write('changed') })).status).toBe(409)
    const got = await request(url, 'GET', { [AUTH_HEADER]: sig('GET') })
    expect(got.hash).toBe(crypto.createHash('sha256').update('opaque').digest('hex'))
    // An unknown space answers exactly like a bad signature.
    expect((await request(`${origin}/blobs/${toHex(other.spaceId)}/${toHex(blobId)}`, 'GET', { [AUTH_HEADER]: sig('GET', Date.now(), other) })).status).toBe(403)
    expect((await request(`${origin}/blobs/..%2f..%2fetc%2fpasswd`, 'GET', {})).status).toBe(404)
    expect((await request(`${origin}/blobs/${toHex(keys.spaceId)}/${toHex(blobId)}x`, 'GET', {})).status).toBe(404)
  })

  it('encrypts on the client in chunks, uploads, downloads and decrypts byte-identical', async () => {
    const sodium = await getSodium()
    const keys = deriveKeys(sodium, secrets.value!)
    const data = crypto.randomBytes(5 * 65536 + 77)
    const enc = await encryptFile(sodium, new Blob([data]))
    expect((await uploadBlob(sodium, origin, keys, enc)).ok).toBe(true)
    const r = await downloadFile(sodium, origin, keys, enc.blobId, enc.key)
    expect(r.ok).toBe(true)
    if (r.ok) expect(Buffer.from(await r.value.arrayBuffer()).equals(data)).toBe(true)
    // The relay holds only ciphertext: no 64-byte run of the plaintext appears in it.
    const stored = fs.readFileSync(path.join(relay.dir, 'blobs', toHex(keys.spaceId), toHex(enc.blobId)))
    expect(stored.includes(data.subarray(1000, 1064))).toBe(false)
  })

  it('detects tampered, reordered, truncated and misdirected ciphertext', async () => {
    const sodium = await getSodium()
    const data = crypto.randomBytes(3 * 65536 + 5)
    const enc = await encryptFile(sodium, new Blob([data]))
    const ct = Buffer.from(await enc.ciphertext.arrayBuffer())
    const open = (bytes: Uint8Array, blobId = enc.blobId) => decryptStream(sodium, new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(), enc.key, blobId)
    const ok = await open(ct)
    expect(ok.ok && Buffer.from(await ok.value.arrayBuffer()).equals(data)).toBe(true)
    const flipped = Buffer.from(ct); flipped[100]! ^= 1
    expect(await open(flipped)).toMatchObject({ ok: false, code: 'file/bad-chunk' })
    const C = 65536 + 17
    const swapped = Buffer.concat([ct.subarray(0, 24), ct.subarray(24 + C, 24 + 2 * C), ct.subarray(24, 24 + C), ct.subarray(24 + 2 * C)])
    expect(await open(swapped)).toMatchObject({ ok: false, code: 'file/bad-chunk' })
    expect(await open(ct.subarray(0, 24 + 3 * C))).toMatchObject({ ok: false, code: 'file/truncated' })
    expect(await open(Buffer.concat([ct, Buffer.from([1, 2, 3])]))).toMatchObject({ ok: false })
    expect(await open(ct, new Uint8Array(16))).toMatchObject({ ok: false, code: 'file/bad-chunk' })
  })

  it('caps the size of a blob', async () => {
    const h = await createBlobHandlerForTest(100)
    try {
      const sodium = await getSodium()
      const blobId = crypto.getRandomValues(new Uint8Array(16))
      const url = `${h.origin}/blobs/${toHex(h.keys.spaceId)}/${toHex(blobId)}`
      const auth = writeAuth(sodium, h.keys, blobId)
      expect((await request(url, 'PUT', { [AUTH_HEADER]: auth, 'content-length': '101' }, async req => { req.write(Buffer.alloc(101)) })).status).toBe(413)
      // Without a declared length (chunked), the stream is cut when it passes the cap.
      expect((await request(url, 'PUT', { [AUTH_HEADER]: auth }, async req => { req.write(Buffer.alloc(60)); req.write(Buffer.alloc(60)) })).status).toBe(413)
      expect(fs.readdirSync(path.join(h.dir, toHex(h.keys.spaceId)))).toEqual([])
    } finally {
      await h.close()
    }
  })
  it('a view-only holder cannot upload (403, nothing stored); an editor can', async () => {
    const sodium = await getSodium()
    const keys = deriveKeys(sodium, secrets.value!)
    const { writeSeed: _, ...viewSecrets } = secrets.value!
    const view = deriveKeys(sodium, viewSecrets)
    expect(view.write).toBeUndefined()
    const blobId = crypto.getRandomValues(new Uint8Array(16))
    const url = `${origin}/blobs/${toHex(keys.spaceId)}/${toHex(blobId)}`
    const body = async (req: http.ClientRequest): Promise<void> => { req.write(Buffer.from('from a viewer')) }
    // What a view link can sign: the access key (which used to be enough to write), or a device
    // it certified itself with a key that is not the space's write key.
    expect((await request(url, 'PUT', { [AUTH_HEADER]: signBlobRequest(sodium, view.access.privateKey, 'PUT', view.spaceId, blobId) }, body)).status).toBe(403)
    const own = sodium.crypto_sign_keypair()
    const device = sodium.crypto_sign_keypair()
    const selfCert = certifyDevice(sodium, { spaceId: view.spaceId, write: own }, device.publicKey)!
    expect((await request(url, 'PUT', { [AUTH_HEADER]: signBlobWrite(sodium, { ...device, cert: selfCert }, view.spaceId, blobId) }, body)).status).toBe(403)
    expect(fs.existsSync(path.join(relay.dir, 'blobs', toHex(keys.spaceId), toHex(blobId)))).toBe(false)
    // The client does not even try with a view link.
    const enc = await encryptFile(sodium, new Blob([Buffer.from('view')]))
    expect(await uploadBlob(sodium, origin, view, enc)).toMatchObject({ ok: false, code: 'file/read-only' })
    // Reading stays with the access key: the viewer downloads what an editor uploaded.
    const mine = await encryptFile(sodium, new Blob([Buffer.from('from an editor')]))
    expect((await uploadBlob(sodium, origin, keys, mine)).ok).toBe(true)
    const got = await downloadFile(sodium, origin, view, mine.blobId, mine.key)
    expect(got.ok && Buffer.from(await got.value.arrayBuffer()).toString()).toBe('from an editor')
  })

  it('caps the number of blobs and their bytes per space (507 blob/quota); refused or failed uploads give their share back', async () => {
    const sodium = await getSodium()
    const h = await createBlobHandlerForTest(10_000, { maxCount: 3, maxBytes: 1000 })
    const put = async (n: number, opts: { declare?: boolean; h?: typeof h } = {}): Promise<number> => {
      const on = opts.h ?? h
      const blobId = crypto.getRandomValues(new Uint8Array(16))
      const url = `${on.origin}/blobs/${toHex(on.keys.spaceId)}/${toHex(blobId)}`
      const headers: Record<string, string> = { [AUTH_HEADER]: writeAuth(sodium, on.keys, blobId) }
      if (opts.declare !== false) headers['content-length'] = String(n)
      return (await request(url, 'PUT', headers, async req => { for (let i = 0; i < n; i += 100) req.write(Buffer.alloc(Math.min(100, n - i))) })).status
    }
    const files = (): string[] => fs.readdirSync(path.join(h.dir, toHex(h.keys.spaceId)))
    try {
      expect(await put(600)).toBe(201)
      // Declared bytes past the quota: refused before the body is read.
      expect(await put(500)).toBe(507)
      // Undeclared (chunked): cut when the bytes pass the quota; nothing is left behind.
      expect(await put(500, { declare: false })).toBe(507)
      expect(files()).toHaveLength(1)
      // Their shares came back: what still fits is taken.
      expect(await put(400, { declare: false })).toBe(201)
      expect(await put(0)).toBe(201)
      // Three blobs: the count is full whatever the size.
      expect(await put(0)).toBe(507)
      expect(files()).toHaveLength(3)
      // The usage is read from disk after a restart (a new handler on the same directory).
      const again = await createBlobHandlerForTest(10_000, { maxCount: 4, maxBytes: 1000 }, { dir: h.dir, keys: h.keys })
      try {
        expect(await put(1, { h: again })).toBe(507)
        expect(await put(0, { h: again })).toBe(201)
        expect(await put(0, { h: again })).toBe(507)
      } finally {
        await again.close()
      }
    } finally {
      await h.close()
    }
  })
})
