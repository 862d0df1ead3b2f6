/**
 * Per-space quotas on blobs (issue 8: blobs up to 2 GiB each and no count limit let one writer
 * fill the relay's disk). Each space may hold at most `maxCount` blobs and `maxBytes` bytes of
 * them. Uploads stream, so an upload reserves its slot when it starts and its bytes as they
 * arrive: uploads running at once cannot overshoot together.
 *
 * The usage of a space is read from the blob store once (the first time it is needed after the
 * relay starts) and kept up to date in memory from then on; blobs are never deleted by the relay.
 * With several relays each keeps its own counters: together they can pass a quota by up to k×
 * (a database-side count is the next step, issue 12).
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

  /** `scan`: what a space holds in the blob store (read once per space, then kept in memory). */
  constructor (private readonly scan: (spaceHex: string) => Promise<Usage>, private readonly quota: BlobQuota) {}

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
      p = this.scan(spaceHex)
      this.spaces.set(spaceHex, p)
      // A failed scan (a disk error) is not remembered: the next request reads again.
      p.catch(() => this.spaces.delete(spaceHex))
    }
    return p
  }
}
