import { DecodeError } from './errors.js'

/**
 * A bounded reader for bytes that came from the network or a file.
 * lib0's decoder trusts its lengths (a subarray view can read past its end into the parent
 * buffer); here every length is checked against the bytes left and a per-field cap first.
 * Failures throw `DecodeError`, which each protocol's `readX` turns into an `Err` at its boundary.
 */
export class Reader {
  pos = 0
  constructor (readonly buf: Uint8Array) {}

  get left (): number { return this.buf.length - this.pos }

  u8 (): number {
    const v = this.buf[this.pos]
    if (v === undefined) throw new DecodeError('frame/truncated', 'unexpected end of bytes')
    this.pos++
    return v
  }

  /** Unsigned LEB128 up to 2^53 - 1, as lib0 writes it; rejects overlong and oversized encodings. */
  varUint (max = Number.MAX_SAFE_INTEGER): number {
    let result = 0
    let mult = 1
    for (let i = 0; i < 8; i++) {
      const b = this.u8()
      result += (b & 0x7f) * mult
      if (b < 0x80) {
        if (b === 0 && i > 0) throw new DecodeError('frame/bad-varint', 'overlong varint')
        if (result > max) throw new DecodeError('frame/too-large', `value ${result} above cap ${max}`)
        return result
      }
      mult *= 128
    }
    throw new DecodeError('frame/bad-varint', 'varint too long')
  }

  /** A view of the next `n` bytes; callers that keep the bytes must `copy()` them. */
  bytes (n: number): Uint8Array {
    if (!Number.isInteger(n) || n < 0 || n > this.left) throw new DecodeError('frame/truncated', `need ${n} bytes, have ${this.left}`)
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  /** Length-prefixed bytes, with the length checked against `cap` before anything is sliced. */
  varBytes (cap: number): Uint8Array {
    const n = this.varUint()
    if (n > cap) throw new DecodeError('frame/too-large', `field of ${n} bytes above cap ${cap}`)
    return this.bytes(n)
  }

  u32 (): number {
    const b = this.bytes(4)
    return ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!
  }

  end (): void {
    if (this.left !== 0) throw new DecodeError('frame/trailing-bytes', `${this.left} unexpected trailing bytes`)
  }
}

export function writeU32 (out: Uint8Array, pos: number, v: number): void {
  out[pos] = (v >>> 24) & 0xff
  out[pos + 1] = (v >>> 16) & 0xff
  out[pos + 2] = (v >>> 8) & 0xff
  out[pos + 3] = v & 0xff
}

export function concat (...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

const HEX_CODES = new Uint8Array(512)
for (let i = 0; i < 256; i++) {
  const h = i.toString(16).padStart(2, '0')
  HEX_CODES[2 * i] = h.charCodeAt(0)
  HEX_CODES[2 * i + 1] = h.charCodeAt(1)
}
const ascii = new TextDecoder()

/**
 * Lowercase hex, as one flat string: appended two characters at a time it was a rope of pieces
 * (112 nodes, about 3.5 KB, for a 56-byte key) that every Map keeping it as a key held on to, and
 * 3–5× slower to build.
 */
export function toHex (b: Uint8Array): string {
  const out = new Uint8Array(b.length * 2)
  for (let i = 0; i < b.length; i++) {
    const x = 2 * b[i]!
    out[2 * i] = HEX_CODES[x]!
    out[2 * i + 1] = HEX_CODES[x + 1]!
  }
  return ascii.decode(out)
}

/** Strict hex decoding (even length, 0-9 a-f A-F only); undefined for anything else. */
export function fromHex (s: string): Uint8Array | undefined {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return undefined
  const out = new Uint8Array(s.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16)
  return out
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** base64url without padding; written by hand so the same code runs in the browser without Buffer. */
export function toB64u (b: Uint8Array): string {
  let s = ''
  let i = 0
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!
    s += B64[n >>> 18]! + B64[(n >>> 12) & 63]! + B64[(n >>> 6) & 63]! + B64[n & 63]!
  }
  if (i < b.length) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8)
    s += B64[n >>> 18]! + B64[(n >>> 12) & 63]!
    if (i + 1 < b.length) s += B64[(n >>> 6) & 63]!
  }
  return s
}

/** Strict base64url decoding: returns undefined on any character outside the alphabet or a bad length. */
export function fromB64u (s: string): Uint8Array | undefined {
  if (s.length % 4 === 1) return undefined
  const out = new Uint8Array(Math.floor(s.length * 3 / 4))
  let o = 0
  let acc = 0
  let bits = 0
  for (let i = 0; i < s.length; i++) {
    const v = B64.indexOf(s[i]!)
    if (v < 0) return undefined
    acc = (acc << 6) | v
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >>> bits) & 0xff
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) return undefined
  return out.subarray(0, o)
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let d = 0
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!
  return d === 0
}
