import * as Y from 'yjs'
import { err, ok, type Result } from '../../shared/errors.js'
import { conflictingItem, type Conflict } from './overlap.js'
import { misplaced, placements, type Placement } from './position.js'
import { nextMacrotask } from './macrotask.js'
import { encodeState } from './state.js'

/**
 * All-or-nothing apply (DESIGN.md §6, §12): a signed update can still throw half-way through
 * integration and leave a live doc partly changed ("hello EVIL world"). An empty scratch doc does
 * not catch that (structs whose dependencies only the live doc has are merely pending there), so
 * every remote update is first applied to a shadow doc that mirrors the live one; only what
 * integrates there cleanly reaches the live doc. A failure leaves the shadow half-changed: it is
 * rebuilt from the live doc then, so the usual cost is one extra apply per update, not a copy.
 *
 * Local edits reach the shadow through `mirror` (the live doc's `update` events of local origin),
 * in a later macrotask or before the next remote update, whichever comes first: applied inside the
 * edit's own transaction they sat between a keystroke and its envelope (issue 10).
 */
export type ShadowErrorCode = 'apply/malformed-update' | 'apply/conflicting-item' | 'apply/failed'

export interface ApplyOutcome {
  /** The live doc changed (false: everything in the update was already in). */
  readonly changed: boolean
}

/** An update with nothing in it: applying it makes Yjs retry a doc's pending structs. */
const EMPTY_UPDATE = Uint8Array.of(0, 0)

export class ShadowApplier {
  private shadow: Y.Doc
  /** Local updates of the live doc not yet applied to the shadow, in order. */
  private queued: Uint8Array[] = []
  private syncing = false
  private destroyed = false
  /** Counters for the benchmark and tests. */
  readonly stats = { applied: 0, refused: 0, rebuilds: 0 }

  constructor (readonly doc: Y.Doc) {
    this.shadow = this.rebuild()
  }

  /** Mirrors a local change of the live doc (its `update` event) into the shadow, soon (`sync`). */
  mirror (update: Uint8Array): void {
    this.queued.push(update)
    if (this.syncing) return
    this.syncing = true
    nextMacrotask(() => {
      this.syncing = false
      this.sync()
    })
  }

  /** Applies the queued local updates to the shadow, one update each as the live doc emitted them. */
  private sync (): void {
    if (this.queued.length === 0 || this.destroyed) return
    const q = this.queued
    this.queued = []
    for (const u of q) {
      try {
        Y.applyUpdate(this.shadow, u)
      } catch {
        // The live doc produced it, so it integrates; a throw means the shadow drifted: start over.
        this.reset()
        return
      }
    }
  }

  /** A new shadow from the live doc, which holds every queued local update already. */
  private reset (): void {
    this.shadow = this.rebuild()
    this.queued = []
  }

  /**
   * Applies `updates` (V1, or one V2 state when `v2`) to the live doc with `origin`, only if they
   * integrate cleanly on the shadow first. On refusal nothing changed anywhere.
   */
  apply (updates: readonly Uint8Array[], origin: unknown, v2 = false): Result<ApplyOutcome, ShadowErrorCode> {
    this.sync()
    // A whole state into an empty replica (a cold join) is not decoded up front: nothing here can
    // hold another version of its items, and its empty structs are looked for in the shadow after it
    // integrated (`emptyStruct`), still before the live doc is touched. Decoding a 5 MB join
    // snapshot into its structs was a sixth of a big space's cold join (issue 10).
    const fresh = v2 && updates.length === 1 && isEmpty(this.shadow)
    let decoded: ReturnType<typeof Y.decodeUpdate>[] | undefined
    if (!fresh) {
      try {
        // Decode fully first: cheap, and it refuses most garbage before any doc is touched.
        decoded = updates.map(u => v2 ? Y.decodeUpdateV2(u) : Y.decodeUpdate(u))
      } catch (e) {
        this.stats.refused++
        return err('apply/malformed-update', `update does not decode: ${message(e)}`)
      }
      // Zero-length structs or deletions integrate, then break every later encoding of the doc
      // (a V2 state refuses a zero length): refused up front.
      for (const d of decoded) {
        if (d.structs.some(x => !(x.length >= 1)) || [...d.ds.clients.values()].some(list => list.some(x => !(x.len >= 1)))) {
          this.stats.refused++
          return err('apply/malformed-update', EMPTY_STRUCT)
        }
      }
      const first = conflictingItem(this.shadow, decoded.slice(0, 1))
      if (first !== undefined) {
        this.stats.refused++
        return err('apply/conflicting-item', conflictMessage(first))
      }
    }
    // Only the later updates of a batch are checked again. The first one's decoded structs are let
    // go now, not held through both applies: a join snapshot's are the whole document, and kept
    // alive that long they outlived the young generation, doubling the GC time of a cold join.
    // Envelopes only: a whole state (a join snapshot) may hold an item that integrated unchecked
    // at its maker (it waited as pending for someone else's update); its maker is not to blame.
    const placed = v2 || decoded === undefined ? [] : decoded.map(placements)
    const later = decoded?.slice(1) ?? []
    decoded = undefined
    let changed = false
    // What Yjs itself checks before it emits 'update' (writeUpdateMessageFromTransaction), without
    // encoding that update: an 'update' listener made every apply here encode the transaction's
    // update once more, only to learn that there was one (50 typists: the shadow's apply cost 1.4×
    // the live doc's).
    const mark = (tr: Y.Transaction): void => {
      if (changed) return
      if (tr.deleteSet.clients.size > 0) { changed = true; return }
      for (const [client, clock] of tr.afterState) if (tr.beforeState.get(client) !== clock) { changed = true; return }
    }
    this.shadow.on('afterTransactionCleanup', mark)
    let conflict: Conflict | undefined
    let wrong: Placement | undefined
    try {
      updates.forEach((u, i) => {
        // Each update of a batch against the shadow as the ones before it left it: two versions
        // of one item inside one batch are caught as well.
        if (i > 0 && (conflict = conflictingItem(this.shadow, later.slice(i - 1, i))) !== undefined) throw new ConflictFound()
        v2 ? Y.applyUpdateV2(this.shadow, u) : Y.applyUpdate(this.shadow, u)
        if ((wrong = misplaced(this.shadow, placed[i] ?? [])) !== undefined) throw new ConflictFound()
      })
      // V2 lengths of deletions are at least 1 by their encoding; a struct's is not. One that
      // merged into its neighbour as it integrated left nothing behind to break an encoding.
      if (fresh && emptyStruct(this.shadow)) throw new EmptyFound()
    } catch (e) {
      this.shadow.off('afterTransactionCleanup', mark)
      this.reset()
      this.stats.refused++
      this.stats.rebuilds++
      if (conflict !== undefined) return err('apply/conflicting-item', conflictMessage(conflict))
      if (e instanceof EmptyFound) return err('apply/malformed-update', EMPTY_STRUCT)
      if (wrong !== undefined) return err('apply/malformed-update', `an item (clientID ${wrong.client}, clock ${wrong.clock}) lies right of its own right origin: no writer can place it there, and replicas would order it differently`)
      return err('apply/malformed-update', `update does not integrate: ${message(e)}`)
    } finally {
      this.shadow.off('afterTransactionCleanup', mark)
    }
    try {
      // One transaction per update, as the shadow took them and as a restart loads them from the
      // store (state.ts applyStored): what a transaction's end does (garbage-collecting deleted
      // content, merging structs) then happens at the same points everywhere. A malformed update
      // can integrate differently against content collected or not yet collected, so a batch in
      // one transaction here and one per update after a restart made the two differ
      // (test/client/mutation-fuzz.test.ts, check d).
      // Yjs retries pending structs only when an update is applied, never after a local edit; the
      // shadow takes local edits as updates (`mirror`), so it may have integrated a struct that
      // waited for one of this replica's own edits. The live doc retries first, as the shadow did,
      // on Yjs's own condition (a missing clock has come), so pending deletions are not read twice.
      const p = this.doc.store.pendingStructs
      if (p !== null && [...p.missing].some(([c, clock]) => clock < Y.getState(this.doc.store, c))) Y.applyUpdate(this.doc, EMPTY_UPDATE, origin)
      for (const u of updates) v2 ? Y.applyUpdateV2(this.doc, u, origin) : Y.applyUpdate(this.doc, u, origin)
    } catch (e) {
      // The shadow took it and the live doc did not: they had drifted (a bug). Resync the shadow.
      this.reset()
      this.stats.rebuilds++
      return err('apply/failed', `update failed on the live document: ${message(e)}`)
    }
    this.stats.applied++
    return ok({ changed })
  }

  /**
   * Applies `updates` to a throw-away copy of the live state and returns that copy (or an error):
   * for checks that must see the result without touching the live doc (snapshot verification).
   */
  trial (updates: readonly Uint8Array[], v2 = false): Result<Y.Doc, ShadowErrorCode> {
    const copy = this.rebuild()
    try {
      Y.transact(copy, () => {
        for (const u of updates) v2 ? Y.applyUpdateV2(copy, u) : Y.applyUpdate(copy, u)
      })
      return ok(copy)
    } catch (e) {
      return err('apply/malformed-update', `update does not integrate: ${message(e)}`)
    }
  }

  /** Rebuilds the shadow from the live doc (after the live doc was loaded behind its back). */
  resync (): void {
    this.shadow.destroy()
    this.reset()
  }

  /** Drops the shadow (the session closed). */
  destroy (): void {
    this.destroyed = true
    this.queued = []
    this.shadow.destroy()
  }

  private rebuild (): Y.Doc {
    // A fixed guid: a fresh Y.Doc otherwise draws a uuid from the system RNG (~60 µs).
    const d = new Y.Doc({ guid: 'shadow', gc: this.doc.gc })
    Y.applyUpdateV2(d, encodeState(this.doc))
    return d
  }
}

const message = (e: unknown): string => e instanceof Error ? e.message : String(e)

const EMPTY_STRUCT = 'update holds an empty struct or deletion'

/** No struct, integrated or pending, and no pending deletion. */
function isEmpty (doc: Y.Doc): boolean {
  const s = doc.store
  return s.clients.size === 0 && s.pendingStructs === null && s.pendingDs === null
}

/** Whether `doc` holds a struct of length 0, integrated or pending (pending ones are kept V2-encoded). */
function emptyStruct (doc: Y.Doc): boolean {
  for (const structs of doc.store.clients.values()) {
    for (const s of structs) if (!(s.length >= 1)) return true
  }
  const p = doc.store.pendingStructs
  return p !== null && Y.decodeUpdateV2(p.update).structs.some(s => !(s.length >= 1))
}

class ConflictFound extends Error {}
class EmptyFound extends Error {}

const conflictMessage = (c: Conflict): string => `it carries another version (${c.what}) of an item this replica already holds (clientID ${c.client}, clock ${c.clock}): its author wrote one item twice`
