import { toHex } from '../shared/bytes.js'
import type { LogStore, StoredSnapshot } from './storage/port.js'

/**
 * When and how far the relay prunes a space (core.ts): after the grace period following a
 * snapshot or an attestation, what the newest ATTESTED snapshot covers, but a tail of the newest
 * entries as large as that snapshot; all but the last K snapshots (never that attested one or
 * anything newer); and parts no snapshot linked in time. Only a snapshot a member other than its
 * author verified may become the sole copy of the space (issue 7): a poisoned snapshot alone never
 * costs the honest log. The tail (issue 10) lets a member back after a short time away read the
 * entries it lacks instead of a whole snapshot it mostly has; the log stays under about twice the state.
 */
export interface PrunerOptions {
  readonly store: LogStore
  readonly log: (line: string) => void
  readonly keepSnapshots: number
  /** History keeps one snapshot per period this long, beyond the newest attested one (retention.ts). */
  readonly historySpacingMs: number
  readonly graceMs: number
  /** The tail kept, in percent of the snapshot's size (0: prune all it covers). */
  readonly tailPercent: number
  readonly pendingPartTtlMs: number
}

export interface Pruner {
  /** A prune of this space after the grace period (one pending per space). */
  schedule (spaceId: Uint8Array): void
}

/** A snapshot's size as a joiner downloads it (a part is at most the client's 4 MiB chunk). */
const snapshotBytes = (x: StoredSnapshot): number => x.envelope.length + x.parts.length * 4 * 1024 * 1024

export function createPruner (o: PrunerOptions): Pruner {
  const timers = new Map<string, ReturnType<typeof setTimeout>>()
  const run = async (spaceId: Uint8Array): Promise<void> => {
    const attested = await o.store.getAttestedSnapshot(spaceId)
    const upTo = attested === undefined ? 0 : await o.store.tailStart(spaceId, attested.covers, Math.floor(snapshotBytes(attested) * o.tailPercent / 100))
    const n = await o.store.prune(spaceId, upTo, o.keepSnapshots, o.historySpacingMs)
    const parts = await o.store.dropPendingParts(spaceId, Date.now() - o.pendingPartTtlMs)
    o.log(`pruned ${n} entries of a space up to cursor ${upTo}${attested === undefined ? ' (no attested snapshot)' : ''}, ${parts} stale parts`)
  }
  return {
    schedule (spaceId) {
      const key = toHex(spaceId)
      if (timers.has(key)) return
      const t = setTimeout(() => {
        timers.delete(key)
        run(spaceId).catch(e => o.log(`prune failed: ${e instanceof Error ? e.message : String(e)}`))
      }, o.graceMs)
      if (typeof t === 'object' && 'unref' in t) t.unref()
      timers.set(key, t)
    }
  }
}
