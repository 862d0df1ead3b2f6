import type * as frame from '../shared/frame.js'
import { equalBytes } from '../shared/bytes.js'
import { MsgType, parseEnvelope } from '../shared/header.js'
import type { LogStore, StoredSnapshot } from './storage/port.js'

/** The relay core's bounds and small helpers (core.ts). */
export const CERT_CACHE_MAX = 100_000
export const PAGE_BYTES = 4 * 1024 * 1024
export const MAX_PENDING_PART_BYTES = 256 * 1024 * 1024
export const PENDING_PART_TTL_MS = 10 * 60_000
/** History keeps one snapshot per hour: for people, not copies of one burst (storage/retention.ts). */
export const HISTORY_SPACING_MS = 60 * 60_000
/**
 * The log tail kept under a pruned snapshot, in percent of its size. Half a snapshot of entries
 * still spares a member back after a short time away the snapshot download, and keeps the
 * space's disk near its state's size (issue 10: 100% made it about twice the state on its own).
 */
export const PRUNE_TAIL_PERCENT = 50
/** A receipt names stream heads (~80 B each): 64 KiB holds the newest few hundred, plenty for one device. */
export const MAX_RECEIPT_BYTES = 64 * 1024
/** Appended to a device key: the storage slot of its newest member record, beside its receipt's. */
export const MEMBER_SLOT = new Uint8Array([0x6d])
/** Member devices (records) one space may have on a relay (relay/quota past it; core.ts `memberRoom`). */
export const MAX_MEMBERS = 500
export const MAX_LOG_BYTES = 512 * 1024 * 1024
/**
 * Spaces one connection may have said hello to without authenticating. `hello` answers for spaces
 * that do not exist yet too (a creator signs the challenge), so without a bound one connection
 * could make the relay hold one for every id it can think of.
 */
export const MAX_CHALLENGES = 1024

/** Domain of a connection's challenge, BLAKE2b-keyed with the relay's secret over the connection's serial (core.ts `challengeOf`). */
export const CHALLENGE_LABEL = new TextEncoder().encode('cove/relay-challenge/v1\0')

/** The epoch field of an envelope header (after version, type and the space id). */
export const epochOf = (env: Uint8Array): number => env.length < 22 ? -1 : new DataView(env.buffer, env.byteOffset + 18, 4).getUint32(0)

/** What the snapshots frame says about a stored snapshot (its parts are named inside the sealed head). */
export const entryOf = (x: StoredSnapshot): frame.SnapshotEntry => ({ id: x.id, covers: x.covers, attested: x.attested, envelope: x.envelope })

/**
 * Whether `device` may keep a member record in the space: it has one already, or the space has
 * fewer than `max`. A view link mints device keys at will and each record is kept for good:
 * without a bound one link holder could fill the relay. Member records are rare (one per join or
 * profile change), so reading the stored ones here is cheap enough.
 */
export async function memberRoom (store: LogStore, spaceId: Uint8Array, device: Uint8Array, max: number): Promise<boolean> {
  let n = 0
  for (const env of await store.getReceipts(spaceId, 2 * max + 2)) {
    const p = parseEnvelope(env)
    if (!p.ok || p.value.header.type !== MsgType.member) continue
    if (equalBytes(p.value.header.author, device)) return true
    n++
  }
  return n < max
}

/**
 * A member's catch-up ends with every stored member record and the newest this many receipts.
 * Each receipt names about every stream of the space (one per writer): all of them made a joiner
 * of a 100-writer space download ~100 × 7 KB, and the space N³ in all (100 map writers: 432 KB of
 * receipts each). The newest ones name the same streams at the newest positions; an older one
 * adds only its device's "last seen".
 */
export const CATCH_UP_RECEIPTS = 16

/** Of `stored` (newest first), every member record and the newest CATCH_UP_RECEIPTS others. */
export function catchUpReceipts (stored: readonly Uint8Array[]): Uint8Array[] {
  let receipts = 0
  return stored.filter(env => env[1] === MsgType.member || receipts++ < CATCH_UP_RECEIPTS)
}
