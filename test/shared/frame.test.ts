import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
import { FrameType, MAX_ENTRIES_PER_FRAME, MAX_SNAPSHOT_PARTS, MAX_SNAPSHOTS_PER_FRAME, MAX_FRAME_BYTES, readFrame, writeFrame, type Frame, type FrameErrorCode } from '../../shared/frame.js'
import { HEADER_BYTES, MAX_ENVELOPE_BYTES, MIN_CT_BYTES, MsgType, parseEnvelope, SIG_BYTES, VERSION, type HeaderErrorCode } from '../../shared/header.js'
import { testSeed } from '../support/prng.js'

/**
 * Relay wire frames (shared/frame.ts), property-tested. Replay a failure with the printed seed:
 *   SEED=<n> npx vitest run test/shared/frame.test.ts
 * (fast-check also prints the seed and the shrunk counterexample itself.)
 */
const seed = testSeed('frame')

const FRAME_CODES: ReadonlySet<string> = new Set<FrameErrorCode>(['frame/truncated', 'frame/bad-varint', 'frame/too-large', 'frame/bad-field', 'frame/trailing-bytes', 'frame/unknown-type'])
const HEADER_CODES: ReadonlySet<string> = new Set<HeaderErrorCode>(['envelope/malformed', 'envelope/bad-version', 'envelope/bad-type', 'envelope/too-large'])

// Arbitraries: every field within the bounds readFrame enforces.
const bytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n })
const reqId = fc.integer({ min: 0, max: 0xffffffff })
const spaceId = bytes(16)
const pk = bytes(32)
const cursor = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat())
const limit = fc.integer({ min: 0, max: MAX_ENTRIES_PER_FRAME })
const envelope = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 300, maxLength: 2000 }))
// Error codes are stable ASCII identifiers; messages are any well-formed text of ≤ 256 UTF-16 units
// (writeFrame truncates longer ones, which would not round-trip by design).
const errCode = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-/'), maxLength: 64 })
const errMessage = fc.string({ unit: 'grapheme', maxLength: 120 }).filter(s => s.length <= 256)

const arbitraries: { [K in Frame['type']]: fc.Arbitrary<Extract<Frame, { type: K }>> } = {
  create: fc.record({ type: fc.constant('create'), reqId, spaceId, accessPk: pk, writePk: pk, accessSig: bytes(64), writeSig: bytes(64) }),
  // `caps` is optional: older clients and relays send neither (shared/wire.ts).
  hello: fc.record({ type: fc.constant('hello'), reqId, spaceId, caps: fc.nat(0xffffffff) }, { requiredKeys: ['type', 'reqId', 'spaceId'] }),
  auth: fc.record({ type: fc.constant('auth'), reqId, spaceId, signature: bytes(64), after: cursor }),
  append: fc.record({ type: fc.constant('append'), reqId, spaceId, envelope }),
  fetch: fc.record({ type: fc.constant('fetch'), reqId, spaceId, after: cursor, limit }),
  fetchStream: fc.record({ type: fc.constant('fetchStream'), reqId, spaceId, author: pk, stream: bytes(8), fromSeq: reqId, limit }),
  leave: fc.record({ type: fc.constant('leave'), spaceId }),
  presence: fc.record({ type: fc.constant('presence'), spaceId, envelope }),
  challenge: fc.record({ type: fc.constant('challenge'), reqId, spaceId, challenge: bytes(32), caps: fc.nat(0xffffffff) }, { requiredKeys: ['type', 'reqId', 'spaceId', 'challenge'] }),
  welcome: fc.record({ type: fc.constant('welcome'), spaceId: bytes(0), challenge: bytes(32), caps: fc.nat(0xffffffff) }, { requiredKeys: ['type', 'spaceId', 'challenge'] }),
  ok: fc.record({ type: fc.constant('ok'), reqId, spaceId, cursor }),
  entries: fc.record({
    type: fc.constant('entries'), reqId, spaceId,
    entries: fc.array(fc.record({ cursor, envelope }), { maxLength: 6 }),
    head: cursor, more: fc.boolean()
  }),
  error: fc.record({ type: fc.constant('error'), reqId, spaceId: fc.oneof(spaceId, bytes(0)), code: errCode, message: errMessage }),
  presenceOut: fc.record({ type: fc.constant('presenceOut'), spaceId, envelope }),
  peerLeft: fc.record({ type: fc.constant('peerLeft'), spaceId, author: pk }),
  putSnapshot: fc.record({ type: fc.constant('putSnapshot'), reqId, spaceId, covers: cursor, envelope, parts: fc.array(bytes(32), { maxLength: 5 }) }),
  listSnapshots: fc.record({ type: fc.constant('listSnapshots'), reqId, spaceId, limit: fc.integer({ min: 0, max: MAX_SNAPSHOTS_PER_FRAME }) }),
  snapshots: fc.record({ type: fc.constant('snapshots'), reqId, spaceId, snapshots: fc.array(fc.record({ id: cursor, covers: cursor, attested: fc.boolean(), envelope }), { maxLength: 4 }) }),
  attest: fc.record({ type: fc.constant('attest'), reqId, spaceId, snapshotHash: bytes(32), device: pk, cert: bytes(64), signature: bytes(64) }),
  putSnapshotPart: fc.record({ type: fc.constant('putSnapshotPart'), reqId, spaceId, envelope }),
  getSnapshotPart: fc.record({ type: fc.constant('getSnapshotPart'), reqId, spaceId, hash: bytes(32) }),
  snapshotPart: fc.record({ type: fc.constant('snapshotPart'), reqId, spaceId, envelope }),
  receipt: fc.record({ type: fc.constant('receipt'), reqId, spaceId, envelope }),
  receipts: fc.record({ type: fc.constant('receipts'), reqId, spaceId, envelopes: fc.array(envelope, { maxLength: 4 }) }),
  rotate: fc.record({ type: fc.constant('rotate'), reqId, spaceId, epoch: reqId, accessPk: pk, writePk: pk, signature: bytes(64), keyChange: envelope }),
  keyChanges: fc.record({ type: fc.constant('keyChanges'), reqId, spaceId, envelopes: fc.array(envelope, { maxLength: 4 }) })
}
const anyFrame: fc.Arbitrary<Frame> = fc.oneof(...Object.values(arbitraries) as Array<fc.Arbitrary<Frame>>)

function expectFrameError (bytes: Uint8Array): string {
  const r = readFrame(bytes)
  if (r.ok) throw new Error(`expected a frame error, got a ${r.value.type} frame`)
  expect(FRAME_CODES.has(r.code)).toBe(true)
  return r.code
}

describe('writeFrame → readFrame', () => {
  it('the arbitraries cover every frame type', () => {
    expect(Object.keys(arbitraries).sort()).toEqual(Object.keys(FrameType).sort())
  })

  it.each(Object.keys(arbitraries) as Array<Frame['type']>)('%s frames round-trip deep-equal', (type) => {
    fc.assert(fc.property(arbitraries[type] as fc.Arbitrary<Frame>, (f) => {
      const bytes = writeFrame(f)
      const r = readFrame(bytes)
      if (!r.ok) throw new Error(`${r.code}: ${r.message}`)
      expect(r.value).toEqual(f)
      // Everything kept is a copy: reusing the input buffer (as a socket does) changes nothing.
      bytes.fill(0xee)
      expect(r.value).toEqual(f)
    }), { seed, numRuns: 150 })
  })

  it('every strict prefix of a valid frame is truncated', () => {
    fc.assert(fc.property(anyFrame, (f) => {
      const bytes = writeFrame(f)
      // Caps are optional: a hello, challenge or welcome cut just before them is the same frame without.
      const withoutCaps = 'caps' in f && f.caps !== undefined ? writeFrame({ ...f, caps: undefined }).length : -1
      for (let n = 0; n < bytes.length; n++) {
        if (n === withoutCaps) continue
        expect(expectFrameError(bytes.subarray(0, n))).toBe('frame/truncated')
      }
    }), { seed, numRuns: 200 })
  })

  it('a frame with bytes appended has trailing bytes', () => {
    fc.assert(fc.property(anyFrame, fc.uint8Array({ minLength: 1, maxLength: 8 }), (f, extra) => {
      // A hello, challenge or welcome without caps may be followed by them: bytes after the caps are trailing.
      const bytes = writeFrame((f.type === 'hello' || f.type === 'challenge' || f.type === 'welcome') && f.caps === undefined ? { ...f, caps: 1 } : f)
      const longer = new Uint8Array(bytes.length + extra.length)
      longer.set(bytes)
      longer.set(extra, bytes.length)
      expect(expectFrameError(longer)).toBe('frame/trailing-bytes')
    }), { seed, numRuns: 300 })
  })
})

describe('readFrame on hostile bytes', () => {
  it('random bytes give a Result, never a throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const r = readFrame(b)
      if (!r.ok) expect(FRAME_CODES.has(r.code)).toBe(true)
    }), { seed, numRuns: 5000 })
  })

  it('random bytes behind a valid type byte give a Result, never a throw', () => {
    const types = Object.values(FrameType)
    fc.assert(fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 300 }), (t, rest) => {
      const r = readFrame(Uint8Array.from([t, ...rest]))
      if (!r.ok) expect(FRAME_CODES.has(r.code)).toBe(true)
      else expect(r.value.type).toBe(Object.entries(FrameType).find(([, v]) => v === t)![0])
    }), { seed, numRuns: 5000 })
  })

  it('valid frames with one byte changed give a Result, never a throw', () => {
    fc.assert(fc.property(anyFrame, fc.nat(), fc.integer({ min: 1, max: 255 }), (f, at, x) => {
      const b = writeFrame(f)
      b[at % b.length]! ^= x
      const r = readFrame(b)
      if (!r.ok) expect(FRAME_CODES.has(r.code)).toBe(true)
    }), { seed, numRuns: 3000 })
  })

  it('a length prefix claiming 2^40 bytes fails fast, allocating nothing', () => {
    const huge = 2 ** 40
    const w = (write: (e: encoding.Encoder) => void): Uint8Array => {
      const e = encoding.createEncoder()
      write(e)
      return encoding.toUint8Array(e)
    }
    const space = new Uint8Array(16)
    const cases: Array<[string, Uint8Array]> = [
      ['spaceId', w(e => { encoding.writeVarUint(e, FrameType.hello); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, huge) })],
      ['envelope', w(e => { encoding.writeVarUint(e, FrameType.append); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, space); encoding.writeVarUint(e, huge) })],
      ['entry count', w(e => { encoding.writeVarUint(e, FrameType.entries); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, space); encoding.writeVarUint(e, huge) })],
      ['entry envelope', w(e => { encoding.writeVarUint(e, FrameType.entries); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, space); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 0); encoding.writeVarUint(e, huge) })],
      ['error text', w(e => { encoding.writeVarUint(e, FrameType.error); encoding.writeVarUint(e, 1); encoding.writeVarUint(e, 0); encoding.writeVarUint(e, huge) })],
      // Under the envelope cap but far beyond the bytes present.
      ['envelope just under the cap', w(e => { encoding.writeVarUint(e, FrameType.presence); encoding.writeVarUint8Array(e, space); encoding.writeVarUint(e, MAX_ENVELOPE_BYTES) })],
      ['4096 entries announced, none present', w(e => { encoding.writeVarUint(e, FrameType.entries); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, space); encoding.writeVarUint(e, MAX_ENTRIES_PER_FRAME) })],
      ['part count', w(e => { encoding.writeVarUint(e, FrameType.putSnapshot); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, space); encoding.writeVarUint(e, 0); encoding.writeVarUint8Array(e, new Uint8Array(0)); encoding.writeVarUint(e, huge) })],
      ['1024 parts announced, none present', w(e => { encoding.writeVarUint(e, FrameType.putSnapshot); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, space); encoding.writeVarUint(e, 0); encoding.writeVarUint8Array(e, new Uint8Array(0)); encoding.writeVarUint(e, MAX_SNAPSHOT_PARTS) })],
      ['part envelope', w(e => { encoding.writeVarUint(e, FrameType.putSnapshotPart); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, space); encoding.writeVarUint(e, huge) })],
      ['snapshot part answer envelope', w(e => { encoding.writeVarUint(e, FrameType.snapshotPart); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, space); encoding.writeVarUint(e, huge) })]
    ]
    for (const [what, b] of cases) {
      const before = process.memoryUsage().arrayBuffers
      const t0 = performance.now()
      const code = expectFrameError(b)
      const ms = performance.now() - t0
      expect(['frame/too-large', 'frame/truncated'], what).toContain(code)
      expect(ms, `${what} took ${ms} ms`).toBeLessThan(50)
      expect(process.memoryUsage().arrayBuffers - before, what).toBeLessThan(1 << 20)
    }
    expect(expectFrameError(cases[0]![1])).toBe('frame/too-large')
    expect(expectFrameError(cases[1]![1])).toBe('frame/too-large')
    expect(expectFrameError(cases[2]![1])).toBe('frame/too-large')
  })

  it('a frame above the frame cap is refused before parsing', () => {
    const big = new Uint8Array(MAX_FRAME_BYTES + 1)
    big[0] = FrameType.append
    const t0 = performance.now()
    expect(expectFrameError(big)).toBe('frame/too-large')
    expect(performance.now() - t0).toBeLessThan(50)
  })

  it('entry counts are capped at MAX_ENTRIES_PER_FRAME', () => {
    const mk = (n: number): Frame => ({ type: 'entries', reqId: 1, spaceId: new Uint8Array(16), entries: Array.from({ length: n }, (_, i) => ({ cursor: i, envelope: new Uint8Array(0) })), head: n, more: false })
    const full = readFrame(writeFrame(mk(MAX_ENTRIES_PER_FRAME)))
    expect(full.ok && full.value.type === 'entries' && full.value.entries.length).toBe(MAX_ENTRIES_PER_FRAME)
    expect(expectFrameError(writeFrame(mk(MAX_ENTRIES_PER_FRAME + 1)))).toBe('frame/too-large')
  })

  it('snapshot part lists are capped at MAX_SNAPSHOT_PARTS, and a full list fits next to a full-size head', () => {
    const mk = (n: number, env = new Uint8Array(0)): Frame => ({ type: 'putSnapshot', reqId: 1, spaceId: new Uint8Array(16), covers: 1, envelope: env, parts: Array.from({ length: n }, () => new Uint8Array(32)) })
    const full = writeFrame(mk(MAX_SNAPSHOT_PARTS, new Uint8Array(MAX_ENVELOPE_BYTES)))
    expect(full.length).toBeLessThanOrEqual(MAX_FRAME_BYTES)
    const r = readFrame(full)
    expect(r.ok && r.value.type === 'putSnapshot' && r.value.parts.length).toBe(MAX_SNAPSHOT_PARTS)
    expect(expectFrameError(writeFrame(mk(MAX_SNAPSHOT_PARTS + 1)))).toBe('frame/too-large')
  })

  it('a putSnapshot without its parts count (as sent before parts existed) is truncated', () => {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, FrameType.putSnapshot); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, new Uint8Array(16))
    encoding.writeVarUint(e, 3); encoding.writeVarUint8Array(e, new Uint8Array(300))
    expect(expectFrameError(encoding.toUint8Array(e))).toBe('frame/truncated')
    // A caller that leaves `parts` out still writes a valid frame, with none.
    const legacy = { type: 'putSnapshot', reqId: 1, spaceId: new Uint8Array(16), covers: 3, envelope: new Uint8Array(300) } as unknown as Frame
    expect(readFrame(writeFrame(legacy))).toMatchObject({ ok: true, value: { type: 'putSnapshot', parts: [] } })
  })

  it('names each malformation of the snapshot part and attestation frames', () => {
    const space = Array<number>(16).fill(7)
    const h32 = Array<number>(32).fill(1)
    const env = [3, 1, 2, 3]
    // putSnapshot: reqId, space, covers, envelope, part count, parts
    expect(expectFrameError(Uint8Array.from([FrameType.putSnapshot, 1, 16, ...space, 0, ...env, 1, 31, ...h32.slice(1)]))).toBe('frame/bad-field') // 31-byte part hash
    expect(expectFrameError(Uint8Array.from([FrameType.putSnapshot, 1, 16, ...space, 0, ...env, 1, 33, ...h32, 0]))).toBe('frame/too-large') // 33-byte part hash
    expect(expectFrameError(Uint8Array.from([FrameType.putSnapshot, 1, 16, ...space, 0, ...env, 0x81, 0x08]))).toBe('frame/too-large') // 1025 parts
    expect(expectFrameError(Uint8Array.from([FrameType.putSnapshot, 1, 16, ...space, 0, ...env, 2, 32, ...h32]))).toBe('frame/truncated') // 2 parts announced, 1 present
    // snapshots: the attested flag is 0 or 1
    expect(expectFrameError(Uint8Array.from([FrameType.snapshots, 1, 16, ...space, 1, 5, 6, 2, ...env]))).toBe('frame/bad-field')
    expect(readFrame(Uint8Array.from([FrameType.snapshots, 1, 16, ...space, 1, 5, 6, 1, ...env]))).toMatchObject({ ok: true, value: { snapshots: [{ id: 5, covers: 6, attested: true }] } })
    // attest: hash 32, device 32, cert 64, signature 64
    const attest = (hash: number, device: number, cert: number, sig: number): Uint8Array => Uint8Array.from([
      FrameType.attest, 1, 16, ...space, hash, ...Array<number>(hash).fill(1), device, ...Array<number>(device).fill(2),
      cert, ...Array<number>(cert).fill(3), sig, ...Array<number>(sig).fill(4)
    ])
    expect(readFrame(attest(32, 32, 64, 64)).ok).toBe(true)
    expect(expectFrameError(attest(31, 32, 64, 64))).toBe('frame/bad-field')
    expect(expectFrameError(attest(32, 0, 64, 64))).toBe('frame/bad-field') // no device key
    expect(expectFrameError(attest(32, 32, 0, 64))).toBe('frame/bad-field') // no cert (what a view-only holder has)
    expect(expectFrameError(attest(32, 32, 64, 65))).toBe('frame/too-large')
    // getSnapshotPart: a 32-byte hash
    expect(expectFrameError(Uint8Array.from([FrameType.getSnapshotPart, 1, 16, ...space, 0]))).toBe('frame/bad-field')
    expect(expectFrameError(Uint8Array.from([FrameType.getSnapshotPart, 1, 16, ...space, 32, ...h32, 9]))).toBe('frame/trailing-bytes')
  })

  it('names each malformation', () => {
    const space = Array<number>(16).fill(7)
    expect(expectFrameError(Uint8Array.from([99]))).toBe('frame/unknown-type')
    expect(expectFrameError(Uint8Array.from([0]))).toBe('frame/unknown-type')
    expect(expectFrameError(Uint8Array.from([0xff, 0x7f]))).toBe('frame/too-large') // type above 255
    expect(expectFrameError(Uint8Array.from([0x82, 0x00, 1, 16, ...space]))).toBe('frame/bad-varint') // overlong type
    expect(expectFrameError(Uint8Array.from([FrameType.hello, 1, 15, ...space.slice(1)]))).toBe('frame/bad-field') // 15-byte space id
    expect(expectFrameError(Uint8Array.from([FrameType.hello, 1, 17, ...space, 0]))).toBe('frame/too-large') // 17-byte space id
    expect(expectFrameError(Uint8Array.from([FrameType.entries, 1, 16, ...space, 0, 0, 2]))).toBe('frame/bad-field') // more flag 2
    expect(expectFrameError(Uint8Array.from([FrameType.error, 1, 3, 1, 2, 3, 0, 0]))).toBe('frame/bad-field') // 3-byte space id
    expect(expectFrameError(Uint8Array.from([FrameType.error, 1, 0, 2, 0xc3, 0x28, 0]))).toBe('frame/bad-field') // invalid UTF-8
    expect(expectFrameError(Uint8Array.from([FrameType.error, 1, 0, 65, ...Array<number>(65).fill(97), 0]))).toBe('frame/too-large') // code over 64 bytes
    expect(expectFrameError(Uint8Array.from([FrameType.fetch, 1, 16, ...space, 0, 0x81, 0x20]))).toBe('frame/too-large') // limit 4097
    expect(readFrame(Uint8Array.from([FrameType.error, 1, 0, 1, 97, 0]))).toMatchObject({ ok: true, value: { type: 'error', code: 'a', message: '' } })
  })
})

describe('parseEnvelope on hostile bytes', () => {
  const MIN = HEADER_BYTES + MIN_CT_BYTES + SIG_BYTES

  it('never throws on random bytes of any length', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: MIN + 100 }), (b) => {
      const r = parseEnvelope(b)
      if (!r.ok) expect(HEADER_CODES.has(r.code)).toBe(true)
    }), { seed, numRuns: 3000 })
  })

  it('splits any long-enough envelope with a known version and type into parts that add up', () => {
    fc.assert(fc.property(fc.constantFrom(...Object.values(MsgType)), fc.uint8Array({ minLength: MIN - 2, maxLength: MIN + 200 }), (type, rest) => {
      const env = Uint8Array.from([VERSION, type, ...rest])
      const r = parseEnvelope(env)
      if (!r.ok) throw new Error(r.code)
      const p = r.value
      expect(p.headerBytes.length + p.ciphertext.length + p.signature.length).toBe(env.length)
      expect(p.headerBytes.length).toBe(HEADER_BYTES)
      expect(p.signature.length).toBe(SIG_BYTES)
      expect(p.ciphertext.length).toBeGreaterThanOrEqual(MIN_CT_BYTES)
      expect(p.header.type).toBe(type)
    }), { seed, numRuns: 500 })
  })

  it('names short, oversized, unknown-version and unknown-type envelopes', () => {
    const ok = new Uint8Array(MIN)
    ok[0] = VERSION
    ok[1] = MsgType.update
    expect(parseEnvelope(ok).ok).toBe(true)
    expect(parseEnvelope(ok.subarray(0, MIN - 1))).toMatchObject({ ok: false, code: 'envelope/malformed' })
    expect(parseEnvelope(new Uint8Array(0))).toMatchObject({ ok: false, code: 'envelope/malformed' })
    expect(parseEnvelope(Uint8Array.from([3, ...ok.subarray(1)]))).toMatchObject({ ok: false, code: 'envelope/bad-version' })
    expect(parseEnvelope(Uint8Array.from([VERSION, 9, ...ok.subarray(2)]))).toMatchObject({ ok: false, code: 'envelope/bad-type' })
    expect(parseEnvelope(new Uint8Array(MAX_ENVELOPE_BYTES + 1))).toMatchObject({ ok: false, code: 'envelope/too-large' })
  })
})
