/**
 * Which snapshots a prune keeps (every LogStore adapter asks this one function, so they agree).
 *
 * History exists for people: "the space as it was an hour ago". Three snapshots sealed seconds
 * apart during one burst of typing are three copies of nearly the same state, and each costs a
 * whole state on disk (issue 10: disk after a prune was 4× the plaintext server's). So beyond the
 * snapshots a prune must keep, history keeps one snapshot per period of `spacingMs` (the newest
 * stored in it), for the newest periods first. A period's snapshot stays once the period is over,
 * however often the relay prunes and however busy the space: comparing each snapshot only with
 * the one kept after it instead dropped every snapshot younger than the spacing at the next prune,
 * so none ever grew old enough to be kept.
 */

/** What retention needs to know of a stored snapshot. */
export interface SnapshotAge {
  readonly id: number
  /** When the relay stored it (ms since the epoch; 0: not recorded, stored by an older relay). */
  readonly storedAt: number
  readonly attested: boolean
}

/**
 * The ids to drop from a space's snapshots, given newest first. Always kept: the newest attested
 * snapshot and everything newer (what the pruned log rests on, and what members have yet to
 * check). Then older ones, newest first, while fewer than `keep` are kept, each only if no kept
 * one was stored in its period (`floor(storedAt / spacingMs)`). A snapshot without a storage time,
 * every snapshot when `spacingMs` is 0, and every snapshot while none is attested (nothing is
 * pruned under one then, and a bad newest one must not cost the older ones) count as a period of
 * their own: the newest `keep`, as before there was a spacing.
 */
export function snapshotsToDrop (newestFirst: readonly SnapshotAge[], keep: number, spacingMs: number): number[] {
  const floor = newestFirst.findIndex(s => s.attested)
  const periods = new Set<number | string>()
  const drop: number[] = []
  let kept = 0
  for (const [i, s] of newestFirst.entries()) {
    const period = spacingMs <= 0 || s.storedAt <= 0 || floor < 0 ? `id:${s.id}` : Math.floor(s.storedAt / spacingMs)
    if (i <= floor || (kept < Math.max(1, keep) && !periods.has(period))) {
      kept++
      periods.add(period)
    } else {
      drop.push(s.id)
    }
  }
  return drop
}
