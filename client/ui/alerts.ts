import type { Alert } from '../core/space.js'

/**
 * Plain words for the core's alert codes (PROTOCOL.md §Error codes), for people who do not know
 * what an envelope is. The code itself is still shown for anyone who wants to look it up.
 */
const WORDS: Record<string, string> = {
  'sync/replay-or-reorder': 'The relay sent a change again or out of order. It was ignored.',
  'sync/equivocation': 'Someone\'s device (or the relay) produced two different versions of the same change. The second one was refused.',
  'sync/chain-mismatch': 'A change did not follow on from the one before it, so the history was altered. It was refused.',
  'sync/missing-entries': 'Some changes by another member have not arrived. The relay may be holding them back.',
  'sync/ack-timeout': 'The relay did not confirm a change in time. Cove reconnected and will send it again.',
  'sync/write-refused': 'The relay refused one of your changes. It is kept on this device.',
  'sync/quota': 'This space is full on the relay (its storage quota). Your changes are kept on this device and sent once there is room.',
  'sync/create-refused': 'The relay did not register this new space yet (it limits how many spaces one address may create). It is kept on this device and Cove tries again later.',
  'sync/no-space': 'This space is not on the relay yet. It appears once someone with the edit link connects.',
  'sync/bad-frame': 'The relay sent data that is not valid. It was ignored.',
  'sync/relay-error': 'The relay reported an error.',
  'sync/withheld': 'Another member\'s signed receipt shows changes the relay has not given you. The relay is holding them back. Compare the space code with a member you trust.',
  'sync/fork': 'Another member holds a different history of this space. The relay is showing different people different versions. Compare the space code with a member you trust.',
  'sync/ack-unbacked': 'The relay said it stored your changes but did not have them. Cove sent them again; nothing was lost.',
  'sync/stale-join': 'The relay gave this device an older version of the space than the invite link you opened vouches for: changes the person who invited you already had are missing, so what you see is not the current space. Cove keeps asking for them and this alert goes away once they arrive. If it stays, compare the space code with that person.',
  'apply/conflicting-item': 'A member wrote two different versions of the same change. The second was refused.',
  'receipt/invalid': 'A member\'s receipt did not verify. It was ignored.',
  'receipt/malformed': 'A member\'s receipt was malformed. It was ignored.',
  'envelope/bad-signature': 'A change was not signed by the device it claims to come from: it was forged or damaged, and refused.',
  'envelope/bad-cert': 'A change came from a device that was never given edit rights. It was refused.',
  'envelope/bad-commitment': 'A change was encrypted for a different key. It was refused.',
  'envelope/bad-ciphertext': 'A change was altered on the way. It was refused.',
  'apply/clientid-taken': 'A member tried to write as if they were someone else. The change was refused.',
  'apply/malformed-update': 'A member sent a change that would have damaged the document. It was refused.',
  'apply/malformed-batch': 'A member sent a malformed change. It was refused.',
  'space/read-only': 'You opened a view-only link, so your changes are not sent.',
  'store/write-failed': 'This browser could not save to its local storage.',
  'store/corrupt-update': 'Part of the copy stored in this browser could not be read.'
}

export function explain (a: Alert): string {
  return WORDS[a.code] ?? (a.code.startsWith('envelope/') ? 'A change failed its security checks and was refused.' : a.message)
}
