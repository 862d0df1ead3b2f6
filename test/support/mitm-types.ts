import type { Frame, SnapshotEntry } from '../../shared/frame.js'

/** The public face of the lying relay of mitm.ts (what tests see of it and can ask it to do). */
export type Tag = string

export interface MitmCounts {
  /** Frames forwarded client → relay and relay → client (after lies; dropped ones not counted). */
  toRelay: number
  toClient: number
  /** Messages forwarded as they were because they did not parse (or could not be rewritten). */
  unparsed: number
  /** Appends kept from the relay, and acks forged for them. */
  swallowed: number
  forgedAcks: number
  /** Entries left out of frames to a reader. */
  hidden: number
  /** Whole frames not sent because everything in them was left out. */
  droppedFrames: number
  /** Head fields lowered so that they name no withheld entry. */
  headsLowered: number
  /** Entries served with the other envelope for their (author, stream, seq). */
  equivocated: number
  /** Join snapshots replaced by an older one; snapshots left out of a snapshots frame. */
  snapshotsReplaced: number
  snapshotsHidden: number
}

/** An entry of a space's log, as far as the MITM saw it. */
export interface KnownEntry {
  readonly cursor: number
  readonly space: string
  /** Hex device key, stream id and seq from the header ('' and -1 when it did not parse). */
  readonly author: string
  readonly stream: string
  readonly seq: number
  readonly envelope: Uint8Array
  /** The tag whose append it was, when that went through the MITM. */
  readonly appender?: Tag
}

/** A snapshot the MITM saw whole (put through it, or listed or served to someone). */
export interface RecordedSnapshot extends SnapshotEntry {
  readonly space: string
  readonly seq: number
  readonly author: string
}

export interface Mitm {
  /** The address for clients of `tag` (a port of its own, opened on first use). */
  url (tag: Tag): Promise<string>
  readonly counts: MitmCounts
  countsFor (tag: Tag): MitmCounts
  /** Hex device keys `tag` wrote or attested with. */
  devices (tag: Tag): string[]
  /** The log of a space (hex id) as far as the MITM saw it, in cursor order. */
  log (space: string): KnownEntry[]
  /** Snapshots of a space seen whole, oldest first. */
  snapshots (space: string): RecordedSnapshot[]
  /** Appends that never reached the relay. */
  readonly swallowed: readonly { readonly tag: Tag; readonly space: string; readonly envelope: Uint8Array; readonly forgedCursor: number }[]
  /** Every frame sent to `tag`'s clients, as sent (after the lies), in order. */
  sent (tag: Tag): Frame[]
  swallowNextAppend (tag: Tag, n?: number): void
  dropAuthor (reader: Tag, authorHex: string, opts?: { stream?: string }): void
  fork (groups: readonly (readonly Tag[])[]): void
  /** `snapshot` defaults to the oldest one recorded for the space of the reader's next join. */
  rollback (reader: Tag, snapshot?: RecordedSnapshot): void
  equivocate (envelope: Uint8Array, readers: readonly Tag[]): void
  dropReceipts (reader: Tag): void
  /** No more lies from now on (views keep their phantoms and never see a head go back). */
  honest (): void
  /** Closes the connections of `tag` (all when omitted), as a network cut would. */
  cut (tag?: Tag): void
  close (): Promise<void>
}
