import type { Sodium } from '../shared/sodium.js'
import type { WireSession } from '../shared/wire.js'
import type { CreateLimits } from './limits.js'
import type { FanoutBus } from './fanout/port.js'
import type { LogStore } from './storage/port.js'

/** The shapes the relay core (core.ts) works with: its peers, its options, and what it keeps per peer and space. */
export interface Peer {
  readonly id: number
  /** The remote address (creation limits are kept per address); undefined in tests without one. */
  readonly address?: string
  send (bytes: Uint8Array): void
  /** Sends nothing more and closes the connection; `code` is a stable error code for logs. */
  close (code: string, message: string): void
  /** Resolves once the peer's outgoing buffer is small again (backpressure for long catch-ups). */
  drained (): Promise<void>
}

export interface RelayCoreOptions {
  readonly store: LogStore
  readonly sodium: Sodium
  readonly log?: (line: string) => void
  /** Entries per catch-up frame. */
  readonly pageSize?: number
  /**
   * Envelope bytes per catch-up or fetch answer (at least one entry is always sent). A page counted
   * only in entries can be far larger than the peer's send buffer cap (a healthy reader is then cut
   * off as "slow" on every reconnect) or than MAX_FRAME_BYTES (the client refuses the frame).
   */
  readonly pageBytes?: number
  /** Snapshots kept per space (history for `cove history`); older ones are dropped when pruning. */
  readonly keepSnapshots?: number
  /**
   * The period of which history keeps one snapshot, beyond the newest attested one (default one
   * hour; storage/retention.ts): a history of three snapshots sealed seconds apart shows the same
   * state three times and costs three states on disk. 0 keeps the newest `keepSnapshots`.
   */
  readonly historySpacingMs?: number
  /**
   * How long after a snapshot (or an attestation of one) the updates the newest attested snapshot
   * covers are dropped (clients mid catch-up finish first).
   */
  readonly pruneGraceMs?: number
  /**
   * The newest log entries under a pruned snapshot that stay, in percent of the snapshot's size
   * (default 50): a member back after a short time away reads them instead of a whole snapshot
   * it mostly has. 0 prunes everything the snapshot covers.
   */
  readonly pruneTailPercent?: number
  /**
   * Bytes of snapshot parts a space may hold that no snapshot links yet. Parts are uploaded before
   * their snapshot head, by any writer, so without a bound of their own one member could fill the
   * disk with parts it never links.
   */
  readonly maxPendingPartBytes?: number
  /** Unlinked parts older than this are dropped (at the next prune, or when the quota is hit). */
  readonly pendingPartTtlMs?: number
  /**
   * Update-log bytes one space may hold (envelopes still in the log; pruning under an attested
   * snapshot frees them). Past it an append is refused with `relay/quota` and stays in the
   * writer's outbox: a space, like an address, gets a bound on what it can make the relay store.
   */
  readonly maxLogBytes?: number
  /** Devices with a member record one space may have (issue 11; default 500). */
  readonly maxMembers?: number
  /** How many spaces one connection, and one address, may create (see limits.ts). */
  readonly createLimits?: CreateLimits
  /** The clock of the creation limits (tests). */
  readonly now?: () => number
  /**
   * Other relays on the same database (issue 12): appends, presence, snapshots and receipts are
   * announced on it, and what others announce reaches this relay's readers.
   */
  readonly bus?: FanoutBus
  /**
   * With a bus: how often live spaces' heads are checked in case a doorbell was lost (the longest
   * a lost notification delays delivery).
   */
  readonly pollMs?: number
}

export interface Membership {
  /** Highest cursor sent to this peer in this space; entries at or below it are not sent again. */
  sent: number
  catchingUp: boolean
  /** A live entry arrived during catch-up; the catch-up loop reads once more before going live. */
  dirty: boolean
  /** Device keys that sent presence over this connection, announced as gone when it closes (made with the first). */
  presenceAuthors: Map<string, Uint8Array> | undefined
  readonly spaceId: Uint8Array
}

export interface PeerState {
  readonly peer: Peer
  /** Spaces (hex) this connection said hello to and has not authenticated to since (bounded: MAX_CHALLENGES); none: undefined. */
  hellos: Set<string> | undefined
  /** This connection's number on this relay: its challenge is derived from it (core.ts `challengeOf`). */
  readonly serial: number
  /** `create` frames this connection sent. */
  creates: number
  readonly spaces: Map<string, Membership>
  closed: boolean
  /** Frames of one peer are handled in order: an append must not overtake the one before it. */
  queue: Promise<void>
  /** This connection's compact-frame tables (wire.ts), both directions; gone with the connection. */
  readonly wire: WireSession
}

/** How a connection was opened. */
export interface OpenOptions {
  /** The client asked for a `welcome` (its URL carries `welcome=1`): its challenge is sent at once. */
  readonly welcome?: boolean
}

export interface RelayCore {
  open (peer: Peer, opts?: OpenOptions): void
  /** Handles one frame; never throws or rejects (a failure becomes an error frame and a close). */
  frame (peer: Peer, bytes: Uint8Array): Promise<void>
  closed (peer: Peer): void
  /** Peers connected now, for tests and metrics. */
  readonly peerCount: number
  /** Stops the fallback poll (the bus and the store are closed by their owner). */
  stop (): void
}
