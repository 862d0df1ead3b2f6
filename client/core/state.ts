import * as Y from 'yjs'

/**
 * The whole state of a doc, for snapshots, local compaction and shadow rebuilds (DESIGN.md §5, §6).
 *
 * `Y.encodeStateAsUpdate` merges the doc's pending structs (those still waiting for a dependency)
 * into the state as they are. A pending struct that starts below the doc's own clock for its
 * clientID can only be another version of an item the doc already integrated (a member wrote one
 * item twice and the version that came first waits forever for a dependency that never comes):
 * merged in, it can replace the integrated version in the encoded state, so a snapshot or a
 * reloaded store would hold something the live doc does not, and replicas would disagree about
 * an honest snapshot. Those structs are left out here; honest pending structs (at or above the
 * doc's clock, waiting for another stream) are kept, as before.
 */
export function encodeState (doc: Y.Doc, targetStateVector?: Uint8Array): Uint8Array {
  const store = doc.store
  const pendingStructs = store.pendingStructs
  const pendingDs = store.pendingDs
  if (pendingStructs === null && pendingDs === null) return Y.encodeStateAsUpdateV2(doc, targetStateVector)
  let main: Uint8Array
  store.pendingStructs = null
  store.pendingDs = null
  try {
    main = Y.encodeStateAsUpdateV2(doc, targetStateVector)
  } finally {
    store.pendingStructs = pendingStructs
    store.pendingDs = pendingDs
  }
  const parts = [main]
  if (pendingDs !== null) parts.push(pendingDs)
  if (pendingStructs !== null) {
    const target = targetStateVector === undefined ? new Map<number, number>() : Y.decodeStateVector(targetStateVector)
    // From each clientID keep the pending structs that start at or above the doc's clock (and the
    // caller's target): a struct straddling that clock is dropped whole, not cut (a cut one would
    // get a new origin and integrate where the original waits).
    const from = new Map<number, number>()
    const ends = new Map<number, number>()
    for (const s of Y.decodeUpdateV2(pendingStructs.update).structs) {
      const c = s.id.client
      const floor = Math.max(Y.getState(store, c), target.get(c) ?? 0)
      ends.set(c, Math.max(ends.get(c) ?? 0, s.id.clock + s.length))
      if (s.id.clock >= floor && !(s instanceof Y.Skip)) from.set(c, Math.min(from.get(c) ?? Infinity, s.id.clock))
    }
    const sv = new Map<number, number>()
    for (const [c, end] of ends) sv.set(c, from.get(c) ?? end)
    parts.push(Y.diffUpdateV2(pendingStructs.update, Y.encodeStateVector(sv)))
  }
  return Y.mergeUpdatesV2(parts)
}

/** `encodeState` in the V1 update format (the local store's). */
export function encodeStateV1 (doc: Y.Doc): Uint8Array {
  return Y.convertUpdateFormatV2ToV1(encodeState(doc))
}
