import fs from 'node:fs'
import path from 'node:path'
import type { BlobStore, BlobUpload } from './port.js'

/**
 * Blobs as files under `<dir>/<space hex>/<blob hex>` (the embedded default). A body is streamed
 * to a temporary file, fsynced, then hard-linked into place (link fails if the name exists, so of
 * two racing uploads of one id the first wins) and the directory fsynced: a crash never leaves a
 * half blob under a real name.
 */
export function createFsBlobStore (dir: string): BlobStore {
  return {
    async size (space, blob) {
      try {
        return (await fs.promises.stat(path.join(dir, space, blob))).size
      } catch {
        return undefined
      }
    },
    read: (space, blob) => fs.createReadStream(path.join(dir, space, blob), { highWaterMark: 256 * 1024 }),
    async begin (space, blob): Promise<BlobUpload> {
      const d = path.join(dir, space)
      await fs.promises.mkdir(d, { recursive: true })
      const file = path.join(d, blob)
      const tmp = path.join(d, `.tmp-${blob}-${process.pid}-${Math.random().toString(36).slice(2)}`)
      const sink = fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 })
      const removeTmp = async (): Promise<void> => {
        // A stream cut at once may still be opening its file: removed only after it closed, or it came back.
        if (!sink.closed) await new Promise<void>(resolve => { sink.once('close', () => resolve()) })
        await fs.promises.rm(tmp, { force: true })
      }
      return {
        sink,
        async commit () {
          try {
            const fd = await fs.promises.open(tmp, 'r+')
            try { await fd.sync() } finally { await fd.close() }
            try {
              await fs.promises.link(tmp, file)
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code === 'EEXIST') return 'exists'
              throw e
            }
            const dd = await fs.promises.open(d, 'r')
            try { await dd.sync() } finally { await dd.close() }
            return 'stored'
          } finally {
            await removeTmp()
          }
        },
        async abort () {
          sink.destroy()
          await removeTmp().catch(() => {})
        }
      }
    },
    async usage (space) {
      let names: string[]
      try {
        names = await fs.promises.readdir(path.join(dir, space))
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { bytes: 0, count: 0 }
        throw e
      }
      const u = { bytes: 0, count: 0 }
      for (const n of names) {
        // Temporary files of interrupted uploads do not count.
        if (n.startsWith('.')) continue
        const st = await fs.promises.stat(path.join(dir, space, n)).catch(() => undefined)
        if (st?.isFile() !== true) continue
        u.bytes += st.size
        u.count++
      }
      return u
    }
  }
}
