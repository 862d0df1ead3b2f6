import * as Y from 'yjs'

/**
 * The whole state of a doc, for snapshots, local compaction and shadow rebuilds (DESIGN.md §5, §6).
 *
 * `Y.encodeStateAsUpdate` merges the doc's pending structs (those still waiting for a dependency)
 * into the state cut at the caller's target state vector only. Below the doc's own clock for a
 * clientID the doc holds the integrated items; a pending struct reaching below it (a copy that
 * came in another grouping, or another version a member wrote) merged in as it is can take the
 * integrated one's place in the encoded state, so a snapshot or a reloaded store would hold
 * something the live doc does not, and replicas would disagree about an honest snapshot. Here the
 * pending structs are cut at the doc's own clock: what is integrated is encoded from the doc.
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
    // Cut at the doc's own clock (and the caller's target): what lies below it is integrated.
    const target = targetStateVector === undefined ? new Map<number, number>() : Y.decodeStateVector(targetStateVector)
    const sv = new Map<number, number>()
    for (const s of Y.decodeUpdateV2(pendingStructs.update).structs) {
      const c = s.id.client
      if (!sv.has(c)) sv.set(c, Math.max(Y.getState(store, c), target.get(c) ?? 0))
    }
    parts.push(Y.diffUpdateV2(pendingStructs.update, Y.encodeStateVector(sv)))
  }
  return Y.mergeUpdatesV2(parts)
}

/**
 * `encodeState` in the V1 update format (the local store's). With nothing pending that is what Yjs
 * encodes directly: converting the V2 state decodes and re-encodes every struct, 2.5× the time of a
 * direct V1 encoding plus garbage (on a cold join it is the local compaction's cost).
 */
export function encodeStateV1 (doc: Y.Doc): Uint8Array {
  if (doc.store.pendingStructs === null && doc.store.pendingDs === null) return Y.encodeStateAsUpdate(doc)
  return Y.convertUpdateFormatV2ToV1(encodeState(doc))
}

/**
 * Applies a replica's stored updates as they were applied live, one transaction each: integrating
 * hundreds of malformed-then-refused neighbours' survivors in one transaction lost a struct now and
 * then (test/client/mutation-fuzz.test.ts, check d). Returns why each one that failed did.
 */
export function applyStored (doc: Y.Doc, updates: readonly Uint8Array[], origin: unknown): string[] {
  const failed: string[] = []
  for (const u of updates) {
    try {
      Y.applyUpdate(doc, u, origin)
    } catch (e) {
      failed.push(String(e))
    }
  }
  return failed
}

const vectors = new WeakMap<Uint8Array, ReadonlyMap<number, number>>()

/**
 * The state vector of a V2 update, decoded once per byte array. Yjs reads a whole update for it,
 * its entire string table first: a join snapshot holding a 5 MB note was decoded in full once for
 * each of three snapshot checks. Throws as Yjs does on bytes that do not decode.
 */
export function stateVectorOfV2 (update: Uint8Array): ReadonlyMap<number, number> {
  let sv = vectors.get(update)
  if (sv === undefined) vectors.set(update, sv = Y.decodeStateVector(Y.encodeStateVectorFromUpdateV2(update)))
  return sv
}
