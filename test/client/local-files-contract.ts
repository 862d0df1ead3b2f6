import { afterEach, describe, expect, it } from 'vitest'
import type { LocalFileStore } from '../../client/core/local-files.js'
import * as queue from '../../client/core/upload-queue.js'

/**
 * What every local file store (client/core/local-files.ts) must do. `setup` gives a store and a
 * way to open it again over the same data, as a reload would.
 */
export interface LocalFilesFixture {
  readonly store: LocalFileStore
  reopen (): LocalFileStore
}

const bytesOf = async (b: Blob | undefined): Promise<number[]> => b === undefined ? [] : Array.from(new Uint8Array(await b.arrayBuffer()))

export function runLocalFileStoreContract (name: string, setup: () => Promise<LocalFilesFixture>): void {
  describe(`local file store contract: ${name}`, () => {
    const open: LocalFileStore[] = []
    afterEach(async () => { for (const s of open.splice(0)) await s.close().catch(() => {}) })
    const fixture = async (): Promise<LocalFilesFixture> => {
      const f = await setup()
      open.push(f.store)
      return { store: f.store, reopen: () => { const s = f.reopen(); open.push(s); return s } }
    }

    it('keeps a file and its entry together, and both survive a reopen', async () => {
      const f = await fixture()
      const e = queue.newEntry({ blob: 'aa', item: 'i1', name: 'a.bin', bytes: 3 }, 1)
      await f.store.add(e, new Blob([new Uint8Array([1, 2, 3])]))
      expect(await f.store.list()).toEqual([e])
      await f.store.close()
      const again = f.reopen()
      expect(await again.list()).toEqual([e])
      expect(await bytesOf(await again.ciphertext('aa'))).toEqual([1, 2, 3])
    })

    it('put replaces an entry (Infinity kept), but never brings back a dropped one', async () => {
      const f = await fixture()
      const e = queue.newEntry({ blob: 'bb', item: 'i', name: 'b', bytes: 1 }, 1)
      await f.store.add(e, new Blob([new Uint8Array([9])]))
      const failed = queue.failed(e, 'file/too-large', 'no', 2)
      await f.store.put(failed)
      expect(await f.store.list()).toEqual([failed])
      expect((await f.store.list())[0]?.nextAt).toBe(Number.POSITIVE_INFINITY)
      await f.store.drop('bb')
      await f.store.put(queue.uploaded(e, 3))
      expect(await f.store.list()).toEqual([])
      expect(await f.store.ciphertext('bb')).toBeUndefined()
    })

    it('ids that share a prefix stay apart', async () => {
      const f = await fixture()
      await f.store.add(queue.newEntry({ blob: 'ab', item: 'x', name: 'x', bytes: 1 }, 1), new Blob([new Uint8Array([1])]))
      await f.store.add(queue.newEntry({ blob: 'abc', item: 'y', name: 'y', bytes: 1 }, 2), new Blob([new Uint8Array([2])]))
      await f.store.drop('ab')
      expect((await f.store.list()).map(e => e.blob)).toEqual(['abc'])
      expect(await bytesOf(await f.store.ciphertext('abc'))).toEqual([2])
      expect(await f.store.ciphertext('ab')).toBeUndefined()
    })
  })
}
