import { beforeAll, describe, expect, it } from 'vitest'
import { concat, equalBytes } from '../../shared/bytes.js'
import { GENESIS_HASH, open, seal, type Device } from '../../shared/envelope.js'
import * as frame from '../../shared/frame.js'
import type { Frame, FrameOf } from '../../shared/frame.js'
import { HEADER_BYTES, MsgType } from '../../shared/header.js'
import { certifyDevice, deriveKeys, newSpaceSecrets, type SpaceKeys } from '../../shared/keys.js'
import { hash } from '../../shared/sign.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'
import * as wire from '../../shared/wire.js'
import { createPrng, testSeed } from '../support/prng.js'

/**
 * Compact frames (shared/wire.ts, issue 10): what goes in comes out byte for byte, each malformed
 * frame gets its own typed error and leaves no state, and a lie in the compact form (a swapped
 * ref, a changed prevHash) yields a rebuilt envelope that today's checks refuse.
 */

let sodium: Sodium
let keys: SpaceKeys
let alice: Device
let bob: Device
const STREAM_A = new Uint8Array([1, 1, 1, 1, 1, 1, 1, 1])
const STREAM_B = new Uint8Array([2, 2, 2, 2, 2, 2, 2, 2])
/** Byte offset of `stream` in a header: version, type, spaceId, epoch, keyId, author. */
const STREAM_AT = 1 + 1 + 16 + 4 + 8 + 32

function newDevice (): Device {
  const kp = sodium.crypto_sign_keypair()
  const cert = certifyDevice(sodium, keys, kp.publicKey)
  if (cert === undefined) throw new Error('test setup: keys without write capability')
  return { publicKey: kp.publicKey, privateKey: kp.privateKey, cert }
}

/** `n` envelopes of one stream, chained as a writer chains them. */
function chain (d: Device, stream: Uint8Array, n: number, type: MsgType = MsgType.update, from = 0, prev: Uint8Array = GENESIS_HASH): Uint8Array[] {
  const out: Uint8Array[] = []
  let prevHash: Uint8Array = prev
  for (let seq = from; seq < from + n; seq++) {
    const env = seal(sodium, keys, d, type, { stream, seq, prevHash }, new TextEncoder().encode(`edit ${seq}`))
    out.push(env)
    prevHash = hash(sodium, env)
  }
  return out
}

/** A sender that may write compact frames and the receiver at the other end of its connection. */
function pair (): { tx: wire.WireSession; rx: wire.WireSession } {
  const tx = wire.createSession(env => hash(sodium, env))
  tx.peerCompact = true
  return { tx, rx: wire.createSession(env => hash(sodium, env)) }
}

function roundTrip (tx: wire.WireSession, rx: wire.WireSession, f: Frame): Uint8Array {
  const bytes = wire.writeWire(tx, f)
  const back = wire.readWire(rx, bytes)
  if (!back.ok) throw new Error(`${back.code}: ${back.message}`)
  expect(back.value).toEqual(f)
  return bytes
}

const append = (envelope: Uint8Array, reqId = 1): FrameOf<'append'> => ({ type: 'append', reqId, spaceId: keys.spaceId, envelope })
const code = (r: { ok: boolean; code?: string }): string => r.ok ? 'ok' : r.code!

beforeAll(async () => {
  sodium = await getSodium()
  keys = deriveKeys(sodium, newSpaceSecrets(sodium))
  alice = newDevice()
  bob = newDevice()
})

describe('round trip', () => {
  it('a stream of appends comes out byte for byte; after the first, each costs 174 bytes instead of 359', () => {
    const { tx, rx } = pair()
    const envs = chain(alice, STREAM_A, 5)
    const sizes = envs.map(env => roundTrip(tx, rx, append(env)).length)
    const legacy = frame.writeFrame(append(envs[1]!)).length
    expect(envs[1]!.length).toBe(338)
    expect(legacy).toBe(359)
    // type, reqId, ref, flags, seq (1 byte each) • nonce 24 • commitment 32 • varBytes(ct 48) • signature 64
    expect(sizes.slice(1)).toEqual([174, 174, 174, 174])
    // The first carries the definition: version, type, space, epoch, key id, author, stream, cert.
    expect(sizes[0]).toBe(174 + 134)
    for (const env of envs) expect(open(sodium, keys, env, { types: [MsgType.update] }).ok).toBe(true)
  })

  it('prevHash: zero for a genesis, derived when seq follows what went before on this connection, else sent', () => {
    const { tx, rx } = pair()
    const envs = chain(alice, STREAM_A, 6)
    const flags = (bytes: Uint8Array): number => bytes[3]!
    expect(flags(roundTrip(tx, rx, append(envs[0]!))) & 3).toBe(2)
    // A gap (seq 1, 2 never went by on this connection): the receiver cannot derive seq 3's prevHash.
    const gap = roundTrip(tx, rx, append(envs[3]!))
    expect(flags(gap)).toBe(1)
    expect(gap.length).toBe(174 + 32)
    expect(flags(roundTrip(tx, rx, append(envs[4]!)))).toBe(0)
    // A resend of an older one (after a refusal) is not "the next": its prevHash is sent.
    expect(flags(roundTrip(tx, rx, append(envs[4]!)))).toBe(1)
    expect(flags(roundTrip(tx, rx, append(envs[5]!)))).toBe(0)
  })

  it('entries of several streams in one frame, pages with and without a head of their own', () => {
    const { tx, rx } = pair()
    const a = chain(alice, STREAM_A, 3)
    const b = chain(bob, STREAM_B, 2)
    const entries = [a[0]!, b[0]!, a[1]!, b[1]!, a[2]!].map((envelope, i) => ({ cursor: 1000 + i * 7, envelope }))
    roundTrip(tx, rx, { type: 'entries', reqId: 9, spaceId: keys.spaceId, entries, head: 2000, more: true })
    const next = chain(alice, STREAM_A, 1, MsgType.update, 3, hash(sodium, a[2]!))
    const live = roundTrip(tx, rx, { type: 'entries', reqId: 0, spaceId: keys.spaceId, entries: [{ cursor: 2001, envelope: next[0]! }], head: 2001, more: false })
    // type, reqId, n, cursor (2 bytes), the envelope (172), flags; no head, no space id
    expect(live.length).toBe(1 + 1 + 1 + 2 + 172 + 1)
    expect(frame.writeFrame({ type: 'entries', reqId: 0, spaceId: keys.spaceId, entries: [{ cursor: 2001, envelope: next[0]! }], head: 2001, more: false }).length).toBe(365)
  })

  it('presence both ways, with a ref of its own (type is part of what a ref stands for)', () => {
    const { tx, rx } = pair()
    const p = chain(alice, STREAM_A, 2, MsgType.presence)
    roundTrip(tx, rx, { type: 'presence', spaceId: keys.spaceId, envelope: p[0]! })
    roundTrip(tx, rx, { type: 'append', reqId: 3, spaceId: keys.spaceId, envelope: chain(alice, STREAM_A, 1)[0]! })
    roundTrip(tx, rx, { type: 'presenceOut', spaceId: keys.spaceId, envelope: p[1]! })
    expect(tx.out.refs.length).toBe(2)
    expect(rx.in.refs.length).toBe(2)
  })

  it('the old form when the peer did not offer compact frames, for frames without a compact form, and for envelopes that cannot be', () => {
    const { tx, rx } = pair()
    const env = chain(alice, STREAM_A, 1)[0]!
    const old = wire.createSession(e => hash(sodium, e))
    expect(wire.writeWire(old, append(env))).toEqual(frame.writeFrame(append(env)))
    const ok: Frame = { type: 'ok', reqId: 5, spaceId: keys.spaceId, cursor: 3 }
    expect(wire.writeWire(tx, ok)).toEqual(frame.writeFrame(ok))
    const caughtUp: Frame = { type: 'entries', reqId: 5, spaceId: keys.spaceId, entries: [], head: 3, more: false }
    expect(wire.writeWire(tx, caughtUp)).toEqual(frame.writeFrame(caughtUp))
    // An envelope that does not parse, or of another space, goes as it is (the receiver's checks say why).
    const junk = append(new Uint8Array(400).fill(7))
    expect(wire.writeWire(tx, junk)).toEqual(frame.writeFrame(junk))
    const other = { ...append(env), spaceId: new Uint8Array(16).fill(1) }
    expect(wire.writeWire(tx, other)).toEqual(frame.writeFrame(other))
    expect(tx.out.refs.length).toBe(0)
    // The receiver reads both forms on one connection.
    roundTrip(tx, rx, append(env))
    expect(wire.readWire(rx, frame.writeFrame(junk))).toEqual({ ok: true, value: junk })
  })

  it('caps: a hello or challenge that offers compact frames turns them on; one without parses as before', () => {
    const s = wire.createSession(env => hash(sodium, env))
    const hello: Frame = { type: 'hello', reqId: 4, spaceId: keys.spaceId }
    expect(frame.writeFrame(hello)).toEqual(concat(new Uint8Array([2, 4, 16]), keys.spaceId))
    expect(wire.readWire(s, frame.writeFrame(hello))).toEqual({ ok: true, value: hello })
    expect(s.peerCompact).toBe(false)
    const offer: Frame = { ...hello, caps: wire.CAP_COMPACT }
    expect(wire.readWire(s, frame.writeFrame(offer))).toEqual({ ok: true, value: offer })
    expect(s.peerCompact).toBe(true)
    const c = wire.createSession(env => hash(sodium, env))
    const challenge: Frame = { type: 'challenge', reqId: 4, spaceId: keys.spaceId, challenge: new Uint8Array(32), caps: wire.CAP_COMPACT }
    expect(wire.readWire(c, frame.writeFrame(challenge))).toEqual({ ok: true, value: challenge })
    expect(c.peerCompact).toBe(true)
  })
})

describe('refs are bounded', () => {
  /** Envelopes of `n` streams; only layout matters to the codec, so the stream id is rewritten in place. */
  const streams = (n: number): Uint8Array[] => {
    const base = chain(alice, STREAM_A, 1)[0]!
    return Array.from({ length: n }, (_, i) => {
      const env = base.slice()
      new DataView(env.buffer).setUint32(STREAM_AT, i)
      return env
    })
  }

  it(`past ${wire.MAX_REFS} streams on one connection the sender writes the old form; a definition past it is refused`, () => {
    const { tx, rx } = pair()
    const envs = streams(wire.MAX_REFS + 1)
    for (const env of envs.slice(0, wire.MAX_REFS)) roundTrip(tx, rx, append(env))
    expect(rx.in.refs.length).toBe(wire.MAX_REFS)
    const last = envs[wire.MAX_REFS]!
    expect(wire.writeWire(tx, append(last))).toEqual(frame.writeFrame(append(last)))
    // A sender that defines one more anyway: the first frame of a fresh table with ref MAX_REFS.
    const fresh = pair()
    const bytes = wire.writeWire(fresh.tx, append(last))
    const forged = concat(bytes.subarray(0, 2), new Uint8Array([0x80, 0x20]), bytes.subarray(3))
    expect(code(wire.readWire(rx, forged))).toBe('wire/too-many-refs')
  })
})

describe('malformed compact frames: each a typed error, no state kept', () => {
  const first = (): { rx: wire.WireSession; envs: Uint8Array[]; bytes: Uint8Array[] } => {
    const { tx, rx } = pair()
    const envs = chain(alice, STREAM_A, 3)
    const bytes = envs.map(env => wire.writeWire(tx, append(env)))
    return { rx, envs, bytes }
  }
  const at = (b: Uint8Array, i: number, v: number): Uint8Array => { const c = b.slice(); c[i] = v; return c }

  it.each([
    ['a ref never defined', (b: Uint8Array[]) => b[1]!, 'wire/unknown-ref'],
    ['a definition out of order', (b: Uint8Array[]) => at(b[0]!, 2, 1), 'wire/bad-ref'],
    ['prevHash mode 3', (b: Uint8Array[]) => at(b[0]!, 3, 4 | 3), 'wire/bad-flag'],
    ['an unknown flag bit', (b: Uint8Array[]) => at(b[0]!, 3, 32 | 4 | 2), 'wire/bad-flag'],
    ['a derived prevHash with nothing before it', (b: Uint8Array[]) => at(b[0]!, 3, 4), 'wire/cannot-derive'],
    ['a trailing byte', (b: Uint8Array[]) => concat(b[0]!, new Uint8Array([0])), 'frame/trailing-bytes'],
    ['an empty frame', () => new Uint8Array(0), 'frame/truncated'],
    ['a seq above 2^32 - 1', (b: Uint8Array[]) => concat(b[0]!.subarray(0, 138), new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x10]), b[0]!.subarray(139)), 'frame/too-large'],
    ['a ciphertext longer than an envelope may be', (b: Uint8Array[]) => concat(b[0]!.subarray(0, 139 + 56), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])), 'frame/too-large']
  ])('%s', (_, make, want) => {
    const { rx, bytes } = first()
    const r = wire.readWire(rx, make(bytes))
    expect(code(r)).toBe(want)
    expect(rx.in.refs.length).toBe(0)
  })

  it('every truncation of a valid frame is refused with a frame/ code, and the table is unchanged', () => {
    const { rx, bytes } = first()
    expect(code(wire.readWire(rx, bytes[0]!))).toBe('ok')
    const entry = rx.in.refs[0]
    for (const b of [bytes[1]!]) {
      for (let n = 0; n < b.length; n++) {
        const r = wire.readWire(rx, b.subarray(0, n))
        expect(r.ok).toBe(false)
        expect(code(r)).toMatch(/^frame\//)
      }
    }
    expect(rx.in.refs[0]).toBe(entry)
    expect(code(wire.readWire(rx, bytes[1]!))).toBe('ok')
  })

  it('a ref defined again with other values, or a second ref for one stream', () => {
    const { rx, bytes } = first()
    expect(code(wire.readWire(rx, bytes[0]!))).toBe('ok')
    // Ref 0 again, its stream changed: a conflict.
    const other = bytes[0]!.slice()
    other[4 + STREAM_AT] = other[4 + STREAM_AT]! ^ 1
    expect(code(wire.readWire(rx, other))).toBe('wire/ref-conflict')
    // Ref 1 for the stream ref 0 stands for.
    expect(code(wire.readWire(rx, at(bytes[0]!, 2, 1)))).toBe('wire/ref-conflict')
    // Ref 0 again with the same values is harmless.
    expect(code(wire.readWire(rx, bytes[0]!))).toBe('ok')
    expect(rx.in.refs.length).toBe(1)
  })

  it('a derived prevHash when seq does not follow the last one received', () => {
    const { rx, bytes, envs } = first()
    expect(code(wire.readWire(rx, bytes[0]!))).toBe('ok')
    // bytes[2] (seq 2, derived) without bytes[1]: the receiver's last is seq 0.
    expect(code(wire.readWire(rx, bytes[2]!))).toBe('wire/cannot-derive')
    expect(code(wire.readWire(rx, bytes[1]!))).toBe('ok')
    const r = wire.readWire(rx, bytes[2]!)
    expect(r.ok && r.value.type === 'append' && equalBytes(r.value.envelope, envs[2]!)).toBe(true)
  })

  it('entries: none, two spaces in one frame, bad flags; a failure halfway keeps none of the refs it defined', () => {
    const { tx, rx } = pair()
    const a = chain(alice, STREAM_A, 1)[0]!
    const keys2 = deriveKeys(sodium, newSpaceSecrets(sodium))
    const d2 = (() => { const kp = sodium.crypto_sign_keypair(); return { publicKey: kp.publicKey, privateKey: kp.privateKey, cert: certifyDevice(sodium, keys2, kp.publicKey)! } })()
    const b = seal(sodium, keys2, d2, MsgType.update, { stream: STREAM_B, seq: 0, prevHash: GENESIS_HASH }, new Uint8Array(3))
    const one = wire.writeWire(tx, { type: 'entries', reqId: 0, spaceId: keys.spaceId, entries: [{ cursor: 5, envelope: a }], head: 5, more: false })
    const oneB = wire.writeWire(pair().tx, { type: 'entries', reqId: 0, spaceId: keys2.spaceId, entries: [{ cursor: 6, envelope: b }], head: 6, more: false })
    // Splice: n = 2, A's entry, then B's (as ref 1), then the flags.
    const bodyA = one.subarray(3, one.length - 1)
    const bodyB = concat(oneB.subarray(3, 4), new Uint8Array([1]), oneB.subarray(5, oneB.length - 1))
    const mixed = concat(new Uint8Array([30, 0, 2]), bodyA, bodyB, new Uint8Array([0]))
    expect(code(wire.readWire(rx, mixed))).toBe('wire/mixed-spaces')
    expect(rx.in.refs.length).toBe(0)
    expect(code(wire.readWire(rx, new Uint8Array([30, 0, 0, 0])))).toBe('frame/bad-field')
    expect(code(wire.readWire(rx, at(one, one.length - 1, 4)))).toBe('wire/bad-flag')
    expect(rx.in.refs.length).toBe(0)
    expect(code(wire.readWire(rx, one))).toBe('ok')
  })

  it('a frame above the frame cap', () => {
    const { rx } = pair()
    const big = new Uint8Array(frame.MAX_FRAME_BYTES + 1)
    big[0] = wire.WireType.appendC
    expect(code(wire.readWire(rx, big))).toBe('frame/too-large')
  })
})

describe('a lie in the compact form is caught by the checks of the rebuilt envelope', () => {
  it('a swapped ref rebuilds an envelope under another device: its signature does not verify', () => {
    const { tx, rx } = pair()
    const a = chain(alice, STREAM_A, 2)
    const b = chain(bob, STREAM_B, 2)
    for (const env of [a[0]!, b[0]!]) roundTrip(tx, rx, append(env))
    // Bob's seq 1 sent as if it were Alice's stream (ref 0 instead of 1): the codec accepts it...
    const bytes = wire.writeWire(tx, append(b[1]!))
    expect(bytes[2]).toBe(1)
    const r = wire.readWire(rx, at(bytes, 2, 0))
    if (!r.ok || r.value.type !== 'append') throw new Error('expected an append')
    // ...and the envelope it rebuilds names Alice, so the checks of today refuse it.
    expect(equalBytes(r.value.envelope.subarray(HEADER_BYTES), b[1]!.subarray(HEADER_BYTES))).toBe(true)
    expect(code(open(sodium, keys, r.value.envelope, { types: [MsgType.update] }))).toBe('envelope/bad-signature')
  })

  it('a prevHash sent in place of a derivable one, but another, fails the signature (it is in the signed header)', () => {
    const { tx, rx } = pair()
    const a = chain(alice, STREAM_A, 2)
    roundTrip(tx, rx, append(a[0]!))
    const bytes = wire.writeWire(tx, append(a[1]!))
    expect(bytes[3]).toBe(0)
    const lie = concat(bytes.subarray(0, 3), new Uint8Array([1, bytes[4]!]), new Uint8Array(32).fill(9), bytes.subarray(5))
    const r = wire.readWire(rx, lie)
    if (!r.ok || r.value.type !== 'append') throw new Error('expected an append')
    expect(code(open(sodium, keys, r.value.envelope, { types: [MsgType.update] }))).toBe('envelope/bad-signature')
  })

  const at = (b: Uint8Array, i: number, v: number): Uint8Array => { const c = b.slice(); c[i] = v; return c }
})

describe('seq and commitment left out when they follow from the last envelope (CAP_DERIVE)', () => {
  const derivePair = (): { tx: wire.WireSession; rx: wire.WireSession } => {
    const p = pair()
    p.tx.peerDerive = true
    return p
  }
  /** The envelope with another commitment: what a version 1 envelope (key and nonce bound) looks like to the codec. */
  const recommitted = (env: Uint8Array, fill: number): Uint8Array => { const c = env.slice(); c.fill(fill, HEADER_BYTES - 64 - 32, HEADER_BYTES - 64); return c }

  it('a stream of appends costs 141 bytes each after the first: no seq, no commitment; byte for byte', () => {
    const { tx, rx } = derivePair()
    const envs = chain(alice, STREAM_A, 5)
    const sent = envs.map(env => roundTrip(tx, rx, append(env)))
    // type, reqId, ref, flags (1 byte each) • nonce 24 • varBytes(ct 48) • signature 64
    expect(sent.slice(1).map(b => b.length)).toEqual([141, 141, 141, 141])
    expect(sent.slice(1).map(b => b[3])).toEqual([24, 24, 24, 24])
    // The first defines the ref and carries everything: its prevHash is zero.
    expect(sent[0]![3]).toBe(4 | 2)
    expect(sent[0]!.length).toBe(174 + 134)
  })

  it('across a gap seq and prevHash are sent and the commitment is still left out; a resend sends seq', () => {
    const { tx, rx } = derivePair()
    const envs = chain(alice, STREAM_A, 6)
    roundTrip(tx, rx, append(envs[0]!))
    const gap = roundTrip(tx, rx, append(envs[3]!))
    expect(gap[3]).toBe(1 | 8)
    expect(roundTrip(tx, rx, append(envs[4]!))[3]).toBe(8 | 16)
    expect(roundTrip(tx, rx, append(envs[4]!))[3]).toBe(1 | 8)
    expect(roundTrip(tx, rx, append(envs[5]!))[3]).toBe(8 | 16)
  })

  it('a commitment that changes (version 1 envelopes, another key) is sent each time it differs', () => {
    const { tx, rx } = derivePair()
    const envs = chain(alice, STREAM_A, 4)
    // The codec checks no signature: only whether the 32 bytes equal the last ones.
    const flags = [recommitted(envs[0]!, 1), recommitted(envs[1]!, 2), recommitted(envs[2]!, 2), envs[3]!]
      .map(env => roundTrip(tx, rx, append(env))[3])
    // Each rewritten envelope breaks the chain too, so prevHash is sent (1); seq still follows (16).
    expect(flags).toEqual([4 | 2, 1 | 16, 1 | 8 | 16, 1 | 16])
  })

  it('entries to a reader: a live entry is 145 bytes; several streams in one frame each keep their own', () => {
    const { tx, rx } = derivePair()
    const a = chain(alice, STREAM_A, 3)
    const b = chain(bob, STREAM_B, 2)
    roundTrip(tx, rx, { type: 'entries', reqId: 9, spaceId: keys.spaceId, entries: [a[0]!, b[0]!, a[1]!, b[1]!].map((envelope, i) => ({ cursor: 1000 + i, envelope })), head: 1003, more: false })
    const live = roundTrip(tx, rx, { type: 'entries', reqId: 0, spaceId: keys.spaceId, entries: [{ cursor: 1004, envelope: a[2]! }], head: 1004, more: false })
    expect(live.length).toBe(1 + 1 + 1 + 2 + 139 + 1)
  })

  it('a peer that offers compact frames without CAP_DERIVE never gets them; CAP_DERIVE alone turns on nothing', () => {
    for (const [caps, compact, derive] of [[wire.CAPS, true, true], [wire.CAP_COMPACT, true, false], [wire.CAP_DERIVE, false, false]] as const) {
      const s = wire.createSession(env => hash(sodium, env))
      expect(wire.readWire(s, frame.writeFrame({ type: 'hello', reqId: 1, spaceId: keys.spaceId, caps })).ok).toBe(true)
      expect([s.peerCompact, s.peerDerive]).toEqual([compact, derive])
    }
  })

  it.each([
    ['a derived seq with nothing before it', 16 | 2],
    ['a repeated commitment with nothing before it', 8 | 2]
  ])('%s: wire/cannot-derive, no state kept', (_, flags) => {
    const { tx, rx } = derivePair()
    const envs = chain(alice, STREAM_A, 1)
    const bytes = wire.writeWire(tx, append(envs[0]!))
    // Defined inline (flag 4) yet naming what only an earlier envelope of this ref could give.
    const lie = bytes.slice()
    lie[3] = 4 | flags
    const r = wire.readWire(rx, lie)
    expect(code(r)).toBe('wire/cannot-derive')
    expect(rx.in.refs.length).toBe(0)
  })

  it('a lie in either (another commitment repeated, a skipped seq) rebuilds an envelope whose signature fails', () => {
    const a = chain(alice, STREAM_A, 3)
    const opened = (bytes: Uint8Array, rx: wire.WireSession): string => {
      const r = wire.readWire(rx, bytes)
      if (!r.ok || r.value.type !== 'append') throw new Error(`expected an append, got ${r.ok ? r.value.type : r.code}`)
      return code(open(sodium, keys, r.value.envelope, { types: [MsgType.update] }))
    }
    // The last commitment on this connection is another one (0x07 × 32): a[1]'s is sent...
    const c = derivePair()
    roundTrip(c.tx, c.rx, append(recommitted(a[0]!, 7)))
    const honest = wire.writeWire(c.tx, append(a[1]!))
    expect(honest[3]).toBe(1 | 16) // prevHash sent (the chain names the real a[0]), seq derived, commitment sent
    // ...and a sender that says "the same as before" instead rebuilds a[1] with 0x07 × 32.
    const sameLie = concat(honest.subarray(0, 3), new Uint8Array([1 | 16 | 8]), honest.subarray(4, 4 + 32 + 24), honest.subarray(4 + 32 + 24 + 32))
    expect(opened(sameLie, c.rx)).toBe('envelope/bad-signature')
    // A derived seq where the true one is further on: the header names seq 1, the signature covered seq 2.
    const d = derivePair()
    roundTrip(d.tx, d.rx, append(a[0]!))
    const explicit = wire.writeWire(d.tx, append(a[2]!))
    expect(explicit[3]).toBe(1 | 8)
    const seqLie = concat(explicit.subarray(0, 3), new Uint8Array([8 | 16]), explicit.subarray(4 + 1 + 32))
    expect(opened(seqLie, d.rx)).toBe('envelope/bad-signature')
    // The honest bytes of both go through and verify (after a lie the connection would be closed: fresh pairs here).
    const e = derivePair()
    roundTrip(e.tx, e.rx, append(recommitted(a[0]!, 7)))
    expect(opened(wire.writeWire(e.tx, append(a[1]!)), e.rx)).toBe('ok')
    expect(opened(wire.writeWire(e.tx, append(a[2]!)), e.rx)).toBe('ok')
  })
})

describe('fuzz', () => {
  it('mutated and random compact frames never throw: a frame, or a typed error', () => {
    const prng = createPrng(testSeed('wire fuzz'))
    const a = chain(alice, STREAM_A, 4)
    const b = chain(bob, STREAM_B, 2)
    const { tx } = pair()
    // Half the runs with seq and commitment derived (CAP_DERIVE), half without.
    tx.peerDerive = prng.bool(0.5)
    const valid = [
      wire.writeWire(tx, append(a[0]!)),
      wire.writeWire(tx, append(a[1]!)),
      wire.writeWire(tx, { type: 'entries', reqId: 0, spaceId: keys.spaceId, entries: [{ cursor: 9, envelope: a[2]! }, { cursor: 12, envelope: b[0]! }], head: 40, more: true }),
      wire.writeWire(tx, { type: 'presenceOut', spaceId: keys.spaceId, envelope: b[1]! }),
      wire.writeWire(tx, append(a[3]!))
    ]
    const codes = new Set<string>()
    for (let i = 0; i < 3000; i++) {
      const rx = wire.createSession(env => hash(sodium, env))
      // Some valid frames first, so refs exist to be misused.
      const warm = prng.int(0, valid.length)
      for (const v of valid.slice(0, warm)) wire.readWire(rx, v)
      let bytes: Uint8Array
      if (prng.bool(0.2)) {
        bytes = prng.bytes(prng.int(0, 400))
        bytes[0] = prng.pick([16, 17, 30, 31])
      } else {
        bytes = prng.pick(valid).slice()
        const edits = prng.int(1, 4)
        for (let k = 0; k < edits; k++) {
          const op = prng.int(0, 2)
          if (op === 0 && bytes.length > 0) bytes[prng.int(0, bytes.length - 1)] = prng.int(0, 255)
          else if (op === 1) bytes = bytes.subarray(0, prng.int(0, bytes.length))
          else bytes = concat(bytes, prng.bytes(prng.int(1, 40)))
        }
      }
      const r = wire.readWire(rx, bytes)
      codes.add(code(r))
      expect(rx.in.refs.length).toBeLessThanOrEqual(wire.MAX_REFS)
    }
    for (const c of codes) expect(c).toMatch(/^(ok|frame\/[a-z-]+|wire\/[a-z-]+)$/)
    expect([...codes].some(c => c.startsWith('wire/'))).toBe(true)
  })
})
