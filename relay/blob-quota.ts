import fs from 'node:fs'
import path from 'node:path'

/**
 * Per-space quotas on blobs (issue 8: blobs up to 2 GiB each and no count limit let one writer
 * fill the relay's disk). Each space may hold at most `maxCount` blobs and `maxBytes` bytes of
 * them. Uploads stream, so an upload reserves its slot when it starts and its bytes as they
 * arrive: uploads running at once cannot overshoot together.
 *
 * The usage of a space is read from its directory once (the first time it is needed after the
 * relay starts) and kept up to date in memory from then on; blobs are never deleted by the relay.
 */
export interface BlobQuota {
  readonly maxBytes: number
  readonly maxCount: number
}

export const DEFAULT_BLOB_QUOTA: BlobQuota = { maxBytes: 4 * 1024 * 1024 * 1024, maxCount: 10_000 }

interface Usage { bytes: number; count: number }

/** One upload in progress: `add` its bytes as they come, then `commit` (stored) or `release` (not). */
export interface Reservation {
  /** False once the space's byte quota would be passed (nothing is added then). */
  add (n: number): boolean
  commit (): void
  release (): void
}

export class BlobUsage {
  private readonly spaces = new Map<string, Promise<Usage>>()

  constructor (private readonly dir: string, private readonly quota: BlobQuota) {}

  /** What a space holds (and has reserved); for tests and logs. */
  async of (spaceHex: string): Promise<{ bytes: number; count: number }> {
    const u = await this.usage(spaceHex)
    return { bytes: u.bytes, count: u.count }
  }

  /** Reserves one blob of the space; undefined when it already holds (or is receiving) `maxCount`. */
  async begin (spaceHex: string): Promise<Reservation | undefined> {
    const u = await this.usage(spaceHex)
    if (u.count >= this.quota.maxCount) return undefined
    u.count++
    let bytes = 0
    let open = true
    const max = this.quota.maxBytes
    return {
      add (n) {
        if (!open) return false
        if (u.bytes + n > max) return false
        u.bytes += n
        bytes += n
        return true
      },
      commit () { open = false },
      release () {
        if (!open) return
        open = false
        u.count--
        u.bytes -= bytes
      }
    }
  }

  private usage (spaceHex: string): Promise<Usage> {
    let p = this.spaces.get(spaceHex)
    if (p === undefined) {
      p = scan(path.join(this.dir, spaceHex))
      this.spaces.set(spaceHex, p)
      // A failed scan (a disk error) is not remembered: the next request reads again.
      p.catch(() => this.spaces.delete(spaceHex))
    }
    return p
  }
}

/** Blobs already in a space's directory (temporary files of interrupted uploads do not count). */
async function scan (dir: string): Promise<Usage> {
  let names: string[]
  try {
    names = await fs.promises.readdir(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { bytes: 0, count: 0 }
    throw e
  }
  const u: Usage = { bytes: 0, count: 0 }
  for (const n of names) {
    if (n.startsWith('.')) continue
    const st = await fs.promises.stat(path.join(dir, n)).catch(() => undefined)
    if (st?.isFile() !== true) continue
    u.bytes += st.size
    u.count++
  }
  return u
}
