import fs from 'node:fs'
import path from 'node:path'
import type { SpaceStore, StoredSpace, WriteBatch } from './store.js'
import { crc32 } from './zip.js'

/**
 * Node adapter of the space store: one append-only journal file per space.
 *
 *   record := kind u8 • length u32be • payload • crc32 u32be
 *   kind   := 1 update | 2 meta | 3 outbox-add | 4 outbox-done (payload: count u32be) | 5 state
 *
 * Each `write` appends its records in one `write` call and `fsync`s before resolving. On load a
 * torn or corrupt tail (a crash mid-append) is cut off: everything before it was acknowledged to
 * the caller only after its fsync, so nothing acknowledged is lost. `compact` writes a new file
 * and renames it over the old one (atomic on POSIX), then fsyncs the directory.
 */
const KIND = { update: 1, meta: 2, outboxAdd: 3, outboxDone: 4, state: 5 } as const

function record (kind: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length)
  out[0] = kind
  out.writeUInt32BE(payload.length, 1)
  out.set(payload, 5)
  out.writeUInt32BE(crc32(payload), 5 + payload.length)
  return out
}

function u32 (n: number): Uint8Array {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

function encodeBatch (b: WriteBatch): Buffer {
  const parts: Buffer[] = []
  for (const u of b.updates ?? []) parts.push(record(KIND.update, u))
  if (b.outboxDone !== undefined && b.outboxDone > 0) parts.push(record(KIND.outboxDone, u32(b.outboxDone)))
  for (const e of b.outboxAdd ?? []) parts.push(record(KIND.outboxAdd, e))
  if (b.meta !== undefined) parts.push(record(KIND.meta, b.meta))
  return Buffer.concat(parts)
}

export function createFileSpaceStore (file: string): SpaceStore {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  let fd: number | undefined

  const openFd = (): number => {
    fd ??= fs.openSync(file, 'a', 0o600)
    return fd
  }

  return {
    async load (): Promise<StoredSpace> {
      let buf: Buffer
      try {
        buf = fs.readFileSync(file)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { meta: undefined, updates: [], outbox: [] }
        throw e
      }
      let meta: Uint8Array | undefined
      let updates: Uint8Array[] = []
      let outbox: Uint8Array[] = []
      let pos = 0
      while (pos + 9 <= buf.length) {
        const kind = buf[pos]!
        const len = buf.readUInt32BE(pos + 1)
        if (pos + 9 + len > buf.length) break
        const payload = new Uint8Array(buf.subarray(pos + 5, pos + 5 + len))
        if (buf.readUInt32BE(pos + 5 + len) !== crc32(payload)) break
        pos += 9 + len
        switch (kind) {
          case KIND.update: updates.push(payload); break
          case KIND.state: updates = [payload]; break
          case KIND.meta: meta = payload; break
          case KIND.outboxAdd: outbox.push(payload); break
          case KIND.outboxDone: outbox = outbox.slice(Buffer.from(payload).readUInt32BE(0)); break
          default: pos = buf.length
        }
      }
      if (pos < buf.length) {
        // Torn tail from a crash mid-write: it was never acknowledged, drop it so appends stay parseable.
        fs.truncateSync(file, pos)
      }
      return { meta, updates, outbox }
    },
    async write (b) {
      const bytes = encodeBatch(b)
      if (bytes.length === 0) return
      const f = openFd()
      fs.writeSync(f, bytes)
      fs.fsyncSync(f)
    },
    async compact (state, meta) {
      const current = await this.load()
      const tmp = `${file}.tmp`
      const parts = [record(KIND.state, state)]
      for (const e of current.outbox) parts.push(record(KIND.outboxAdd, e))
      const m = meta ?? current.meta
      if (m !== undefined) parts.push(record(KIND.meta, m))
      const t = fs.openSync(tmp, 'w', 0o600)
      fs.writeSync(t, Buffer.concat(parts))
      fs.fsyncSync(t)
      fs.closeSync(t)
      if (fd !== undefined) { fs.closeSync(fd); fd = undefined }
      fs.renameSync(tmp, file)
      const dir = fs.openSync(path.dirname(file), 'r')
      try { fs.fsyncSync(dir) } finally { fs.closeSync(dir) }
    },
    async close () {
      if (fd !== undefined) { fs.closeSync(fd); fd = undefined }
    }
  }
}
