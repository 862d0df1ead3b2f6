/**
 * Which snapshots a prune keeps (every LogStore adapter asks this one function, so they agree).
 *
 * History exists for people: "the space as it was an hour ago". Three snapshots sealed seconds
 * apart during one burst of typing are three copies of nearly the same state, and each costs a
 * whole state on disk (issue 10: disk after a prune was 4× the plaintext server's). So beyond the
 * snapshots a prune must keep, an older one stays only if it was stored at least `spacingMs`
 * before the older end of what is kept: the kept history spreads out in time instead of bunching
 * at the newest. `spacingMs` 0 keeps the newest `keep` as before.
 */

/** What retention needs to know of a stored snapshot. */
export interface SnapshotAge {
  readonly id: number
  /** When the relay stored it (ms since the epoch; 0 for one stored before this was recorded). */
  readonly storedAt: number
  readonly attested: boolean
}

/**
 * The ids to drop from a space's snapshots, given newest first. Always kept: the newest attested
 * snapshot and everything newer (what the pruned log rests on, and what members have yet to
 * check). Then older ones, newest first, while fewer than `keep` are kept, each only if stored
 * `spacingMs` or more before the last one kept.
 */
export function snapshotsToDrop (newestFirst: readonly SnapshotAge[], keep: number, spacingMs: number): number[] {
  const floor = newestFirst.findIndex(s => s.attested)
  const drop: number[] = []
  let kept = 0
  let oldestKept: number | undefined
  for (const [i, s] of newestFirst.entries()) {
    const must = i <= floor
    const spaced = oldestKept === undefined || oldestKept - s.storedAt >= spacingMs
    if (must || (kept < Math.max(1, keep) && spaced)) {
      kept++
      oldestKept = s.storedAt
    } else {
      drop.push(s.id)
    }
  }
  return drop
}
