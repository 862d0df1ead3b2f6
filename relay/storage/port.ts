/**
 * The relay's storage port (DESIGN.md §9): the durable, append-only log of sealed envelopes per
 * space. Every backend (memory, SQLite, later PostgreSQL) passes the one contract suite in
 * `test/relay/storage-contract.ts`.
 *
 * The store, not the relay process, assigns cursors and checks stream chains inside its own
 * transaction, so several relay processes sharing one database cannot hand out the same cursor
 * or accept two envelopes for one (author, stream, seq).
 *
 * `append` resolves only once the entry is durable (committed and synced): the relay acknowledges
 * and forwards only after that (DESIGN.md §4, "acked means durable").
 */
export interface SpaceRecord {
  readonly accessPk: Uint8Array
  readonly writePk: Uint8Array
  /** The current epoch (issue 11); absent means 0, as for a space registered before epochs. */
  readonly epoch?: number
}

/** The public keys of one epoch and the key change that moved the space to it (none for epoch 0). */
export interface EpochRecord {
  readonly epoch: number
  readonly accessPk: Uint8Array
  readonly writePk: Uint8Array
  readonly keyChange?: Uint8Array
}
export type RotateResult = 'ok' | 'conflict' | 'no-space'

/** What the relay extracted from an envelope's header; the store keeps the bytes opaque. */
export interface AppendEntry {
  readonly author: Uint8Array
  readonly stream: Uint8Array
  readonly seq: number
  readonly prevHash: Uint8Array
  /** BLAKE2b-256 of `envelope`. */
  readonly hash: Uint8Array
  readonly envelope: Uint8Array
  /** Snapshots are kept apart from the update log (issue 4); for now every entry is a log entry. */
  readonly kind: 'update'
}

export type AppendResult =
  /**
   * `prev` (new entries only): the space's head just before this entry. A relay that already sent
   * a reader everything up to `prev` can forward this entry directly; otherwise another relay's
   * entry lies between, and it reads the log instead (issue 12: nothing skipped across relays).
   */
  | { readonly ok: true; readonly cursor: number; readonly duplicate: boolean; readonly prev?: number }
  | { readonly ok: false; readonly code: AppendErrorCode; readonly message: string }

export type AppendErrorCode = 'store/no-space' | 'store/equivocation' | 'store/seq-gap' | 'store/chain-mismatch' | 'store/pruned' | 'store/quota'

/** A sealed snapshot (DESIGN.md §5), chained by hash; `covers` is the log cursor its author had applied. */
export interface SnapshotPut {
  readonly hash: Uint8Array
  readonly prevHash: Uint8Array
  readonly covers: number
  /** The head envelope. */
  readonly envelope: Uint8Array
  /**
   * Hashes of part envelopes already stored with `putSnapshotPart`, in order (absent or empty: a
   * one-envelope snapshot). A state larger than one envelope is split so that no single member
   * update, however large, stops compaction (issue 7).
   */
  readonly parts?: readonly Uint8Array[]
}
export interface StoredSnapshot {
  readonly id: number
  readonly hash: Uint8Array
  readonly prevHash: Uint8Array
  readonly covers: number
  readonly envelope: Uint8Array
  readonly parts: Uint8Array[]
  /** A device other than the author attested it; only such a snapshot lets the relay prune the log. */
  readonly attested: boolean
}
export type PutSnapshotErrorCode = 'store/no-space' | 'store/snapshot-conflict' | 'store/missing-part'
export type PutSnapshotResult =
  | { readonly ok: true; readonly id: number }
  | { readonly ok: false; readonly code: PutSnapshotErrorCode; readonly message: string }

export type PutPartResult =
  | { readonly ok: true; readonly duplicate: boolean }
  | { readonly ok: false; readonly code: 'store/no-space' | 'store/quota'; readonly message: string }

export interface StoredEntry { readonly cursor: number; readonly envelope: Uint8Array }

export interface StreamHead { readonly seq: number; readonly hash: Uint8Array }

export interface LogStore {
  /** Registers a space's public keys once; false when the id is taken (a second create is refused). */
  createSpace (spaceId: Uint8Array, rec: SpaceRecord): Promise<boolean>
  getSpace (spaceId: Uint8Array): Promise<SpaceRecord | undefined>
  /**
   * Compare-and-set of the space's keys (issue 11): moves it from epoch `fromEpoch` to
   * `next.epoch` = fromEpoch + 1 only if its current epoch is `fromEpoch` ('conflict' otherwise,
   * nothing changed), so of two rotations from one epoch exactly one wins and no epoch is ever
   * replaced by an older one. `getSpace` then returns the new keys; the old ones stay in `getEpochs`.
   */
  rotateSpace (spaceId: Uint8Array, fromEpoch: number, next: EpochRecord & { readonly keyChange: Uint8Array }): Promise<RotateResult>
  /** Every epoch of the space, oldest first (epoch 0 with the keys it was registered with); [] for an unknown space. */
  getEpochs (spaceId: Uint8Array): Promise<EpochRecord[]>
  /**
   * Appends if `seq` extends the stream (seq 0 with a zero prevHash, or head.seq + 1 with
   * prevHash = head.hash). The same bytes again return the original cursor with duplicate=true,
   * so a client can resend after a lost ack; other bytes at a taken position are equivocation.
   *
   * With `maxLogBytes`, an entry that would take the space's log (the envelopes it still holds;
   * `prune` frees them) past it is refused with `store/quota`, checked in the same transaction so
   * relays sharing a database cannot overshoot together. The quota is checked before the chain:
   * a writer whose earlier envelope was refused for quota must not see the next one refused as a
   * seq gap (which would make it re-seal instead of waiting). A duplicate is always ok.
   */
  append (spaceId: Uint8Array, e: AppendEntry, maxLogBytes?: number): Promise<AppendResult>
  /** Bytes of envelopes in the space's log now (what `maxLogBytes` bounds); 0 for an unknown space. */
  logBytes (spaceId: Uint8Array): Promise<number>
  /** Entries with cursor > after, ascending, at most `limit`. */
  readAfter (spaceId: Uint8Array, after: number, limit: number): Promise<StoredEntry[]>
  /** One stream's entries with seq >= fromSeq, ascending by seq: lets a client fill a gap without trusting cursors. */
  readStream (spaceId: Uint8Array, author: Uint8Array, stream: Uint8Array, fromSeq: number, limit: number): Promise<StoredEntry[]>
  /** The highest cursor of a space, 0 when empty. */
  head (spaceId: Uint8Array): Promise<number>
  /**
   * Compare-and-set on the chain: stored only if `prevHash` is the hash of the newest snapshot
   * (zeros for the first), so of two writers snapshotting at once exactly one wins. Every part
   * named must be stored in this space (else `store/missing-part`, nothing stored); they are then
   * linked to the snapshot, no longer pending, and live exactly as long as it does.
   */
  putSnapshot (spaceId: Uint8Array, s: SnapshotPut): Promise<PutSnapshotResult>
  /** Newest first, at most `limit`. */
  getSnapshots (spaceId: Uint8Array, limit: number): Promise<StoredSnapshot[]>
  /** The snapshot whose head envelope hashes to `hash`, if still kept. */
  getSnapshot (spaceId: Uint8Array, hash: Uint8Array): Promise<StoredSnapshot | undefined>
  /** The newest snapshot with `attested` set: what a joiner should start from, and the bound for pruning. */
  getAttestedSnapshot (spaceId: Uint8Array): Promise<StoredSnapshot | undefined>
  /**
   * Records that `device` attested the snapshot `hash` (the relay checked the signature, and that
   * the device is not the author); idempotent. False when no such snapshot is kept.
   */
  attestSnapshot (spaceId: Uint8Array, snapshotHash: Uint8Array, device: Uint8Array): Promise<boolean>
  /**
   * Stores one part envelope under its hash, pending until a snapshot links it. Refused with
   * `store/quota` when the space's pending (unlinked) part bytes would pass `maxPendingBytes`:
   * parts are uploaded before their snapshot exists, so they need a bound of their own.
   * The same hash again is ok with duplicate=true.
   */
  putSnapshotPart (spaceId: Uint8Array, hash: Uint8Array, envelope: Uint8Array, maxPendingBytes?: number): Promise<PutPartResult>
  /** A stored part, pending or linked. */
  getSnapshotPart (spaceId: Uint8Array, hash: Uint8Array): Promise<Uint8Array | undefined>
  /** Drops pending (never linked) parts stored before `before` (ms since the epoch); returns how many. */
  dropPendingParts (spaceId: Uint8Array, before: number): Promise<number>
  /**
   * Drops log entries with cursor <= upTo (stream heads stay, so chains still extend) and, when
   * `keepSnapshots` is given, the snapshots (with their parts) that retention.ts's
   * `snapshotsToDrop` names: never the newest attested snapshot or anything newer (it is what the
   * pruned log now rests on); older ones while fewer than `keepSnapshots` are kept, one per period
   * of `spacingMs` (default 0: each its own). Returns how many log entries went.
   * Remembers `upTo`.
   */
  prune (spaceId: Uint8Array, upTo: number, keepSnapshots?: number, spacingMs?: number): Promise<number>
  /**
   * Where to prune under `upTo` so that the newest log entries at or below it, up to `keepBytes` of
   * envelopes in all, stay: the highest cursor c <= upTo such that the entries in (c, upTo] hold at
   * most `keepBytes` and adding c's would pass it (0 when they all fit). A member back after a short
   * time away then reads that tail instead of a whole snapshot it mostly has (issue 10).
   */
  tailStart (spaceId: Uint8Array, upTo: number, keepBytes: number): Promise<number>
  /** The highest cursor pruned so far (0 if never): a client resuming below it needs a snapshot. */
  prunedUpTo (spaceId: Uint8Array): Promise<number>
  /**
   * Keeps `envelope` as the newest receipt of `device` in the space (DESIGN.md §7), replacing the
   * one before: receipts are summaries, only the newest of each device matters. False for an
   * unknown space. The relay checked the envelope's signature; it cannot read it.
   */
  putReceipt (spaceId: Uint8Array, device: Uint8Array, envelope: Uint8Array): Promise<boolean>
  /** The newest receipt of each device of the space, at most `limit` (most recent first). */
  getReceipts (spaceId: Uint8Array, limit: number): Promise<Uint8Array[]>
  close (): Promise<void>
}
