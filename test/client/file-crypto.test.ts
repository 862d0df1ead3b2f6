import crypto from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CHUNK_BYTES, cipherSize, decryptBlob, encryptFile } from '../../client/core/files.js'
import { getSodium } from '../../shared/sodium.js'

/**
 * encryptFile reads the file a few MB at a time and cuts 64 KiB chunks from that (issue 9.5: one
 * read per chunk made it several times slower): sizes at every edge of both round trip, and the
 * ciphertext is what cipherSize says (the relay's quota and the upload row count on it).
 */
describe('file encryption at chunk and read edges', () => {
  it('round-trips sizes around 64 KiB and 4 MiB', async () => {
    const sodium = await getSodium()
    const READ = 64 * CHUNK_BYTES
    for (const n of [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, READ - 1, READ, READ + 1, READ + CHUNK_BYTES + 3]) {
      const data = crypto.randomBytes(n)
      const enc = await encryptFile(sodium, new Blob([data]))
      expect(enc.size, `size ${n}`).toBe(cipherSize(n))
      const r = await decryptBlob(sodium, enc.ciphertext, enc.key, enc.blobId)
      expect(r.ok, `size ${n}`).toBe(true)
      if (r.ok) expect(Buffer.from(await r.value.arrayBuffer()).equals(data), `size ${n}`).toBe(true)
    }
  })
})
