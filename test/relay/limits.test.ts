import { describe, expect, it } from 'vitest'
import { addressKey, KeyedBuckets } from '../../relay/limits.js'

/** The creation limits' pieces on their own (relay/limits.ts), with the clock passed in. */
describe('KeyedBuckets', () => {
  it('gives each key its burst, then refills at the hourly rate, never above the burst', () => {
    const b = new KeyedBuckets({ burst: 3, perHour: 60 })
    const t0 = 1_000_000
    expect([1, 2, 3, 4].map(() => b.take('a', t0))).toEqual([true, true, true, false])
    expect(b.take('b', t0)).toBe(true)
    expect(b.take('a', t0 + 59_000)).toBe(false)
    expect(b.take('a', t0 + 60_000)).toBe(true)
    expect(b.take('a', t0 + 60_000)).toBe(false)
    // A day later: full again, but only to the burst.
    expect([1, 2, 3, 4].map(() => b.take('a', t0 + 86_400_000))).toEqual([true, true, true, false])
  })

  it('stays bounded: refilled keys go first, then the oldest', () => {
    const b = new KeyedBuckets({ burst: 1, perHour: 1 }, 4)
    for (const k of ['a', 'b', 'c', 'd']) expect(b.take(k, 0)).toBe(true)
    // 'e' evicts the oldest busy key ('a'), which then starts with a full bucket again: the bound
    // trades a little precision for memory, and only under more keys than maxKeys.
    expect(b.take('e', 0)).toBe(true)
    expect(b.take('b', 0)).toBe(false)
    expect(b.take('a', 0)).toBe(true)
  })
})

describe('addressKey', () => {
  it('keys IPv4 by address and IPv6 by /64 prefix', () => {
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1')
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3')
    expect(addressKey('2001:db8:1:2::1')).toBe(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'))
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'))
    expect(addressKey('2001:0db8:0001:0002:0:0:0:1')).toBe(addressKey('2001:db8:1:2::9'))
    expect(addressKey('::1')).toBe('0:0:0:0::/64')
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(addressKey(undefined)).toBe('?')
  })
})
