import { concat } from './bytes.js'
import { verifyDetached } from './sign.js'
import type { Sodium } from './sodium.js'

/**
 * What tells the relay a space moved to a new epoch (issue 11, part 2): the new access and write
 * public keys, signed with the current epoch's write capability, bound to the key-change envelope
 * (by hash) that hands the new secrets to the remaining members. The relay checks it with public
 * keys only, then refuses the old keys: the access challenge and certificates of the old epoch
 * open nothing new. A removed device holds only old keys, so from then on it is refused.
 *
 *   rotateMsg := "cove/rotate/v1\0" • spaceId • u32(newEpoch) • access.pk' • write.pk' • BLAKE2b-256(keyChangeEnvelope)
 *   rotateSig := Ed25519_sign(write.sk of epoch newEpoch − 1, rotateMsg)
 */
const TAG_ROTATE = new TextEncoder().encode('cove/rotate/v1\0')

export function rotateMessage (spaceId: Uint8Array, newEpoch: number, accessPk: Uint8Array, writePk: Uint8Array, keyChangeHash: Uint8Array): Uint8Array {
  const e = new Uint8Array(4)
  new DataView(e.buffer).setUint32(0, newEpoch)
  return concat(TAG_ROTATE, spaceId, e, accessPk, writePk, keyChangeHash)
}

export function signRotate (sodium: Sodium, spaceId: Uint8Array, newEpoch: number, accessPk: Uint8Array, writePk: Uint8Array, keyChangeHash: Uint8Array, oldWriteSk: Uint8Array): Uint8Array {
  return sodium.crypto_sign_detached(rotateMessage(spaceId, newEpoch, accessPk, writePk, keyChangeHash), oldWriteSk)
}

/** The relay's check: the current write key signed this move to exactly these keys and this key change. */
export function checkRotate (sodium: Sodium, spaceId: Uint8Array, newEpoch: number, accessPk: Uint8Array, writePk: Uint8Array, keyChangeHash: Uint8Array, oldWritePk: Uint8Array, sig: Uint8Array): boolean {
  if (accessPk.length !== 32 || writePk.length !== 32 || keyChangeHash.length !== 32) return false
  return verifyDetached(sodium, sig, rotateMessage(spaceId, newEpoch, accessPk, writePk, keyChangeHash), oldWritePk)
}
