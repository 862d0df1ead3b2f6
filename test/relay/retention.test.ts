import { describe, expect, it } from 'vitest'
import { snapshotsToDrop, type SnapshotAge } from '../../relay/storage/retention.js'

const MIN = 60_000
const HOUR = 60 * MIN
/** Snapshots newest first, stored at the given minutes, ids counting down; `attested` marks indexes. */
const ages = (minutes: number[], attested: number[] = []): SnapshotAge[] =>
  minutes.map((m, i) => ({ id: minutes.length - i, storedAt: m * MIN, attested: attested.includes(i) }))

describe('snapshot retention (relay/storage/retention.ts)', () => {
  it('spacing 0: the newest K, as before the spacing existed', () => {
    expect(snapshotsToDrop(ages([50, 40, 30, 20, 10], [0]), 3, 0)).toEqual([2, 1])
    expect(snapshotsToDrop(ages([50, 40], [0]), 3, 0)).toEqual([])
    // K below 1 still keeps the newest.
    expect(snapshotsToDrop(ages([50, 40], [0]), 0, 0)).toEqual([1])
  })

  it('the newest attested snapshot and everything newer stay, even past K', () => {
    expect(snapshotsToDrop(ages([50, 40, 30, 20, 10], [3]), 1, 0)).toEqual([1])
    expect(snapshotsToDrop(ages([50, 40, 30, 20, 10], [3]), 1, HOUR)).toEqual([1])
    // The newest attested one is the floor; older attested ones are history like the rest.
    expect(snapshotsToDrop(ages([50, 40, 30, 20, 10], [1, 3]), 2, 0)).toEqual([3, 2, 1])
  })

  it('one snapshot per period, the newest stored in it', () => {
    // Newest first: 3:00, 2:55, 2:00, 1:30, 0:59, 0:00; hour periods 3, 2, 2, 1, 0, 0.
    const list = ages([180, 175, 120, 90, 59, 0], [0])
    expect(snapshotsToDrop(list, 4, HOUR)).toEqual([4, 1])
    expect(snapshotsToDrop(list, 2, HOUR)).toEqual([4, 3, 2, 1])
  })

  it('on a busy space pruned after every snapshot, the kept history still reaches hours back', () => {
    // A snapshot every 10 minutes for four hours, each attested, a prune after each (K = 3). With
    // each snapshot compared only with the one kept after it, one was left.
    let kept: SnapshotAge[] = []
    for (let m = 0; m <= 240; m += 10) {
      kept = [{ id: m + 1, storedAt: m * MIN, attested: true }, ...kept]
      const drop = new Set(snapshotsToDrop(kept, 3, HOUR))
      kept = kept.filter(s => !drop.has(s.id))
    }
    expect(kept.map(s => s.storedAt / MIN)).toEqual([240, 230, 170])
  })

  it('snapshots stored before times were recorded (0), and all while none is attested, count one by one: the newest K', () => {
    expect(snapshotsToDrop(ages([0, 0, 0, 0], [0]), 3, HOUR)).toEqual([1])
    expect(snapshotsToDrop(ages([3, 2, 1, 0]), 3, HOUR)).toEqual([1])
    // A new snapshot after an upgrade keeps the old ones beside it.
    expect(snapshotsToDrop([{ id: 9, storedAt: 10 * HOUR, attested: true }, ...ages([0, 0, 0])], 3, HOUR)).toEqual([1])
  })
})
