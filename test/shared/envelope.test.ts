import { beforeAll, describe, expect, it } from 'vitest'
import { aeadDecrypt, aeadEncrypt } from '../../shared/aead.js'
import { concat, equalBytes, toHex } from '../../shared/bytes.js'
import { commitment, commitmentFor, GENESIS_HASH, keyCommitment, open, seal, type Device, type OpenOptions, type StreamPos } from '../../shared/envelope.js'
import {
  COMMIT_BYTES, HASH_BYTES, HEADER_BYTES, KEY_ID_BYTES, MsgType, NONCE_BYTES, parseEnvelope, PK_BYTES,
  SIG_BYTES, SPACE_ID_BYTES, STREAM_BYTES, VERSION, writeHeader, type Header
} from '../../shared/header.js'
import { certifyDevice, deriveKeys, newSpaceSecrets, type SpaceKeys, type SpaceSecrets } from '../../shared/keys.js'
import { bucket, pad, unpad } from '../../shared/pad.js'
import { envelopeMessage, hash, verifyEnvelope } from '../../shared/sign.js'
import { getSodium, randomBytes, type Sodium } from '../../shared/sodium.js'
import { createPrng, testSeed } from '../support/prng.js'
import { twoKeyCiphertext, xchachaKeystream } from '../support/xchacha-collision.js'

/**
 * seal/open (DESIGN.md §3) with real libsodium. Open checks, in order: layout → version/type →
 * space/epoch/key id/expected type → write certificate → device signature → key commitment →
 * AEAD (header as associated data) → padding. The tests pin which check catches what.
 */

let sodium: Sodium
let secrets: SpaceSecrets
let keys: SpaceKeys
let device: Device
const pos: StreamPos = { stream: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), seq: 7, prevHash: GENESIS_HASH }
const UPDATE: OpenOptions = { types: [MsgType.update] }
const ALL_TYPES = Object.values(MsgType)
const prng = createPrng(testSeed('envelope'))

function newDevice (k: SpaceKeys): Device {
  const kp = sodium.crypto_sign_keypair()
  const cert = certifyDevice(sodium, k, kp.publicKey)
  if (cert === undefined) throw new Error('test setup: keys without write capability')
  return { publicKey: kp.publicKey, privateKey: kp.privateKey, cert }
}

/** A sodium whose AEAD decrypt counts its calls, to show which checks run before the AEAD. */
function countingSodium (): { s: Sodium, calls: () => number } {
  let n = 0
  const s = Object.create(sodium) as Sodium
  s.crypto_aead_xchacha20poly1305_ietf_decrypt = ((...args: Parameters<Sodium['crypto_aead_xchacha20poly1305_ietf_decrypt']>) => {
    n++
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(...args)
  }) as Sodium['crypto_aead_xchacha20poly1305_ietf_decrypt']
  return { s, calls: () => n }
}

function headerFor (k: SpaceKeys, d: Device, nonce: Uint8Array, commit: Uint8Array, type: MsgType = MsgType.update, version = VERSION): Header {
  return {
    version, type, spaceId: k.spaceId, epoch: k.epoch, keyId: k.keyId, author: d.publicKey,
    stream: pos.stream, seq: pos.seq, prevHash: pos.prevHash, nonce, commitment: commit, cert: d.cert
  }
}

/** An envelope built by hand from its parts: the commitment key and the AEAD key are chosen separately. */
function handBuilt (commitKey: Uint8Array, aeadKey: Uint8Array, plaintext: Uint8Array, version = VERSION): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES)
  const headerBytes = writeHeader(headerFor(keys, device, nonce, commitmentFor(sodium, version, commitKey, nonce), MsgType.update, version))
  const ct = aeadEncrypt(sodium, aeadKey, nonce, headerBytes, pad(plaintext))
  if (!ct.ok) throw new Error(ct.message)
  return signed(headerBytes, ct.value)
}

function signed (headerBytes: Uint8Array, ct: Uint8Array, d: Device = device): Uint8Array {
  return concat(headerBytes, ct, sodium.crypto_sign_detached(envelopeMessage(sodium, headerBytes, ct), d.privateKey))
}

/** What a certified writer (who knows K and its own device key) can do: change bytes, then sign again. */
function resigned (env: Uint8Array, d: Device = device): Uint8Array {
  return signed(env.subarray(0, HEADER_BYTES), env.subarray(HEADER_BYTES, env.length - SIG_BYTES), d)
}

function flipBit (b: Uint8Array, bit: number): Uint8Array {
  const out = b.slice()
  out[bit >> 3]! ^= 1 << (bit & 7)
  return out
}

function code (r: { ok: boolean, code?: string }): string {
  return r.ok ? 'ok' : r.code!
}

beforeAll(async () => {
  sodium = await getSodium()
  secrets = newSpaceSecrets(sodium)
  keys = deriveKeys(sodium, secrets)
  device = newDevice(keys)
})

describe('seal / open round trip', () => {
  it.each([0, 1, 31, 32, 1000, 100_000])('%i-byte plaintext opens to itself, padded to a bucket', (n) => {
    const plaintext = prng.bytes(n)
    const env = seal(sodium, keys, device, MsgType.update, pos, plaintext)
    const padded = bucket(n + 1)
    // header • ct (padded plaintext + 16-byte tag) • signature
    expect(env.length).toBe(HEADER_BYTES + padded + 16 + SIG_BYTES)
    // A bucket is a fixed point of `bucket`: the length tells nothing finer than the bucket.
    expect(bucket(padded)).toBe(padded)
    const r = open(sodium, keys, env, UPDATE)
    if (!r.ok) throw new Error(`open failed: ${r.code}`)
    expect(equalBytes(r.value.plaintext, plaintext)).toBe(true)
    expect(r.value.hash).toEqual(hash(sodium, env))
    expect(r.value.header).toMatchObject({ version: VERSION, type: MsgType.update, epoch: keys.epoch, seq: pos.seq })
    expect(equalBytes(r.value.header.author, device.publicKey)).toBe(true)
    expect(equalBytes(r.value.header.stream, pos.stream)).toBe(true)
  })

  it('all plaintexts up to 31 bytes (a keystroke) give envelopes of one size', () => {
    const sizes = new Set<number>()
    for (let n = 0; n < 32; n++) sizes.add(seal(sodium, keys, device, MsgType.update, pos, new Uint8Array(n)).length)
    expect([...sizes]).toEqual([HEADER_BYTES + 32 + 16 + SIG_BYTES])
  })

  it('presence uses its own key; every other type the content key', () => {
    const other = sodium.crypto_kdf_keygen()
    const presenceSwapped: SpaceKeys = { ...keys, presenceKey: other }
    const contentSwapped: SpaceKeys = { ...keys, contentKey: other }
    const msg = new Uint8Array([42])
    for (const type of ALL_TYPES) {
      const env = seal(sodium, keys, device, type, pos, msg)
      expect(code(open(sodium, keys, env, { types: [type] }))).toBe('ok')
      const usesPresence = type === MsgType.presence
      expect(code(open(sodium, presenceSwapped, env, { types: [type] }))).toBe(usesPresence ? 'envelope/bad-commitment' : 'ok')
      expect(code(open(sodium, contentSwapped, env, { types: [type] }))).toBe(usesPresence ? 'ok' : 'envelope/bad-commitment')
    }
  })

  it('a cached certificate (certOk) still opens', () => {
    const env = seal(sodium, keys, device, MsgType.update, pos, new Uint8Array([1]))
    expect(code(open(sodium, keys, env, { types: [MsgType.update], certOk: true }))).toBe('ok')
  })
})

describe('every single-bit flip is rejected', () => {
  // Byte offsets of each header field (shared/header.ts), then ciphertext and signature.
  const fields = [
    ['version', 1], ['type', 1], ['spaceId', SPACE_ID_BYTES], ['epoch', 4], ['keyId', KEY_ID_BYTES],
    ['author', PK_BYTES], ['stream', STREAM_BYTES], ['seq', 4], ['prevHash', HASH_BYTES],
    ['nonce', NONCE_BYTES], ['commitment', COMMIT_BYTES], ['cert', SIG_BYTES]
  ] as const
  type Region = typeof fields[number][0] | 'ciphertext' | 'signature'
  function regionOf (byte: number, envLength: number): Region {
    let at = 0
    for (const [name, len] of fields) {
      if (byte < at + len) return name
      at += len
    }
    expect(at).toBe(HEADER_BYTES)
    return byte < envLength - SIG_BYTES ? 'ciphertext' : 'signature'
  }
  const validType = (t: number): boolean => (ALL_TYPES as number[]).includes(t)

  function flipAll (env: Uint8Array, opts: OpenOptions, expected: (region: Region, flipped: Uint8Array) => string): Map<Region, Set<string>> {
    const seen = new Map<Region, Set<string>>()
    const wrong: string[] = []
    for (let bit = 0; bit < env.length * 8; bit++) {
      const flipped = flipBit(env, bit)
      const region = regionOf(bit >> 3, env.length)
      const got = code(open(sodium, keys, flipped, opts))
      const want = expected(region, flipped)
      if (got !== want) wrong.push(`bit ${bit} (${region}): got ${got}, want ${want}`)
      if (!seen.has(region)) seen.set(region, new Set())
      seen.get(region)!.add(got)
    }
    expect(wrong).toEqual([])
    return seen
  }

  it('with the certificate checked: each region fails with its own code', () => {
    const env = seal(sodium, keys, device, MsgType.update, pos, new Uint8Array(0))
    expect(env.length).toBe(HEADER_BYTES + 48 + SIG_BYTES)
    expect(code(open(sodium, keys, env, UPDATE))).toBe('ok')
    const seen = flipAll(env, UPDATE, (region, flipped) => {
      switch (region) {
        case 'version': return 'envelope/bad-version'
        // update (1) with one bit flipped is presence (3) for one bit: a known type, just not expected here.
        case 'type': return validType(flipped[1]!) ? 'envelope/wrong-type' : 'envelope/bad-type'
        case 'spaceId': return 'envelope/wrong-space'
        case 'epoch': return 'envelope/wrong-epoch'
        case 'keyId': return 'envelope/wrong-key'
        // The certificate signs (spaceId, author): another author is not certified.
        case 'author': return 'envelope/bad-cert'
        case 'cert': return 'envelope/bad-cert'
        // The device signature covers the whole header and a hash of the ciphertext.
        default: return 'envelope/bad-signature'
      }
    })
    expect(seen.get('type')).toEqual(new Set(['envelope/wrong-type', 'envelope/bad-type']))
    expect(seen.get('ciphertext')).toEqual(new Set(['envelope/bad-signature']))
    expect(seen.size).toBe(fields.length + 2)
  })

  it('with the certificate cached (certOk) and every type allowed: the device signature still catches cert, author and type', () => {
    const env = seal(sodium, keys, device, MsgType.update, pos, new Uint8Array(0))
    const opts: OpenOptions = { types: ALL_TYPES, certOk: true }
    flipAll(env, opts, (region, flipped) => {
      switch (region) {
        case 'version': return 'envelope/bad-version'
        case 'type': return validType(flipped[1]!) ? 'envelope/bad-signature' : 'envelope/bad-type'
        case 'spaceId': return 'envelope/wrong-space'
        case 'epoch': return 'envelope/wrong-epoch'
        case 'keyId': return 'envelope/wrong-key'
        default: return 'envelope/bad-signature'
      }
    })
  })

  it('a certified writer who changes bytes and signs again is stopped by the commitment or the AEAD', () => {
    const env = seal(sodium, keys, device, MsgType.update, pos, new Uint8Array(0))
    expect(code(open(sodium, keys, resigned(env), UPDATE))).toBe('ok')
    const wrong: string[] = []
    let tried = 0
    for (let bit = 0; bit < (env.length - SIG_BYTES) * 8; bit++) {
      const region = regionOf(bit >> 3, env.length)
      const want = {
        stream: 'envelope/bad-ciphertext', // the header is the AEAD's associated data
        seq: 'envelope/bad-ciphertext',
        prevHash: 'envelope/bad-ciphertext',
        nonce: 'envelope/bad-ciphertext', // the nonce is the AEAD's (version 1's commitment bound it too)
        commitment: 'envelope/bad-commitment',
        ciphertext: 'envelope/bad-ciphertext'
      }[region as string]
      if (want === undefined) continue
      tried++
      const got = code(open(sodium, keys, resigned(flipBit(env, bit)), UPDATE))
      if (got !== want) wrong.push(`bit ${bit} (${region}): got ${got}, want ${want}`)
    }
    expect(wrong).toEqual([])
    expect(tried).toBe((STREAM_BYTES + 4 + HASH_BYTES + NONCE_BYTES + COMMIT_BYTES + 48) * 8)
  })

  it('truncated and extended envelopes are rejected', () => {
    const env = seal(sodium, keys, device, MsgType.update, pos, new Uint8Array(40))
    for (let n = 0; n < env.length; n++) {
      const got = code(open(sodium, keys, env.subarray(0, n), UPDATE))
      // Too short to hold header, minimum ciphertext and signature → malformed; otherwise the
      // signature (now taken from the wrong bytes) fails.
      expect(got).toBe(n < HEADER_BYTES + 48 + SIG_BYTES ? 'envelope/malformed' : 'envelope/bad-signature')
    }
    expect(code(open(sodium, keys, concat(env, new Uint8Array(1)), UPDATE))).toBe('envelope/bad-signature')
  })
})

describe('wrong context', () => {
  it('wrong space, epoch, key id and type each give their code', () => {
    const env = seal(sodium, keys, device, MsgType.update, pos, new Uint8Array([1, 2, 3]))
    const otherSpace = deriveKeys(sodium, newSpaceSecrets(sodium))
    expect(code(open(sodium, otherSpace, env, UPDATE))).toBe('envelope/wrong-space')
    expect(code(open(sodium, { ...keys, epoch: keys.epoch + 1 }, env, UPDATE))).toBe('envelope/wrong-epoch')
    expect(code(open(sodium, deriveKeys(sodium, { ...secrets, epoch: 1, secret: sodium.crypto_kdf_keygen() }), env, UPDATE))).toBe('envelope/wrong-epoch')
    expect(code(open(sodium, { ...keys, keyId: new Uint8Array(KEY_ID_BYTES) }, env, UPDATE))).toBe('envelope/wrong-key')
    // Same space and epoch, another secret: its key id differs, so it is refused before any crypto.
    expect(code(open(sodium, deriveKeys(sodium, { ...secrets, secret: sodium.crypto_kdf_keygen() }), env, UPDATE))).toBe('envelope/wrong-key')
    expect(code(open(sodium, keys, env, { types: [MsgType.snapshot, MsgType.presence] }))).toBe('envelope/wrong-type')
    expect(code(open(sodium, keys, env, { types: [] }))).toBe('envelope/wrong-type')
  })
})

describe('write certificates', () => {
  it('a view-only holder cannot certify, and a forged certificate is refused', () => {
    const { writeSeed: _, ...viewSecrets } = secrets
    const viewKeys = deriveKeys(sodium, viewSecrets)
    expect(viewKeys.write).toBeUndefined()
    const kp = sodium.crypto_sign_keypair()
    expect(certifyDevice(sodium, viewKeys, kp.publicKey)).toBeUndefined()

    // The view-only holder knows K, so its AEAD and commitment are right; only the certificate is not.
    const forger = sodium.crypto_sign_keypair()
    const forgedCert = sodium.crypto_sign_detached(concat(new TextEncoder().encode('cove/device-cert/v1\0'), keys.spaceId, kp.publicKey), forger.privateKey)
    const env = seal(sodium, viewKeys, { ...kp, cert: forgedCert }, MsgType.update, pos, new Uint8Array([9]))
    expect(code(open(sodium, keys, env, UPDATE))).toBe('envelope/bad-cert')
    // The same device with a genuine certificate opens: the certificate was the only fault.
    const genuine = certifyDevice(sodium, keys, kp.publicKey)!
    expect(code(open(sodium, keys, seal(sodium, viewKeys, { ...kp, cert: genuine }, MsgType.update, pos, new Uint8Array([9])), UPDATE))).toBe('ok')

    expect(code(open(sodium, keys, seal(sodium, viewKeys, { ...kp, cert: new Uint8Array(64) }, MsgType.update, pos, new Uint8Array(1)), UPDATE))).toBe('envelope/bad-cert')
    // Another device's certificate does not transfer.
    expect(code(open(sodium, keys, seal(sodium, viewKeys, { ...kp, cert: device.cert }, MsgType.update, pos, new Uint8Array(1)), UPDATE))).toBe('envelope/bad-cert')
    // A certificate from another space's write key does not transfer either.
    const otherKeys = deriveKeys(sodium, newSpaceSecrets(sodium))
    const otherCert = certifyDevice(sodium, otherKeys, kp.publicKey)!
    expect(code(open(sodium, keys, seal(sodium, viewKeys, { ...kp, cert: otherCert }, MsgType.update, pos, new Uint8Array(1)), UPDATE))).toBe('envelope/bad-cert')
  })

  it('verifyEnvelope (what the relay runs) agrees, with no secret key', () => {
    const env = seal(sodium, keys, device, MsgType.update, pos, new Uint8Array([5]))
    const parsed = parseEnvelope(env)
    if (!parsed.ok) throw new Error(parsed.code)
    expect(verifyEnvelope(sodium, parsed.value, keys.writePk).ok).toBe(true)
    expect(verifyEnvelope(sodium, parsed.value, sodium.crypto_sign_keypair().publicKey)).toMatchObject({ ok: false, code: 'envelope/bad-cert' })
  })
})

describe('key commitment', () => {
  it('a hand-built envelope is accepted when commitment and AEAD use the same key (the builder is right)', () => {
    const env = handBuilt(keys.contentKey, keys.contentKey, new Uint8Array([1, 2]))
    const r = open(sodium, keys, env, UPDATE)
    expect(r.ok && [...r.value.plaintext]).toEqual([1, 2])
  })

  it('valid signature and certificate, commitment for another key → bad-commitment, before the AEAD runs', () => {
    const env = handBuilt(sodium.crypto_kdf_keygen(), keys.contentKey, new Uint8Array([1, 2]))
    const parsed = parseEnvelope(env)
    if (!parsed.ok) throw new Error(parsed.code)
    expect(verifyEnvelope(sodium, parsed.value, keys.writePk).ok).toBe(true)
    // The AEAD alone would accept it.
    expect(aeadDecrypt(sodium, keys.contentKey, parsed.value.header.nonce, parsed.value.headerBytes, parsed.value.ciphertext).ok).toBe(true)
    const counting = countingSodium()
    expect(code(open(counting.s, keys, env, UPDATE))).toBe('envelope/bad-commitment')
    expect(counting.calls()).toBe(0)
  })

  it('version 2 commits to the key alone: one value for every envelope under a key, another for every other key', () => {
    const a = parseEnvelope(seal(sodium, keys, device, MsgType.update, pos, new Uint8Array([1])))
    const b = parseEnvelope(seal(sodium, keys, device, MsgType.update, pos, new Uint8Array([2])))
    const p = parseEnvelope(seal(sodium, keys, device, MsgType.presence, pos, new Uint8Array([3])))
    if (!a.ok || !b.ok || !p.ok) throw new Error('seal made an envelope that does not parse')
    expect(a.value.header.version).toBe(2)
    expect(toHex(a.value.header.commitment)).toBe(toHex(b.value.header.commitment))
    expect(toHex(a.value.header.commitment)).toBe(toHex(keyCommitment(sodium, keys.contentKey)))
    expect(toHex(p.value.header.commitment)).toBe(toHex(keyCommitment(sodium, keys.presenceKey)))
    expect(toHex(p.value.header.commitment)).not.toBe(toHex(a.value.header.commitment))
    // A hash of the key, not the key: nothing of the key shows through it.
    expect(toHex(a.value.header.commitment)).not.toBe(toHex(keys.contentKey))
  })

  it('version 1 envelopes (commitment over key and nonce) still open, and their commitment is still checked', () => {
    const v1 = handBuilt(keys.contentKey, keys.contentKey, new Uint8Array([5, 6]), 1)
    const r = open(sodium, keys, v1, UPDATE)
    expect(r.ok && [r.value.header.version, ...r.value.plaintext]).toEqual([1, 5, 6])
    const counting = countingSodium()
    expect(code(open(counting.s, keys, handBuilt(sodium.crypto_kdf_keygen(), keys.contentKey, new Uint8Array([5]), 1), UPDATE))).toBe('envelope/bad-commitment')
    expect(counting.calls()).toBe(0)
    // Either version's commitment under the other's label is refused: the version is signed, and each reads its own.
    const nonce = randomBytes(NONCE_BYTES)
    const mixed = writeHeader(headerFor(keys, device, nonce, commitment(sodium, keys.contentKey, nonce)))
    const ct = aeadEncrypt(sodium, keys.contentKey, nonce, mixed, pad(new Uint8Array([5])))
    if (!ct.ok) throw new Error(ct.message)
    expect(code(open(sodium, keys, signed(mixed, ct.value), UPDATE))).toBe('envelope/bad-commitment')
  })

  it('same key id, another content key → bad-commitment without running the AEAD', () => {
    const env = seal(sodium, keys, device, MsgType.update, pos, new Uint8Array([7]))
    const swapped: SpaceKeys = { ...keys, contentKey: sodium.crypto_kdf_keygen() }
    const counting = countingSodium()
    expect(code(open(counting.s, swapped, env, UPDATE))).toBe('envelope/bad-commitment')
    expect(counting.calls()).toBe(0)
    expect(code(open(counting.s, keys, env, UPDATE))).toBe('ok')
    expect(counting.calls()).toBe(1)
  })

  it('the attack it stops: one signed envelope that AEAD-decrypts to two different messages under two keys', () => {
    // Reference implementation first: it must agree with libsodium, or the demonstration proves nothing.
    const kA = keys.contentKey
    const kB = sodium.crypto_kdf_keygen()
    const probeNonce = randomBytes(NONCE_BYTES)
    const probe = aeadEncrypt(sodium, kA, probeNonce, new Uint8Array(0), new Uint8Array(80))
    expect(probe.ok && toHex(probe.value.subarray(0, 80))).toBe(toHex(xchachaKeystream(kA, probeNonce, 80)))

    // Find a nonce where the last keystream byte of the 32-byte padded block agrees under both keys
    // (1 in 256), so one ciphertext can end in the 0x80 padding marker under both, and where the
    // free block solves (about 1 in 4).
    let env: Uint8Array | undefined
    let tries = 0
    while (env === undefined && tries < 20_000) {
      tries++
      const nonce = randomBytes(NONCE_BYTES)
      const ksA = xchachaKeystream(kA, nonce, 32)
      const ksB = xchachaKeystream(kB, nonce, 32)
      if (ksA[31] !== ksB[31]) continue
      const tail = ksA.slice(16, 32)
      tail[15]! ^= 0x80 // plaintext block 1 under A: 0^15 • 0x80; under B: noise • 0x80
      const headerBytes = writeHeader(headerFor(keys, device, nonce, keyCommitment(sodium, kA)))
      const ct = twoKeyCiphertext(kA, kB, nonce, headerBytes, tail)
      if (ct !== undefined) env = signed(headerBytes, ct)
    }
    if (env === undefined) throw new Error(`no two-key ciphertext after ${tries} nonces`)

    const parsed = parseEnvelope(env)
    if (!parsed.ok) throw new Error(parsed.code)
    const { header, headerBytes, ciphertext } = parsed.value
    // The premise: XChaCha20-Poly1305 is not key-committing.
    const underA = aeadDecrypt(sodium, kA, header.nonce, headerBytes, ciphertext)
    const underB = aeadDecrypt(sodium, kB, header.nonce, headerBytes, ciphertext)
    if (!underA.ok || !underB.ok) throw new Error('the two-key ciphertext did not open under both keys')
    const plainA = unpad(underA.value)
    const plainB = unpad(underB.value)
    expect(plainA).toBeDefined()
    expect(plainB).toBeDefined()
    expect(equalBytes(plainA!, plainB!)).toBe(false)

    // Without the commitment check, two readers holding "the key" for this key id would each see
    // a different, authentic-looking message from the same signed envelope:
    const keysB: SpaceKeys = { ...keys, contentKey: kB }
    const openWithoutCommitment = (k: SpaceKeys): Uint8Array | undefined => {
      if (!verifyEnvelope(sodium, parsed.value, k.writePk).ok) return undefined
      const pt = aeadDecrypt(sodium, k.contentKey, header.nonce, headerBytes, ciphertext)
      return pt.ok ? unpad(pt.value) : undefined
    }
    expect(openWithoutCommitment(keys)).toEqual(plainA)
    expect(openWithoutCommitment(keysB)).toEqual(plainB)

    // With it, exactly one key opens the envelope.
    const a = open(sodium, keys, env, UPDATE)
    expect(a.ok && equalBytes(a.value.plaintext, plainA!)).toBe(true)
    const counting = countingSodium()
    expect(code(open(counting.s, keysB, env, UPDATE))).toBe('envelope/bad-commitment')
    expect(counting.calls()).toBe(0)
  })
})

describe('nonces', () => {
  it('10,000 seals use 10,000 distinct nonces', () => {
    const nonces = new Set<string>()
    for (let i = 0; i < 10_000; i++) {
      const p = parseEnvelope(seal(sodium, keys, device, MsgType.update, pos, new Uint8Array(0)))
      if (!p.ok) throw new Error(p.code)
      nonces.add(toHex(p.value.header.nonce))
    }
    expect(nonces.size).toBe(10_000)
  })
})
