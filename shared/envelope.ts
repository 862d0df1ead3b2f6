import { aeadDecrypt, aeadEncrypt } from './aead.js'
import { concat, equalBytes } from './bytes.js'
import { err, ok, type Result } from './errors.js'
import { HASH_BYTES, MsgType, parseEnvelope, VERSION, writeHeader, type Header, type HeaderErrorCode } from './header.js'
import type { SpaceKeys } from './keys.js'
import { pad, unpad } from './pad.js'
import { envelopeMessage, hash, isNoCert, verifyDeviceSignature, verifyEnvelope, type SignatureErrorCode } from './sign.js'
import { randomBytes, type Sodium } from './sodium.js'

/**
 * Sealing and opening envelopes (DESIGN.md §3). Client-side only: the relay never imports this
 * file (a test checks), it only reads headers and checks signatures through `sign.ts`.
 *
 * Order on open, each step before the next: layout → version/type/space/epoch/key id →
 * write certificate → device signature → key commitment → AEAD (header as associated data) → padding.
 */
const enc = new TextEncoder()
const TAG_COMMIT = enc.encode('cove/key-commitment/v1\0')
const TAG_KEY_COMMIT = enc.encode('cove/key-commitment/v2\0')

/** The per-device identity in one space, with its write certificate (absent for view-only). */
export interface Device {
  readonly publicKey: Uint8Array
  readonly privateKey: Uint8Array
  readonly cert: Uint8Array
}

/** Position of an envelope in its author's stream: seq and the hash of the previous envelope. */
export interface StreamPos {
  readonly stream: Uint8Array
  readonly seq: number
  readonly prevHash: Uint8Array
}

export const GENESIS_HASH = new Uint8Array(HASH_BYTES)

/**
 * XChaCha20-Poly1305 does not commit to its key: one ciphertext can open under two keys
 * (partitioning-oracle and "invisible salamander" attacks). We bind the key with a keyed BLAKE2b in
 * the signed header and check it before decrypting, so a ciphertext opens under exactly one key.
 *
 * Version 1 (still read) bound key and nonce. Version 2 binds the key alone: the nonce is in the
 * signed header already, and a key commitment needs nothing else, while a value that is the same in
 * every envelope under one key lets a compact frame leave it out (PROTOCOL.md "Compact frames").
 */
export function commitmentFor (sodium: Sodium, version: number, key: Uint8Array, nonce: Uint8Array): Uint8Array {
  return version === 1 ? commitment(sodium, key, nonce) : keyCommitment(sodium, key)
}

/** Version 1's commitment, over key and nonce. */
export function commitment (sodium: Sodium, key: Uint8Array, nonce: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(32, concat(TAG_COMMIT, nonce), key)
}

/** Version 2's commitment: BLAKE2b-256 keyed by the key, of a fixed tag; a hash of the key, not the key. */
export function keyCommitment (sodium: Sodium, key: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(32, TAG_KEY_COMMIT, key)
}

export function seal (sodium: Sodium, keys: SpaceKeys, device: Device, type: MsgType, pos: StreamPos, plaintext: Uint8Array): Uint8Array {
  const key = type === MsgType.presence ? keys.presenceKey : keys.contentKey
  // A fresh random 192-bit nonce per message: never a counter, never chosen by the caller.
  const nonce = randomBytes(24)
  const header: Header = {
    version: VERSION,
    type,
    spaceId: keys.spaceId,
    epoch: keys.epoch,
    keyId: keys.keyId,
    author: device.publicKey,
    stream: pos.stream,
    seq: pos.seq,
    prevHash: pos.prevHash,
    nonce,
    commitment: keyCommitment(sodium, key),
    cert: device.cert
  }
  const headerBytes = writeHeader(header)
  const sealed = aeadEncrypt(sodium, key, nonce, headerBytes, pad(plaintext))
  // Keys come from the KDF (32 bytes) and the nonce from randomBytes(24): failing here is a bug.
  if (!sealed.ok) throw new Error(sealed.message)
  const ct = sealed.value
  const sig = sodium.crypto_sign_detached(envelopeMessage(sodium, headerBytes, ct), device.privateKey)
  return concat(headerBytes, ct, sig)
}

export type OpenErrorCode =
  | HeaderErrorCode
  | SignatureErrorCode
  | 'envelope/wrong-space'
  | 'envelope/wrong-epoch'
  | 'envelope/wrong-key'
  | 'envelope/wrong-type'
  | 'envelope/bad-commitment'
  | 'envelope/bad-ciphertext'
  | 'envelope/bad-padding'

export interface Opened {
  readonly header: Header
  readonly plaintext: Uint8Array
  /** BLAKE2b-256 of the whole envelope: its id in chains and receipts. */
  readonly hash: Uint8Array
}

export interface OpenOptions {
  readonly types: readonly MsgType[]
  /** Set when the caller already verified this author's certificate (a cache keyed by author). */
  readonly certOk?: boolean
  /**
   * Accept a presence envelope whose `cert` is `NO_CERT` (a view-only device) on its device
   * signature alone. The caller must then treat the author as uncertified (`isNoCert(header.cert)`).
   */
  readonly uncertifiedPresence?: boolean
  /**
   * The caller verified the certificate and the device signature of these very bytes already
   * (sign.ts verifyEnvelope): not again. The reader checks the signature before the chain (a bad
   * one may be the relay's doing, read again) and verifying it twice per envelope was a third of a
   * reader's CPU.
   */
  readonly signatureOk?: boolean
}

export function open (sodium: Sodium, keys: SpaceKeys, env: Uint8Array, opts: OpenOptions): Result<Opened, OpenErrorCode> {
  const parsed = parseEnvelope(env)
  if (!parsed.ok) return parsed
  const h = parsed.value.header
  if (!equalBytes(h.spaceId, keys.spaceId)) return err('envelope/wrong-space', 'envelope belongs to another space')
  if (h.epoch !== keys.epoch) return err('envelope/wrong-epoch', `envelope of epoch ${h.epoch}, expected ${keys.epoch}`)
  if (!equalBytes(h.keyId, keys.keyId)) return err('envelope/wrong-key', 'envelope sealed under another key id')
  if (!opts.types.includes(h.type)) return err('envelope/wrong-type', `unexpected message type ${h.type}`)
  const viewer = opts.uncertifiedPresence === true && h.type === MsgType.presence && isNoCert(h.cert)
  if (opts.signatureOk !== true) {
    const sig = viewer ? verifyDeviceSignature(sodium, parsed.value) : verifyEnvelope(sodium, parsed.value, keys.writePk, opts.certOk === true)
    if (!sig.ok) return sig
  }
  const key = h.type === MsgType.presence ? keys.presenceKey : keys.contentKey
  if (sodium.memcmp(commitmentFor(sodium, h.version, key, h.nonce), h.commitment) !== true) {
    return err('envelope/bad-commitment', 'key commitment does not match this key')
  }
  const padded = aeadDecrypt(sodium, key, h.nonce, parsed.value.headerBytes, parsed.value.ciphertext)
  if (!padded.ok) return err('envelope/bad-ciphertext', 'ciphertext or header was altered')
  const plaintext = unpad(padded.value)
  if (plaintext === undefined) return err('envelope/bad-padding', 'padding is malformed')
  return ok({ header: h, plaintext, hash: hash(sodium, env) })
}
