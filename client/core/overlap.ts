import * as Y from 'yjs'

/**
 * Two versions of one Yjs struct (DESIGN.md §12). A Yjs item is named by (clientID, clock) and a
 * doc that already holds a clock skips whatever arrives for it again. Honest re-deliveries (a
 * resend re-sealed in a new stream, an envelope applied below a snapshot's claim) carry the same
 * item, so skipping is right; but a member who seals two different items under one id (in two of
 * its streams) splits the space: each replica keeps whichever version reached it first, and no
 * later exchange can reconcile them. So before an update is applied, every item of it that this
 * doc already holds is compared with the doc's: same position (origin, right origin, parent) and,
 * unless one side was deleted since, same content. A difference refuses the update, with its
 * author named, instead of keeping a silent fork.
 *
 * What stays unchecked: clocks the doc holds only as garbage-collected ranges (nothing left to
 * compare) and content deleted on either side (its position is still compared).
 */
export interface Conflict {
  readonly client: number
  readonly clock: number
  readonly what: string
}

type Decoded = ReturnType<typeof Y.decodeUpdate>

/**
 * The first item of `decoded` that `doc` holds in another version, if any: integrated, or still
 * pending (a version waiting for a dependency would otherwise swallow the other one when Yjs merges
 * it with the pending structs).
 */
export function conflictingItem (doc: Y.Doc, decoded: readonly Decoded[]): Conflict | undefined {
  let pending: Map<number, Y.Item[]> | undefined
  for (const d of decoded) {
    for (const s of d.structs) {
      if (!(s instanceof Y.Item)) continue
      const c = s.id.client
      const state = Y.getState(doc.store, c)
      const have = doc.store.clients.get(c)
      if (s.id.clock < state && have !== undefined) {
        const found = against(s, have, s.id.clock, Math.min(s.id.clock + s.length, state))
        if (found !== undefined) return found
      }
      if (doc.store.pendingStructs !== null && s.id.clock + s.length > state) {
        pending ??= pendingItems(doc.store.pendingStructs.update)
        const theirs = pending.get(c)
        if (theirs !== undefined) {
          const found = against(s, theirs, Math.max(s.id.clock, state), s.id.clock + s.length)
          if (found !== undefined) return found
        }
      }
    }
  }
  return undefined
}

/** Compares `s` over clocks [from, to) with the items of `have` (sorted by clock) that cover them. */
function against (s: Y.Item, have: readonly (Y.Item | Y.GC | Y.Skip)[], from: number, to: number): Conflict | undefined {
  let x = from
  while (x < to) {
    const i = findIndex(have, x)
    const mine = i < 0 ? undefined : have[i]
    if (mine === undefined) {
      // Not covered here: move to the next item that starts after x, if any.
      const next = have.find(h => h.id.clock > x)
      if (next === undefined) return undefined
      x = next.id.clock
      continue
    }
    const upTo = Math.min(to, mine.id.clock + mine.length)
    if (mine instanceof Y.Item) {
      const what = differs(s, mine, x, upTo)
      if (what !== undefined) return { client: s.id.client, clock: x, what }
    }
    x = upTo
  }
  return undefined
}

/** Index of the struct covering `clock` in a clock-sorted list (-1 when none does). */
function findIndex (list: readonly (Y.Item | Y.GC | Y.Skip)[], clock: number): number {
  let lo = 0
  let hi = list.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const m = list[mid]!
    if (clock < m.id.clock) hi = mid - 1
    else if (clock >= m.id.clock + m.length) lo = mid + 1
    else return mid
  }
  return -1
}

function pendingItems (update: Uint8Array): Map<number, Y.Item[]> {
  const out = new Map<number, Y.Item[]>()
  try {
    for (const s of Y.decodeUpdateV2(update).structs) {
      if (!(s instanceof Y.Item)) continue
      let l = out.get(s.id.client)
      if (l === undefined) out.set(s.id.client, l = [])
      l.push(s)
    }
  } catch {}
  for (const l of out.values()) l.sort((a, b) => a.id.clock - b.id.clock)
  return out
}

const sameId = (a: Y.ID | null, b: Y.ID | null): boolean => a === null || b === null ? a === b : a.client === b.client && a.clock === b.clock

/** Origin of clock `x` of `item`: an item split or merged keeps its clocks' origins. */
const originAt = (item: Y.Item, x: number): Y.ID | null => x === item.id.clock ? item.origin : Y.createID(item.id.client, x - 1)

function differs (s: Y.Item, mine: Y.Item, from: number, to: number): string | undefined {
  if (!sameId(originAt(s, from), originAt(mine, from))) return 'origin'
  if (!sameId(s.rightOrigin, mine.rightOrigin)) return 'right origin'
  // The parent is written only for an item with neither origin (otherwise it is inferred from
  // them), so it is compared only where both sides carry it (a pending item is still encoded).
  const p = mine.parent
  if (s.parent !== null && !(s.parent instanceof Y.AbstractType) && p !== null) {
    const same = p instanceof Y.AbstractType
      ? (typeof s.parent === 'string' ? p._item === null && Y.findRootTypeKey(p) === s.parent : p._item !== null && sameId(p._item.id, s.parent as Y.ID))
      : (typeof s.parent === 'string' || typeof p === 'string' ? s.parent === p : sameId(s.parent as Y.ID, p as Y.ID))
    if (!same) return 'parent'
    if ((s.parentSub ?? null) !== (mine.parentSub ?? null)) return 'key'
  }
  const a = s.content
  const b = mine.content
  if (a instanceof Y.ContentDeleted || b instanceof Y.ContentDeleted || mine.deleted) return undefined
  if (a.constructor !== b.constructor) return 'content type'
  const sa = from - s.id.clock
  const sb = from - mine.id.clock
  const n = to - from
  if (a instanceof Y.ContentString && b instanceof Y.ContentString) return plain(a.str.slice(sa, sa + n)) === plain(b.str.slice(sb, sb + n)) ? undefined : 'text'
  if ((a instanceof Y.ContentAny && b instanceof Y.ContentAny) || (a instanceof Y.ContentJSON && b instanceof Y.ContentJSON)) {
    return JSON.stringify(a.arr.slice(sa, sa + n)) === JSON.stringify(b.arr.slice(sb, sb + n)) ? undefined : 'value'
  }
  if (a instanceof Y.ContentFormat && b instanceof Y.ContentFormat) return a.key === b.key && JSON.stringify(a.value) === JSON.stringify(b.value) ? undefined : 'format'
  if (a instanceof Y.ContentType && b instanceof Y.ContentType) return a.type.constructor === b.type.constructor ? undefined : 'type'
  if (a instanceof Y.ContentBinary && b instanceof Y.ContentBinary) return sameBytes(a.content, b.content) ? undefined : 'binary'
  if (a instanceof Y.ContentEmbed && b instanceof Y.ContentEmbed) return JSON.stringify(a.embed) === JSON.stringify(b.embed) ? undefined : 'embed'
  if (a instanceof Y.ContentDoc && b instanceof Y.ContentDoc) return a.doc?.guid === b.doc?.guid ? undefined : 'subdocument'
  return undefined
}

/** Yjs replaces half a surrogate pair with U+FFFD where it splits a string: not a different version. */
const plain = (s: string): string => s.replace(/[\uD800-\uDFFF\uFFFD]/g, '?')

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

