import type { Checkpoint } from '../../shared/checkpoint.js'
import type { FrameOf } from '../../shared/frame.js'
import type { SpaceSecrets } from '../../shared/keys.js'
import type { Sodium } from '../../shared/sodium.js'
import type { Freshness } from './freshness.js'
import type { RelayLink } from './link.js'
import type { SpaceStore } from './store.js'

/** The public shapes of a space session (space.ts): its status, alerts, events and options. */
export type ConnectionState = 'connecting' | 'online' | 'offline'

export interface SpaceStatus {
  readonly connection: ConnectionState
  /** Local changes the relay has not yet stored durably. */
  readonly unsynced: number
  /** The relay delivered everything it had when we joined. */
  readonly caughtUp: boolean
  readonly lastSyncedAt: number | undefined
  /** Whether this replica reached the invite link's checkpoint (freshness.ts); a session always sets it. */
  readonly freshness?: Freshness
}

export interface Alert {
  readonly code: string
  readonly message: string
  readonly at: number
  /** Hex device key of the party the fault is attributed to, when known. */
  readonly author?: string
  readonly cursor?: number
}

export interface SpaceEvents extends Record<string, unknown> {
  status: SpaceStatus
  alert: Alert
  /** An alert that stood no longer does (its condition ended, e.g. the link's checkpoint was reached); its code. */
  cleared: string
  /** Remote content was applied. */
  remote: undefined
  /** The members list changed (members.ts). */
  members: undefined
  /** This session ended with a key change (epoch-sync.ts): moved (open the space again) or removed. */
  epoch: import('./epoch-sync.js').EpochEvent
  /** A sealed presence envelope or a peer-left notice from the relay, for client/core/presence.ts. */
  presence: FrameOf<'presenceOut'> | FrameOf<'peerLeft'>
}

/** A snapshot as `history()` returns it, decrypted and verified. */
export interface SnapshotInfo {
  readonly id: number
  readonly seq: number
  /** The sealing device's key (hex): signed in the envelope header, so the History panel may name it. */
  readonly author: string
  /**
   * This device's own judgement of the snapshot's content, when it made one (members holding the
   * log check every snapshot; PROTOCOL.md): 'bad' means it was alerted as not what its members wrote.
   */
  readonly verdict: 'good' | 'bad' | undefined
  readonly createdAt: number
  readonly covers: number
  readonly bytes: number
  /** `Y.encodeStateAsUpdateV2` of the space at that snapshot. */
  readonly state: Uint8Array
}

export interface SpaceOptions {
  readonly sodium: Sodium
  readonly store: SpaceStore
  readonly link: RelayLink
  /** Required for a space not yet in the store. */
  readonly secrets?: SpaceSecrets
  /** Register the space on the relay (a newly created space). */
  readonly create?: boolean
  /**
   * The checkpoint of the invite link this space is opened with (freshness.ts): the session does
   * not call its state current until it reaches it. Absent: an old link, or no link.
   */
  readonly checkpoint?: Checkpoint
  /** How long a stream gap may stay unfilled before it is reported as withheld. */
  readonly gapTimeoutMs?: number
  /** Receipts are sent at most this often while what this replica holds changes (default 30 s). */
  readonly receiptMs?: number
  /** A change a member's receipt shows and the relay has not served in this time is alerted as withheld (default 15 s). */
  readonly withholdMs?: number
  /**
   * `false` sends no receipts and reads nothing back (default true). For bench/receipt-overhead.ts
   * only, which compares a run without receipts to price them: without receipts nothing checks the
   * relay's acks, and own envelopes leave the outbox only under a snapshot another member made.
   */
  readonly receipts?: boolean
  /** In-flight envelopes before further local updates are gathered into the next one. */
  readonly maxInflight?: number
  /** An append not acknowledged in this time makes the session reconnect and resend. */
  readonly ackTimeoutMs?: number
  /** Offline, local edits gather into one envelope per 10 × this many ms (online, acks clock the batching: outgoing.ts). */
  readonly batchMs?: number
  /** Seal a snapshot after this many envelopes since the last one (0: never by count). */
  readonly snapshotEvery?: number
  /** … or after this many envelope bytes since the last one. */
  readonly snapshotBytes?: number
  /** … or when the space has been quiet this long with changes since the last one (0: never). */
  readonly snapshotIdleMs?: number
  /**
   * A snapshot by count or idleness also waits for the envelope bytes since the last one to reach
   * this fraction of its state (snapshot-sync.ts); default 1, or 0 when `snapshotEvery` or
   * `snapshotIdleMs` is given.
   */
  readonly snapshotStateFactor?: number
}
