/**
 * The fan-out port (issue 12): how relay processes sharing one database tell each other that
 * something happened in a space. Only a doorbell: a message may be lost, coalesced or late, and a
 * relay that hears `entries` reads the log itself from what it last sent each reader, so a lost
 * message delays delivery (until the next poll) but never loses or reorders an entry. The log in
 * the store is the only record; a bus never is (DESIGN.md §9).
 *
 * Presence is never stored, so it crosses relays in the message itself (best effort, like on one
 * relay).
 */
export type BusMessage =
  /** The space has entries up to `cursor`. */
  | { readonly type: 'entries'; readonly spaceId: Uint8Array; readonly cursor: number }
  /** A sealed presence envelope to pass to the space's readers. */
  | { readonly type: 'presence'; readonly spaceId: Uint8Array; readonly envelope: Uint8Array }
  | { readonly type: 'peerLeft'; readonly spaceId: Uint8Array; readonly author: Uint8Array }
  /** A snapshot was stored: announce the newest one to the space's readers. */
  | { readonly type: 'snapshot'; readonly spaceId: Uint8Array }
  /** A receipt was stored: pass the space's newest receipts on. */
  | { readonly type: 'receipts'; readonly spaceId: Uint8Array }
  /**
   * The space moved to a new epoch (issue 11): its readers here get the key change (from the store)
   * and are unsubscribed, as on the relay that took the rotation. Lost, the old connections' writes
   * are refused all the same (the store has the new keys) and their next join is told the change.
   */
  | { readonly type: 'rotated'; readonly spaceId: Uint8Array }

export interface BusHandlers {
  message (m: BusMessage): void
  /**
   * The bus may have missed messages (its connection dropped and came back): re-read every live
   * space's log.
   */
  resync (): void
}

export interface FanoutBus {
  /** Best effort, never throws; messages from this relay are not delivered back to it. */
  publish (m: BusMessage): void
  /** One handler set (the relay core). */
  subscribe (h: BusHandlers): void
  close (): Promise<void>
}
