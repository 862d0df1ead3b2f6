import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { BlobStore } from '../../relay/blob-store/port.js'

/** The one contract every BlobStore adapter passes (relay/blob-store/port.ts): filesystem and PostgreSQL. */
export interface BlobHarness { store: BlobStore; cleanup: () => Promise<void> }

const hex = (n: number): string => randomBytes(n).toString('hex')

async function put (store: BlobStore, space: string, blob: string, bytes: Buffer, chunk = 64 * 1024): Promise<'stored' | 'exists'> {
  const up = await store.begin(space, blob)
  const parts: Buffer[] = []
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk))
  await pipeline(Readable.from(parts), up.sink)
  return up.commit()
}

async function readAll (store: BlobStore, space: string, blob: string): Promise<Buffer> {
  const out: Buffer[] = []
  for await (const c of store.read(space, blob)) out.push(Buffer.from(c as Uint8Array))
  return Buffer.concat(out)
}

export function runBlobStoreContract (name: string, setup: () => Promise<BlobHarness>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let h: BlobHarness
    beforeEach(async () => { h = await setup() })
    afterEach(async () => { await h.cleanup() })

    it('stores exact bytes of any size (empty, odd, several rows) and streams them back', async () => {
      const space = hex(16)
      for (const size of [0, 1, 300_001, 1_100_000]) {
        const blob = hex(16)
        const bytes = randomBytes(size)
        expect(await put(h.store, space, blob, bytes, 7919)).toBe('stored')
        expect(await h.store.size(space, blob)).toBe(size)
        expect((await readAll(h.store, space, blob)).equals(bytes)).toBe(true)
      }
    })

    it('nothing is visible before commit; an aborted upload leaves nothing', async () => {
      const space = hex(16)
      const blob = hex(16)
      const up = await h.store.begin(space, blob)
      await pipeline(Readable.from([randomBytes(500_000)]), up.sink)
      expect(await h.store.size(space, blob)).toBeUndefined()
      expect(await h.store.usage(space)).toEqual({ bytes: 0, count: 0 })
      await up.abort()
      expect(await h.store.size(space, blob)).toBeUndefined()
      expect(await put(h.store, space, blob, Buffer.from('after abort'))).toBe('stored')
      expect((await readAll(h.store, space, blob)).toString()).toBe('after abort')
    })

    it('blobs are immutable: of two uploads of one id the first commit wins, the other is `exists`', async () => {
      const space = hex(16)
      const blob = hex(16)
      const a = await h.store.begin(space, blob)
      const b = await h.store.begin(space, blob)
      await pipeline(Readable.from([Buffer.from('first')]), a.sink)
      await pipeline(Readable.from([Buffer.from('second, longer')]), b.sink)
      expect(await a.commit()).toBe('stored')
      expect(await b.commit()).toBe('exists')
      expect((await readAll(h.store, space, blob)).toString()).toBe('first')
      expect(await put(h.store, space, blob, Buffer.from('again'))).toBe('exists')
      expect(await h.store.usage(space)).toEqual({ bytes: 5, count: 1 })
    })

    it('usage counts committed blobs per space; spaces and ids are separate', async () => {
      const [s1, s2] = [hex(16), hex(16)]
      const blob = hex(16)
      await put(h.store, s1, blob, randomBytes(1000))
      await put(h.store, s1, hex(16), randomBytes(24))
      await put(h.store, s2, blob, randomBytes(7))
      expect(await h.store.usage(s1)).toEqual({ bytes: 1024, count: 2 })
      expect(await h.store.usage(s2)).toEqual({ bytes: 7, count: 1 })
      expect(await h.store.usage(hex(16))).toEqual({ bytes: 0, count: 0 })
      expect(await h.store.size(s2, blob)).toBe(7)
      expect(await h.store.size(s1, hex(16))).toBeUndefined()
    })
  })
}
