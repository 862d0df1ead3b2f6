import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { concat, equalBytes, toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, open as openEnvelope, seal, type Device } from '../../shared/envelope.js'
import { err, ok, type Result } from '../../shared/errors.js'
import { HASH_BYTES, MsgType, PK_BYTES, STREAM_BYTES } from '../../shared/header.js'
import { deriveKeys, type SpaceKeys, type SpaceSecrets } from '../../shared/keys.js'
import { hash } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'
import type { Role } from './members.js'
import type { StreamHeadRef } from './snapshot.js'

/**
 * The key change (issue 11, parts 2 and 3): an editor moves the space to epoch e+1 by sealing, in
 * epoch e, an envelope of type 7 that hands the new secret to each remaining device, each copy
 * sealed to that device alone (`crypto_box_seal` to the X25519 form of its Ed25519 device key).
 * A client takes a new epoch key only from such an envelope, verified under the current epoch's
 * keys and signed by a certified editor of it, never from the relay's word.
 *
 *   keyChange := varUint(1) • varUint(atMs) • u32(newEpoch) • access.pk'(32) • write.pk'(32)
 *                • varUint(n) • n × (author(32) • stream(8) • varUint(seq) • hash(32))   -- frontier
 *                • varUint(r) • r × device(32)                                            -- removed
 *                • varUint(k) • k × (device(32) • varBytes(box))                          -- kept
 *   box       := crypto_box_seal(u8(1) • K' • W' | u8(2) • K' • write.pk', x25519(device.pk))
 *
 * An editor's box holds the new write seed, a viewer's only the new write public key: a viewer
 * stays a viewer. The frontier is every stream head of epoch e the rotating device holds: epoch-e
 * writes beyond it are refused once the key change is taken. Stream `fc×8`, seq = newEpoch,
 * prevHash zero: two key changes for one epoch are rivals, and the lowest envelope hash wins.
 */
export const KEY_CHANGE_STREAM = new Uint8Array(STREAM_BYTES).fill(0xfc)
const MAX_DEVICES = 4096
const BOX_BYTES = 1 + 32 + 32 + 48

export interface KeyChangeBody {
  readonly at: number
  readonly epoch: number
  readonly accessPk: Uint8Array
  readonly writePk: Uint8Array
  readonly frontier: readonly StreamHeadRef[]
  readonly removed: readonly Uint8Array[]
  readonly kept: ReadonlyArray<{ readonly device: Uint8Array; readonly box: Uint8Array }>
}

export type KeyChangeErrorCode = 'keychange/malformed' | 'keychange/wrong-epoch' | 'keychange/keys-mismatch' | 'keychange/bad-box'

export function writeKeyChange (b: KeyChangeBody): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, b.at)
  encoding.writeUint32BigEndian(e, b.epoch)
  encoding.writeUint8Array(e, b.accessPk)
  encoding.writeUint8Array(e, b.writePk)
  encoding.writeVarUint(e, b.frontier.length)
  for (const h of b.frontier) {
    encoding.writeUint8Array(e, h.author)
    encoding.writeUint8Array(e, h.stream)
    encoding.writeVarUint(e, h.seq)
    encoding.writeUint8Array(e, h.hash)
  }
  encoding.writeVarUint(e, b.removed.length)
  for (const d of b.removed) encoding.writeUint8Array(e, d)
  encoding.writeVarUint(e, b.kept.length)
  for (const k of b.kept) {
    encoding.writeUint8Array(e, k.device)
    encoding.writeVarUint8Array(e, k.box)
  }
  return encoding.toUint8Array(e)
}

export function readKeyChange (plain: Uint8Array): Result<KeyChangeBody, 'keychange/malformed'> {
  try {
    const d = decoding.createDecoder(plain)
    if (decoding.readVarUint(d) !== 1) return err('keychange/malformed', 'unknown key change version')
    const at = decoding.readVarUint(d)
    const epoch = decoding.readUint32BigEndian(d)
    const accessPk = bytes(d, PK_BYTES)
    const writePk = bytes(d, PK_BYTES)
    const frontier: StreamHeadRef[] = []
    for (let i = 0, n = count(d); i < n; i++) frontier.push({ author: bytes(d, PK_BYTES), stream: bytes(d, STREAM_BYTES), seq: decoding.readVarUint(d), hash: bytes(d, HASH_BYTES) })
    const removed: Uint8Array[] = []
    for (let i = 0, n = count(d); i < n; i++) removed.push(bytes(d, PK_BYTES))
    const kept: Array<{ device: Uint8Array; box: Uint8Array }> = []
    for (let i = 0, n = count(d); i < n; i++) {
      const device = bytes(d, PK_BYTES)
      const box = decoding.readVarUint8Array(d)
      if (box.length !== BOX_BYTES) return err('keychange/malformed', 'a key box of the wrong size')
      kept.push({ device, box: box.slice() })
    }
    if (decoding.hasContent(d)) return err('keychange/malformed', 'trailing bytes')
    return ok({ at, epoch, accessPk, writePk, frontier, removed, kept })
  } catch {
    return err('keychange/malformed', 'key change is cut short')
  }
}

function count (d: decoding.Decoder): number {
  const n = decoding.readVarUint(d)
  if (n > MAX_DEVICES * 4) throw new Error('too many entries')
  return n
}

function bytes (d: decoding.Decoder, n: number): Uint8Array {
  return decoding.readUint8Array(d, n).slice()
}

/**
 * Seals a key change from `keys` (epoch e) to `next` (epoch e+1) for the `kept` devices (this
 * one included, or it would lock itself out). Only an editor's device can seal one.
 */
export function makeKeyChange (
  sodium: Sodium, keys: SpaceKeys, device: Device, next: SpaceSecrets & { writeSeed: Uint8Array },
  frontier: readonly StreamHeadRef[], kept: ReadonlyArray<{ device: Uint8Array; role: Role }>, removed: readonly Uint8Array[], now: number
): Uint8Array {
  const nk = deriveKeys(sodium, next)
  const boxes = kept.map(k => {
    const inner = k.role === 'edit' ? concat(new Uint8Array([1]), next.secret, next.writeSeed) : concat(new Uint8Array([2]), next.secret, next.writePk)
    return { device: k.device, box: sodium.crypto_box_seal(inner, sodium.crypto_sign_ed25519_pk_to_curve25519(k.device)) }
  })
  const body = writeKeyChange({ at: now, epoch: next.epoch, accessPk: nk.access.publicKey, writePk: nk.writePk, frontier, removed, kept: boxes })
  return seal(sodium, keys, device, MsgType.keyChange, { stream: KEY_CHANGE_STREAM, seq: next.epoch, prevHash: GENESIS_HASH }, body)
}

export type Accepted =
  | { readonly kind: 'kept'; readonly secrets: SpaceSecrets; readonly body: KeyChangeBody; readonly hash: Uint8Array; readonly author: string }
  | { readonly kind: 'removed'; readonly body: KeyChangeBody; readonly hash: Uint8Array; readonly author: string }

/**
 * Judges a key change for this device: it must open under the current epoch's keys, be signed by
 * a certified editor of it, name the next epoch, and (if this device is kept) its box must open
 * with this device's key and give exactly the public keys it announces (the ones the relay was
 * told). 'removed': this device has no box; it keeps what it has and nothing after.
 */
export function acceptKeyChange (sodium: Sodium, keys: SpaceKeys, env: Uint8Array, me: { publicKey: Uint8Array; privateKey: Uint8Array }): Result<Accepted, KeyChangeErrorCode | string> {
  const o = openEnvelope(sodium, keys, env, { types: [MsgType.keyChange] })
  if (!o.ok) return o
  const b = readKeyChange(o.value.plaintext)
  if (!b.ok) return b
  const body = b.value
  if (body.epoch !== keys.epoch + 1 || o.value.header.seq !== body.epoch) return err('keychange/wrong-epoch', `a key change to epoch ${body.epoch} from epoch ${keys.epoch}`)
  const author = toHex(o.value.header.author)
  const mine = body.kept.find(k => equalBytes(k.device, me.publicKey))
  if (mine === undefined) return ok({ kind: 'removed', body, hash: o.value.hash, author })
  let inner: Uint8Array
  try {
    inner = sodium.crypto_box_seal_open(mine.box, sodium.crypto_sign_ed25519_pk_to_curve25519(me.publicKey), sodium.crypto_sign_ed25519_sk_to_curve25519(me.privateKey))
  } catch {
    return err('keychange/bad-box', 'this device\'s key box does not open')
  }
  if (inner.length !== 65 || (inner[0] !== 1 && inner[0] !== 2)) return err('keychange/bad-box', 'this device\'s key box is malformed')
  const secret = inner.slice(1, 33)
  const last = inner.slice(33, 65)
  const secrets: SpaceSecrets = inner[0] === 1
    ? { spaceId: keys.spaceId, epoch: body.epoch, secret, writeSeed: last, writePk: sodium.crypto_sign_seed_keypair(last).publicKey }
    : { spaceId: keys.spaceId, epoch: body.epoch, secret, writePk: last }
  const nk = deriveKeys(sodium, secrets)
  if (!equalBytes(nk.access.publicKey, body.accessPk) || !equalBytes(nk.writePk, body.writePk)) return err('keychange/keys-mismatch', 'the key box does not hold the keys the key change announces')
  return ok({ kind: 'kept', secrets, body, hash: o.value.hash, author })
}

/** Of two key changes for the same epoch, the one every member keeps: the lowest envelope hash. */
export function winner (sodium: Sodium, a: Uint8Array, b: Uint8Array): Uint8Array {
  const ha = hash(sodium, a)
  const hb = hash(sodium, b)
  for (let i = 0; i < ha.length; i++) if (ha[i] !== hb[i]) return ha[i]! < hb[i]! ? a : b
  return a
}
