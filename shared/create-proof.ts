import { concat, equalBytes } from './bytes.js'
import { SPACE_ID_BYTES } from './header.js'
import { verifyDetached } from './sign.js'
import type { Sodium } from './sodium.js'

/**
 * Who may register a space on a relay (issue 8, DESIGN.md §12 "capabilities at every door").
 *
 * Before this, `create` proved nothing: whoever sent a space id first chose its keys, so a
 * view-link holder could register a space created offline under keys of its own and lock the
 * writers out for good. Two things close that:
 *
 * - **The id is bound to the keys.** `spaceId := BLAKE2b-128(TAG_SPACE_ID • access.pk • write.pk)`
 *   (the epoch-0 keys). A relay registers an id only with the two public keys it is derived from,
 *   so there is exactly one registration anyone can make for an id, and it is the honest one. A
 *   signature alone would not do: a view-link holder can mint a write keypair of its own and sign
 *   with that.
 * - **The registration is signed** by the write capability and the access key over the id, both
 *   public keys and the relay's challenge for this connection (the one `hello` hands out and
 *   `auth` then signs too). Only an editor can create (a view link holds no `write.sk`), and a
 *   proof seen on one connection is worthless on any other.
 */
const enc = new TextEncoder()
export const TAG_SPACE_ID = enc.encode('cove/space-id/v1\0')
export const TAG_CREATE = enc.encode('cove/create/v1\0')

interface SigningPair { readonly publicKey: Uint8Array; readonly privateKey: Uint8Array }

/** The id a space with these (epoch-0) public keys has on every relay. */
export function spaceIdOf (sodium: Sodium, accessPk: Uint8Array, writePk: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(SPACE_ID_BYTES, concat(TAG_SPACE_ID, accessPk, writePk), null)
}

/** What the write capability and the access key each sign to register a space. */
export function createMessage (spaceId: Uint8Array, accessPk: Uint8Array, writePk: Uint8Array, challenge: Uint8Array): Uint8Array {
  return concat(TAG_CREATE, spaceId, accessPk, writePk, challenge)
}

export interface CreateProof { readonly accessSig: Uint8Array; readonly writeSig: Uint8Array }

/** The proof an editor sends with `create`, answering this connection's `challenge`. */
export function signCreate (sodium: Sodium, spaceId: Uint8Array, access: SigningPair, write: SigningPair, challenge: Uint8Array): CreateProof {
  const msg = createMessage(spaceId, access.publicKey, write.publicKey, challenge)
  return { accessSig: sodium.crypto_sign_detached(msg, access.privateKey), writeSig: sodium.crypto_sign_detached(msg, write.privateKey) }
}

export type CreateProofErrorCode = 'relay/bad-space-id' | 'relay/bad-create-proof'

/**
 * The relay's check, with public keys only: the id is the one these keys derive, and both keys
 * signed this registration for this challenge. Returns the refusal code, or undefined when valid.
 */
export function checkCreate (
  sodium: Sodium, spaceId: Uint8Array, accessPk: Uint8Array, writePk: Uint8Array, challenge: Uint8Array, proof: CreateProof
): CreateProofErrorCode | undefined {
  if (accessPk.length !== 32 || writePk.length !== 32) return 'relay/bad-create-proof'
  if (!equalBytes(spaceId, spaceIdOf(sodium, accessPk, writePk))) return 'relay/bad-space-id'
  const msg = createMessage(spaceId, accessPk, writePk, challenge)
  if (!verifyDetached(sodium, proof.writeSig, msg, writePk) || !verifyDetached(sodium, proof.accessSig, msg, accessPk)) return 'relay/bad-create-proof'
  return undefined
}
