import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
import { equalBytes, fromB64u, fromHex, Reader, toB64u, toHex } from '../../shared/bytes.js'
import { DecodeError } from '../../shared/errors.js'
import { testSeed } from '../support/prng.js'

const seed = testSeed('bytes')
const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

function decodeError (f: () => unknown): string {
  try {
    f()
  } catch (e) {
    if (e instanceof DecodeError) return e.code
    throw e
  }
  return 'no error'
}

describe('base64url', () => {
  it('round-trips any bytes and matches Node\'s encoder', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      const s = toB64u(b)
      expect(s).toBe(Buffer.from(b).toString('base64url'))
      expect(s).toMatch(/^[A-Za-z0-9_-]*$/)
      expect(fromB64u(s)).toEqual(b)
    }), { seed, numRuns: 1000 })
  })

  it('accepts only canonical encodings: whatever decodes re-encodes to the same string', () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...B64U, 'A', '=', '+', '/', ' ', 'é'), maxLength: 30 }), (s) => {
      const b = fromB64u(s)
      if (b !== undefined) expect(toB64u(b)).toBe(s)
    }), { seed, numRuns: 2000 })
  })

  it('rejects characters outside the alphabet, impossible lengths and stray low bits', () => {
    for (let c = 0; c < 0x180; c++) {
      const ch = String.fromCharCode(c)
      const want = B64U.includes(ch) ? 3 : undefined
      expect(fromB64u(`AAA${ch}`)?.length).toBe(want)
      expect(fromB64u(`${ch}AAA`)?.length).toBe(want)
    }
    expect(fromB64u('A')).toBeUndefined() // 6 bits cannot end a byte string
    expect(fromB64u('AAAAA')).toBeUndefined()
    expect(fromB64u('AB')).toBeUndefined() // 'B' leaves a 1 in the unused low bits
    expect(fromB64u('AAB')).toBeUndefined()
    expect(fromB64u('AAA=')).toBeUndefined() // padding is not base64url
    expect(fromB64u('+/+/')).toBeUndefined() // standard base64, not url-safe
    expect(fromB64u('')).toEqual(new Uint8Array(0))
    expect(fromB64u('AA')).toEqual(Uint8Array.from([0]))
    expect(fromB64u('_w')).toEqual(Uint8Array.from([0xff]))
  })
})

describe('Reader', () => {
  it('reads back every varUint lib0 writes, up to 2^53 - 1', () => {
    fc.assert(fc.property(fc.maxSafeNat(), (n) => {
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, n)
      const r = new Reader(encoding.toUint8Array(e))
      expect(r.varUint()).toBe(n)
      expect(r.left).toBe(0)
    }), { seed, numRuns: 1000 })
  })

  it('refuses overlong, over-cap and unterminated varints', () => {
    expect(decodeError(() => new Reader(Uint8Array.from([0x80, 0x00])).varUint())).toBe('frame/bad-varint')
    expect(decodeError(() => new Reader(new Uint8Array(9).fill(0x81)).varUint())).toBe('frame/bad-varint')
    expect(decodeError(() => new Reader(Uint8Array.from([0x80, 0x02])).varUint(255))).toBe('frame/too-large')
    expect(decodeError(() => new Reader(Uint8Array.from([0x80])).varUint())).toBe('frame/truncated')
    expect(new Reader(Uint8Array.from([0xff, 0x01])).varUint(255)).toBe(255)
  })

  it('checks every length against the bytes left and the cap before slicing', () => {
    expect(decodeError(() => new Reader(Uint8Array.from([5, 1, 2, 3])).varBytes(100))).toBe('frame/truncated')
    expect(decodeError(() => new Reader(Uint8Array.from([5, 1, 2, 3, 4, 5])).varBytes(4))).toBe('frame/too-large')
    expect(decodeError(() => new Reader(new Uint8Array(3)).bytes(-1))).toBe('frame/truncated')
    expect(decodeError(() => new Reader(new Uint8Array(3)).bytes(1.5))).toBe('frame/truncated')
    expect(decodeError(() => new Reader(new Uint8Array(3)).u32())).toBe('frame/truncated')
    expect(decodeError(() => { const r = new Reader(new Uint8Array(3)); r.bytes(2); r.end() })).toBe('frame/trailing-bytes')
    expect(new Reader(Uint8Array.from([0xff, 0xff, 0xff, 0xfe])).u32()).toBe(0xfffffffe)
  })
})

describe('equalBytes', () => {
  it('is byte equality', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
      expect(equalBytes(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)))
      expect(equalBytes(a, a.slice())).toBe(true)
    }), { seed, numRuns: 500 })
  })
})

describe('hex', () => {
  it('round-trips any bytes and accepts either case', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), b => {
      expect(fromHex(toHex(b))).toEqual(b)
      expect(fromHex(toHex(b).toUpperCase())).toEqual(b)
    }), { seed, numRuns: 200 })
  })

  it('refuses odd lengths and non-hex characters instead of guessing', () => {
    for (const bad of ['a', 'abc', 'zz', '0x12', '12 3', 'g0']) expect(fromHex(bad)).toBeUndefined()
    expect(fromHex('')).toEqual(new Uint8Array(0))
  })
})
