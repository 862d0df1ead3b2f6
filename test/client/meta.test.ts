import { beforeAll, describe, expect, it } from 'vitest'
import { decodeMeta, encodeMeta, freshMeta, MAX_SUSPECTS, type Meta } from '../../client/core/meta.js'
import { toB64u, toHex } from '../../shared/bytes.js'
import { newSpaceSecrets } from '../../shared/keys.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'

/**
 * The persisted session meta (client/core/meta.ts) on its own: what is written reads back, the
 * older flat bindings format still reads, and damaged bytes fail with words (not a SyntaxError or
 * a TypeError from deep inside the decoder).
 */
const DAMAGED = /^the local state of this space is damaged/
let sodium: Sodium

beforeAll(async () => { sodium = await getSodium() })

const filled = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v)

function fullMeta (): Meta {
  const m = freshMeta(sodium, newSpaceSecrets(sodium), true)
  const dev1 = toHex(filled(32, 0xd1))
  const dev2 = toHex(filled(32, 0xd2))
  const sk1 = `${dev1}:${toHex(filled(8, 1))}`
  const sk2 = `${dev2}:${toHex(filled(8, 2))}`
  return {
    ...m,
    heads: new Map([
      [sk1, { seq: 3, hash: filled(32, 1), cursor: 17 }],
      [`${dev1}:${toHex(filled(8, 3))}`, { seq: 40, hash: new Uint8Array(0), cursor: 5 }],
      [sk2, { seq: 9, hash: filled(32, 2), cursor: 0, claimUpTo: 9, claimedBy: toHex(filled(32, 0xc1)) }]
    ]),
    stuck: new Map([[sk1, 4]]),
    bindings: new Map([[11, dev1], [2_000_000_000, dev1], [7, dev2], [12, dev1]]),
    snapshot: { seq: 2, hash: filled(32, 3), heads: new Map([[sk1, 3], [sk2, 8]]), covers: 12 },
    lastSyncedAt: 1_700_000_000_123,
    suspects: { forked: [dev2], equivocated: [dev1, dev2], malformed: [] }
  }
}

function expectSameMeta (a: Meta, b: Meta, cursor: number): void {
  expect(b.secrets).toEqual(a.secrets)
  expect(b.device).toEqual(a.device)
  expect(b.cursor).toBe(cursor)
  expect(b.registered).toBe(a.registered)
  expect(b.heads).toEqual(a.heads)
  expect(b.stuck).toEqual(a.stuck)
  expect(new Map([...b.bindings].sort((x, y) => x[0] - y[0]))).toEqual(new Map([...a.bindings].sort((x, y) => x[0] - y[0])))
  expect(b.snapshot).toEqual(a.snapshot)
  expect(b.lastSyncedAt).toBe(a.lastSyncedAt)
  expect(b.suspects ?? { forked: [], equivocated: [], malformed: [] }).toEqual(a.suspects ?? { forked: [], equivocated: [], malformed: [] })
}

describe('session meta', () => {
  it('round-trips every field (heads with and without a claim, stuck streams, bindings, the held snapshot)', () => {
    const m = fullMeta()
    const back = decodeMeta(encodeMeta(m, 42))
    expectSameMeta(m, back, 42)
    expect(back.heads.get([...m.heads.keys()][2]!)).toMatchObject({ claimUpTo: 9 })
    // And again: encoding what was decoded gives the same bytes.
    expect(encodeMeta(back, 42)).toEqual(encodeMeta(m, 42))
  })

  it('round-trips a fresh meta (no heads, no snapshot, view-only secrets, registered)', () => {
    const s = newSpaceSecrets(sodium)
    const { writeSeed: _drop, ...viewOnly } = s
    const m = freshMeta(sodium, viewOnly, false)
    const back = decodeMeta(encodeMeta(m, 0))
    expectSameMeta(m, back, 0)
    expect(back.secrets.writeSeed).toBeUndefined()
    expect(back.registered).toBe(true)
    expect(back.snapshot).toBeUndefined()
  })

  it('keeps the authors a replica caught; anything in their place that is not a device key is dropped', () => {
    const m = fullMeta()
    const json = JSON.parse(new TextDecoder().decode(encodeMeta(m, 1))) as Record<string, unknown>
    expect(json.suspects).toEqual({ forked: [toHex(filled(32, 0xd2))], equivocated: [toHex(filled(32, 0xd1)), toHex(filled(32, 0xd2))] })
    json.suspects = { forked: [toHex(filled(32, 0xd2)), 'nobody', 7, toHex(filled(31, 1))], malformed: 'all' }
    const back = decodeMeta(new TextEncoder().encode(JSON.stringify(json)))
    expect(back.suspects).toEqual({ forked: [toHex(filled(32, 0xd2))], equivocated: [], malformed: [] })
    // None caught: nothing written.
    const none = JSON.parse(new TextDecoder().decode(encodeMeta({ ...m, suspects: { forked: [], equivocated: [], malformed: [] } }, 1))) as Record<string, unknown>
    expect(none).not.toHaveProperty('suspects')
    // Bounded: a member minting device keys cannot grow every meta write without end; the newest are kept.
    const many = Array.from({ length: MAX_SUSPECTS + 44 }, (_, i) => toHex(filled(32, 0)).slice(0, 56) + i.toString(16).padStart(8, '0'))
    const capped = decodeMeta(encodeMeta({ ...m, suspects: { forked: many, equivocated: [], malformed: many } }, 1))
    expect(capped.suspects?.forked).toEqual(many.slice(-MAX_SUSPECTS))
    expect(capped.suspects?.malformed).toEqual(many.slice(-MAX_SUSPECTS))
  })

  it('writes bindings grouped by device', () => {
    const json = JSON.parse(new TextDecoder().decode(encodeMeta(fullMeta(), 1))) as { bindings: Record<string, number[]> }
    expect(json.bindings[toHex(filled(32, 0xd1))]?.sort((a, b) => a - b)).toEqual([11, 12, 2_000_000_000])
    expect(json.bindings[toHex(filled(32, 0xd2))]).toEqual([7])
  })

  it('reads the older format: flat bindings (clientID → device) and its own `stream` field', () => {
    const s = newSpaceSecrets(sodium)
    const kp = sodium.crypto_sign_keypair()
    const dev1 = toHex(filled(32, 0xd1))
    const dev2 = toHex(filled(32, 0xd2))
    const sk = `${dev1}:${toHex(filled(8, 1))}`
    // As the session before the split wrote it (git show HEAD:client/core/space.ts, `interface Meta`).
    const old = {
      v: 1,
      secrets: { spaceId: toB64u(s.spaceId), epoch: s.epoch, secret: toB64u(s.secret), writeSeed: toB64u(s.writeSeed!), writePk: toB64u(s.writePk) },
      device: { pk: toB64u(kp.publicKey), sk: toB64u(kp.privateKey) },
      stream: { id: toB64u(filled(8, 9)), nextSeq: 17, lastHash: toB64u(filled(32, 9)) },
      heads: { [sk]: [5, toB64u(filled(32, 5))] },
      cursor: 77,
      bindings: { 11: dev1, 12: dev1, 7: dev2 },
      registered: true,
      snapshot: { seq: 1, hash: toB64u(filled(32, 6)), heads: { [sk]: 4 } }
    }
    const m = decodeMeta(new TextEncoder().encode(JSON.stringify(old)))
    expect(m.secrets.spaceId).toEqual(s.spaceId)
    expect(m.secrets.secret).toEqual(s.secret)
    expect(m.secrets.writeSeed).toEqual(s.writeSeed)
    expect(m.secrets.writePk).toEqual(s.writePk)
    expect(m.device).toEqual({ pk: toB64u(kp.publicKey), sk: toB64u(kp.privateKey) })
    expect(m.cursor).toBe(77)
    expect(m.registered).toBe(true)
    expect(m.heads).toEqual(new Map([[sk, { seq: 5, hash: filled(32, 5), cursor: 0 }]]))
    expect(m.stuck.size).toBe(0)
    expect(m.bindings).toEqual(new Map([[7, dev2], [11, dev1], [12, dev1]]))
    expect(m.snapshot).toEqual({ seq: 1, hash: filled(32, 6), heads: new Map([[sk, 4]]), covers: 0 })
    expect(m.lastSyncedAt).toBeUndefined()
    // Written again, it is in the new (grouped) form and reads back the same.
    const again = decodeMeta(encodeMeta(m, 77))
    expect(again.bindings).toEqual(m.bindings)
  })

  it('drops a last-sync time that is not a positive number (shown to the person only, never fatal)', () => {
    const good = new TextDecoder().decode(encodeMeta(fullMeta(), 5))
    for (const bad of ['"soon"', '-1', '0', 'null', '[1]']) {
      expect(decodeMeta(new TextEncoder().encode(good.replace(/"syncedAt":\d+/, `"syncedAt":${bad}`))).lastSyncedAt, bad).toBeUndefined()
    }
  })

  it('damaged bytes fail with the clear message', () => {
    const good = encodeMeta(fullMeta(), 5)
    const cases: Array<[string, Uint8Array]> = [
      ['empty', new Uint8Array(0)],
      ['not UTF-8', new Uint8Array([0xff, 0xfe, 0x7b, 0x7d])],
      ['random bytes', sodium.randombytes_buf(200)],
      ['JSON of another shape', new TextEncoder().encode('[1,2,3]')],
      ['null', new TextEncoder().encode('null')],
      ['another version', new TextEncoder().encode(new TextDecoder().decode(good).replace('"v":1', '"v":2'))],
      ['bad base64 in the secret', new TextEncoder().encode(new TextDecoder().decode(good).replace(/"secret":"[^"]*"/, '"secret":"***"'))],
      ['zeroed half', (() => { const b = good.slice(); b.fill(0, b.length >> 1); return b })()]
    ]
    for (const [what, bytes] of cases) {
      expect(() => decodeMeta(bytes), what).toThrow(DAMAGED)
    }
    for (let n = 0; n < good.length; n++) {
      expect(() => decodeMeta(good.subarray(0, n)), `truncated to ${n} bytes`).toThrow(DAMAGED)
    }
  })

  it('every single-bit flip either decodes or fails with the clear message (never a TypeError)', () => {
    const good = encodeMeta(fullMeta(), 5)
    const other: string[] = []
    for (let i = 0; i < good.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = good.slice()
        b[i] = b[i]! ^ (1 << bit)
        try {
          decodeMeta(b)
        } catch (e) {
          const msg = e instanceof Error ? e.message : String(e)
          if (!DAMAGED.test(msg)) other.push(`byte ${i} bit ${bit} (${JSON.stringify(new TextDecoder().decode(b.subarray(Math.max(0, i - 12), i + 12)))}): ${msg}`)
        }
      }
    }
    expect(other.slice(0, 5)).toEqual([])
  })
})
