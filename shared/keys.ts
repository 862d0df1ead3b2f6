import { concat, equalBytes, fromB64u, toB64u } from './bytes.js'
import { readCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint.js'
import { spaceIdOf } from './create-proof.js'
import { err, ok, type Result } from './errors.js'
import { KEY_ID_BYTES, SPACE_ID_BYTES } from './header.js'
import { certMessage } from './sign.js'
import type { Sodium } from './sodium.js'

/**
 * Space keys (DESIGN.md §2). The space secret K of an epoch never does a job itself: each purpose
 * gets its own subkey from libsodium's KDF (BLAKE2b keyed with K, subkey id, context).
 * The write capability is a separate random seed, not derived from K, so a view-only link (K
 * without it) can decrypt but cannot certify a device as a writer.
 */
const KDF_CONTEXT = 'coveKDF1'
const SUBKEY = { content: 1, presence: 2, access: 3, keyId: 4, blob: 5 } as const

export interface SpaceSecrets {
  readonly spaceId: Uint8Array
  readonly epoch: number
  /** K, 32 bytes. */
  readonly secret: Uint8Array
  /** Seed of the write capability keypair; absent in a view-only link. */
  readonly writeSeed?: Uint8Array
  /** Public half of the write capability; every client and the relay check device certificates with it. */
  readonly writePk: Uint8Array
}

export interface KeyPair { readonly publicKey: Uint8Array; readonly privateKey: Uint8Array }

export interface SpaceKeys {
  readonly spaceId: Uint8Array
  readonly epoch: number
  readonly keyId: Uint8Array
  readonly contentKey: Uint8Array
  readonly presenceKey: Uint8Array
  readonly blobKey: Uint8Array
  /** Proves membership to the relay; the relay stores only the public half. */
  readonly access: KeyPair
  readonly writePk: Uint8Array
  readonly write?: KeyPair
}

/**
 * A new space. Its id is not random but derived from its two public keys (create-proof.ts): a
 * relay then registers the id only with these keys, so nobody (a view-link holder included) can
 * claim a space created offline under keys of their own before its writers come online.
 */
export function newSpaceSecrets (sodium: Sodium): SpaceSecrets {
  const writeSeed = sodium.randombytes_buf(32)
  const secret = sodium.crypto_kdf_keygen()
  const writePk = sodium.crypto_sign_seed_keypair(writeSeed).publicKey
  const accessSeed = sodium.crypto_kdf_derive_from_key(32, SUBKEY.access, KDF_CONTEXT, secret)
  const accessPk = sodium.crypto_sign_seed_keypair(accessSeed).publicKey
  sodium.memzero(accessSeed)
  return { spaceId: spaceIdOf(sodium, accessPk, writePk), epoch: 0, secret, writeSeed, writePk }
}

/**
 * The secrets of the next epoch (issue 11, part 2): a fresh K and a fresh write seed, the same
 * space id (it names the space on every relay and is bound to the epoch-0 keys only).
 */
export function nextEpochSecrets (sodium: Sodium, s: SpaceSecrets): SpaceSecrets & { writeSeed: Uint8Array } {
  const writeSeed = sodium.randombytes_buf(32)
  return { spaceId: s.spaceId, epoch: s.epoch + 1, secret: sodium.crypto_kdf_keygen(), writeSeed, writePk: sodium.crypto_sign_seed_keypair(writeSeed).publicKey }
}

/** Public keys of an epoch: what the relay is told on a rotation. */
export function publicKeysOf (sodium: Sodium, s: SpaceSecrets): { accessPk: Uint8Array; writePk: Uint8Array } {
  const k = deriveKeys(sodium, s)
  return { accessPk: k.access.publicKey, writePk: k.writePk }
}

export function deriveKeys (sodium: Sodium, s: SpaceSecrets): SpaceKeys {
  const sub = (id: number): Uint8Array => sodium.crypto_kdf_derive_from_key(32, id, KDF_CONTEXT, s.secret)
  const accessSeed = sub(SUBKEY.access)
  const access = sodium.crypto_sign_seed_keypair(accessSeed)
  sodium.memzero(accessSeed)
  const write = s.writeSeed === undefined ? undefined : sodium.crypto_sign_seed_keypair(s.writeSeed)
  return {
    spaceId: s.spaceId,
    epoch: s.epoch,
    keyId: sub(SUBKEY.keyId).slice(0, KEY_ID_BYTES),
    contentKey: sub(SUBKEY.content),
    presenceKey: sub(SUBKEY.presence),
    blobKey: sub(SUBKEY.blob),
    access,
    writePk: s.writePk,
    ...(write === undefined ? {} : { write })
  }
}

/**
 * A device's certificate: the write capability's signature over (spaceId, device public key).
 * Needs only the id and the write key pair, so blob uploads can certify a one-off device too.
 */
export function certifyDevice (sodium: Sodium, keys: Pick<SpaceKeys, 'spaceId' | 'write'>, devicePk: Uint8Array): Uint8Array | undefined {
  if (keys.write === undefined) return undefined
  return sodium.crypto_sign_detached(certMessage(keys.spaceId, devicePk), keys.write.privateKey)
}

// Invite links --------------------------------------------------------------------------------
//
//   http(s)://relay-host[:port]/#edit1.<b64u(spaceId 16 • epoch u32 • K 32 • writeSeed 32)>[.<b64u(checkpoint)>]
//   http(s)://relay-host[:port]/#view1.<b64u(spaceId 16 • epoch u32 • K 32 • writePk 32)>[.<b64u(checkpoint)>]
//
// The secret is only in the fragment, which browsers never send to a server. The origin names the
// relay (the web app is served by it; its WebSocket is the same origin with ws/wss). The optional
// last part is a freshness checkpoint (shared/checkpoint.ts): links made before it existed have
// none, and still open; the device then says it cannot check freshness.

export type LinkMode = 'edit' | 'view'
export interface Invite {
  readonly relayUrl: string
  readonly mode: LinkMode
  readonly secrets: SpaceSecrets
  /** What the inviter had verified; absent in an old link (freshness cannot be checked). */
  readonly checkpoint?: Checkpoint
}
export type LinkErrorCode = 'link/malformed' | 'link/unknown-kind' | 'link/bad-relay' | 'link/bad-checkpoint'

/** An invite link; with `checkpoint`, a device opening it refuses a state that does not reach it. */
export function formatLink (origin: string, s: SpaceSecrets, mode: LinkMode, checkpoint?: Checkpoint): string {
  const epoch = new Uint8Array(4)
  new DataView(epoch.buffer).setUint32(0, s.epoch)
  const tail = checkpoint === undefined ? '' : `.${toB64u(writeCheckpoint(checkpoint))}`
  if (mode === 'edit') {
    if (s.writeSeed === undefined) throw new Error('cannot make an edit link from view-only secrets')
    return `${httpOrigin(origin)}/#edit1.${toB64u(concat(s.spaceId, epoch, s.secret, s.writeSeed))}${tail}`
  }
  return `${httpOrigin(origin)}/#view1.${toB64u(concat(s.spaceId, epoch, s.secret, s.writePk))}${tail}`
}

/** The relay origin as the http(s) page address; accepts ws(s):// too. */
function httpOrigin (url: string): string {
  const u = new URL(url)
  const proto = u.protocol === 'wss:' || u.protocol === 'https:' ? 'https:' : 'http:'
  return `${proto}//${u.host}`
}

/** The WebSocket address of a relay given any of its URLs. */
export function relayWsUrl (url: string): string {
  const u = new URL(url)
  const proto = u.protocol === 'https:' || u.protocol === 'wss:' ? 'wss:' : 'ws:'
  return `${proto}//${u.host}/`
}

export function parseLink (sodium: Sodium, link: string): Result<Invite, LinkErrorCode> {
  let url: URL
  try {
    url = new URL(link.trim())
  } catch {
    return err('link/malformed', 'not a link: expected http(s)://host/#edit1.… or #view1.…')
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) return err('link/bad-relay', `unsupported relay scheme ${url.protocol}`)
  const frag = url.hash.replace(/^#/, '')
  const dot = frag.indexOf('.')
  const kind = frag.slice(0, dot)
  if (dot < 0 || (kind !== 'edit1' && kind !== 'view1')) return err('link/unknown-kind', 'the link has no Cove key after #')
  const [key = '', cp, ...extra] = frag.slice(dot + 1).split('.')
  const raw = extra.length === 0 ? fromB64u(key) : undefined
  if (raw?.length !== SPACE_ID_BYTES + 4 + 32 + 32) return err('link/malformed', 'the key in the link is damaged (wrong length or characters)')
  let checkpoint: Checkpoint | undefined
  if (cp !== undefined) {
    const bytes = fromB64u(cp)
    const c = bytes === undefined || bytes.length === 0 ? err('link/bad-checkpoint', 'the checkpoint at the end of the link is damaged (wrong characters)') : readCheckpoint(bytes)
    if (!c.ok) return err(c.code, `${c.message}; ask for the link again`)
    checkpoint = c.value
  }
  const cpPart = checkpoint === undefined ? {} : { checkpoint }
  const spaceId = raw.slice(0, 16)
  const epoch = new DataView(raw.buffer, raw.byteOffset + 16, 4).getUint32(0)
  const secret = raw.slice(20, 52)
  const last = raw.slice(52, 84)
  const relayUrl = relayWsUrl(url.href)
  if (kind === 'edit1') {
    const writePk = sodium.crypto_sign_seed_keypair(last).publicKey
    return ok({ relayUrl, mode: 'edit', secrets: { spaceId, epoch, secret, writeSeed: last, writePk }, ...cpPart })
  }
  return ok({ relayUrl, mode: 'view', secrets: { spaceId, epoch, secret, writePk: last }, ...cpPart })
}

/** Same space id (any epoch): used to match a link to a locally stored replica. */
export function sameSpace (a: SpaceSecrets, b: SpaceSecrets): boolean {
  return equalBytes(a.spaceId, b.spaceId)
}
