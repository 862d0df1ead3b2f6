import { MAX_KEY_CHANGES_PER_FRAME } from '../shared/frame.js'
import { verifyDetached } from '../shared/sign.js'
import type { Sodium } from '../shared/sodium.js'
import type { LogStore } from './storage/port.js'

/**
 * The relay's side of epochs (issue 11). After a rotation the old access key and certificates open
 * nothing new: a connection that signs the access challenge with an older epoch's key is not
 * admitted, but is handed the key changes after its epoch (`keyChanges`) with the refusal
 * `relay/epoch-replaced`. Those are sealed in the old epoch, so a member still kept finds its new
 * key inside and comes back with it, and a removed one reads only that it was removed.
 */

/** The key changes after the epoch whose access key made `signature`; undefined when no older epoch's key did. */
export async function keyChangesSince (store: LogStore, sodium: Sodium, spaceId: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<Uint8Array[] | undefined> {
  const epochs = await store.getEpochs(spaceId)
  // The newest is the current epoch, checked by the caller already.
  const older = epochs.slice(0, -1)
  const matched = older.find(e => verifyDetached(sodium, signature, message, e.accessPk))
  if (matched === undefined) return undefined
  return epochs.filter(e => e.epoch > matched.epoch && e.keyChange !== undefined).map(e => e.keyChange!).slice(0, MAX_KEY_CHANGES_PER_FRAME)
}

export const REPLACED_MESSAGE = 'this link was replaced; ask a member for a new one'
