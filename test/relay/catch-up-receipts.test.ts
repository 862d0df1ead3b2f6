import { describe, expect, it } from 'vitest'
import { CATCH_UP_RECEIPTS, catchUpReceipts } from '../../relay/core-limits.js'
import { MsgType } from '../../shared/header.js'

/**
 * What a member's catch-up ends with (relay/core-limits.ts `catchUpReceipts`): every member record
 * the relay keeps (the members list needs them all) and only the newest CATCH_UP_RECEIPTS
 * receipts. All of them, each naming about every stream, were N × N heads for each joiner of an
 * N-writer space.
 */
const env = (type: number, n: number): Uint8Array => new Uint8Array([1, type, n])

describe('receipts at catch-up', () => {
  it('keeps every member record and the newest receipts, in the order stored (newest first)', () => {
    const stored: Uint8Array[] = []
    for (let i = 0; i < 40; i++) stored.push(env(MsgType.receipt, i), env(MsgType.member, i))
    const out = catchUpReceipts(stored)
    expect(out.filter(e => e[1] === MsgType.member).map(e => e[2])).toEqual(Array.from({ length: 40 }, (_, i) => i))
    expect(out.filter(e => e[1] === MsgType.receipt).map(e => e[2])).toEqual(Array.from({ length: CATCH_UP_RECEIPTS }, (_, i) => i))
    expect(out.map(e => `${e[1]}:${e[2]}`)).toEqual(stored.filter(e => out.includes(e)).map(e => `${e[1]}:${e[2]}`))
  })

  it('a small space gets everything', () => {
    const stored = [env(MsgType.receipt, 0), env(MsgType.member, 0), env(MsgType.receipt, 1)]
    expect(catchUpReceipts(stored)).toEqual(stored)
  })
})
