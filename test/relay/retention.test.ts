import { describe, expect, it } from 'vitest'
import { snapshotsToDrop, type SnapshotAge } from '../../relay/storage/retention.js'

const MIN = 60_000
/** Snapshots newest first, stored at the given minutes, ids counting down; `attested` marks indexes. */
const ages = (minutes: number[], attested: number[] = []): SnapshotAge[] =>
  minutes.map((m, i) => ({ id: minutes.length - i, storedAt: m * MIN, attested: attested.includes(i) }))

describe('snapshot retention (relay/storage/retention.ts)', () => {
  it('spacing 0: the newest K, as before the spacing existed', () => {
    expect(snapshotsToDrop(ages([50, 40, 30, 20, 10]), 3, 0)).toEqual([2, 1])
    expect(snapshotsToDrop(ages([50, 40]), 3, 0)).toEqual([])
    // K below 1 still keeps the newest.
    expect(snapshotsToDrop(ages([50, 40]), 0, 0)).toEqual([1])
  })

  it('the newest attested snapshot and everything newer stay, even past K', () => {
    expect(snapshotsToDrop(ages([50, 40, 30, 20, 10], [3]), 1, 0)).toEqual([1])
    expect(snapshotsToDrop(ages([50, 40, 30, 20, 10], [3]), 1, 60 * MIN)).toEqual([1])
    // The newest attested one is the floor; older attested ones are history like the rest.
    expect(snapshotsToDrop(ages([50, 40, 30, 20, 10], [1, 3]), 2, 0)).toEqual([3, 2, 1])
  })

  it('older snapshots stay only spaced from the one kept after them', () => {
    // Newest first: 3:00, 2:55, 2:00, 1:30, 0:59, 0:00 with an hour's spacing and K = 4.
    const list = ages([180, 175, 120, 90, 59, 0])
    // 3:00 kept; 2:55 (5 min) no; 2:00 (60 min) yes; 1:30 no; 0:59 (61 min) yes; 0:00 (59 min) no.
    expect(snapshotsToDrop(list, 4, 60 * MIN)).toEqual([5, 3, 1])
    expect(snapshotsToDrop(list, 2, 60 * MIN)).toEqual([5, 3, 2, 1])
  })

  it('spacing counts from the oldest must-keep, and a burst before it collapses to one', () => {
    const list = ages([100, 99, 98, 40, 39, 38], [2])
    expect(snapshotsToDrop(list, 4, 30 * MIN)).toEqual([2, 1])
  })
})
