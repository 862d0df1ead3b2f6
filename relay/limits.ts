/**
 * Quotas on what anyone may do without much of a capability (DESIGN.md §12: "unauthenticated
 * actions get quotas"). Creating a space needs only a key pair anyone can mint, so the relay bounds
 * how many spaces one connection and one address may register: one client once created 300
 * spaces in a row with nothing refused (issue 8). Sans IO: callers pass `now`.
 */

/** A token bucket: `burst` tokens, refilled at `perHour` an hour. */
export interface BucketLimit { readonly burst: number; readonly perHour: number }

interface Bucket { tokens: number; at: number }

/**
 * One bucket per key (an address), bounded in memory: when more than `maxKeys` are held, the ones
 * that have refilled completely (they hold no information) are forgotten first, then the oldest.
 */
export class KeyedBuckets {
  private readonly buckets = new Map<string, Bucket>()

  constructor (private readonly limit: BucketLimit, private readonly maxKeys = 100_000) {}

  /** Takes one token for `key`; false (nothing taken) when its bucket is empty. */
  take (key: string, now: number): boolean {
    const b = this.refill(key, now)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  private refill (key: string, now: number): Bucket {
    let b = this.buckets.get(key)
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) this.evict(now)
      b = { tokens: this.limit.burst, at: now }
      this.buckets.set(key, b)
      return b
    }
    const gained = (Math.max(0, now - b.at) / 3_600_000) * this.limit.perHour
    b.tokens = Math.min(this.limit.burst, b.tokens + gained)
    b.at = now
    return b
  }

  private evict (now: number): void {
    for (const [k, b] of this.buckets) {
      const full = b.tokens + (Math.max(0, now - b.at) / 3_600_000) * this.limit.perHour >= this.limit.burst
      if (full) this.buckets.delete(k)
    }
    // Still full of busy keys: drop the oldest quarter (Map iterates in insertion order).
    if (this.buckets.size >= this.maxKeys) {
      let n = Math.ceil(this.maxKeys / 4)
      for (const k of this.buckets.keys()) {
        if (n-- <= 0) break
        this.buckets.delete(k)
      }
    }
  }
}

/**
 * The key an address is limited under: an IPv4 address as it is (an IPv4-mapped IPv6 address as
 * its IPv4), an IPv6 address by its /64 prefix (one host usually holds a whole /64, so limiting
 * single IPv6 addresses would limit nothing).
 */
export function addressKey (address: string | undefined): string {
  if (address === undefined || address === '') return '?'
  const a = address.toLowerCase()
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a)
  if (mapped !== null) return mapped[1]!
  if (!a.includes(':')) return a
  const groups = expandIpv6(a.replace(/%.*$/, ''))
  return groups === undefined ? a : groups.slice(0, 4).join(':') + '::/64'
}

function expandIpv6 (a: string): string[] | undefined {
  const halves = a.split('::')
  if (halves.length > 2) return undefined
  const head = halves[0] === '' ? [] : halves[0]!.split(':')
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : []
  const fill = 8 - head.length - tail.length
  if (halves.length === 1 ? fill !== 0 : fill < 0) return undefined
  const groups = [...head, ...new Array<string>(fill).fill('0'), ...tail]
  if (groups.some(g => !/^[0-9a-f]{1,4}$/.test(g))) return undefined
  return groups.map(g => g.replace(/^0+(?=.)/, ''))
}

export interface CreateLimits {
  /** Spaces one connection may try to create. */
  readonly perConnection: number
  /** Token bucket per address (IPv6: per /64). */
  readonly perAddress: BucketLimit
}

export const DEFAULT_CREATE_LIMITS: CreateLimits = { perConnection: 32, perAddress: { burst: 64, perHour: 60 } }
