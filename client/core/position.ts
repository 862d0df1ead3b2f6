import * as Y from 'yjs'

/**
 * Items placed where no honest writer can place them (DESIGN.md §12, issue 7).
 *
 * Yjs merges concurrent inserts to one order on every replica (YATA) as long as each item lies
 * between its origin (left neighbour when it was made) and its right origin: every item is left of
 * its right origin, in the same list. A signed but malformed update can name a right origin that
 * is left of the origin, the origin itself, in another list or another map key; Yjs integrates
 * such an item without complaint, but where it lands then depends on which other items were
 * there first and how the structs were split, so replicas that received the same updates in
 * another order, or loaded them from a snapshot, hold different text ("96a文f " here, "9文6af "
 * there), and every honest snapshot looks forged to someone. So after an update integrates on the
 * shadow, each of its items must find its origin by walking left and its right origin by walking
 * right from itself.
 *
 * Unchecked: whole states (a join snapshot: an item that waited as pending at its maker was never
 * checked there, so its maker is not to blame), items still pending (they integrate later, with
 * someone else's update), items Yjs
 * turned into garbage at once (a neighbour was collected), and a walk longer than `MAX_WALK`
 * structs (that many items inserted concurrently at one place; accepted rather than refusing
 * honest content).
 */
export interface Placement {
  readonly client: number
  readonly clock: number
  /** The origin (left neighbour when made), if any. */
  readonly left?: { readonly client: number; readonly clock: number }
  /** The right origin, if any. */
  readonly right?: { readonly client: number; readonly clock: number }
}

export const MAX_WALK = 10_000

type Decoded = ReturnType<typeof Y.decodeUpdate>

/** The items of a decoded update with an origin or a right origin: small, so the decoded structs can go. */
export function placements (decoded: Decoded): Placement[] {
  const out: Placement[] = []
  for (const s of decoded.structs) {
    if (!(s instanceof Y.Item) || (s.origin === null && s.rightOrigin === null)) continue
    out.push({
      client: s.id.client,
      clock: s.id.clock,
      ...(s.origin === null ? {} : { left: { client: s.origin.client, clock: s.origin.clock } }),
      ...(s.rightOrigin === null ? {} : { right: { client: s.rightOrigin.client, clock: s.rightOrigin.clock } })
    })
  }
  return out
}

const holds = (s: Y.Item, id: { readonly client: number; readonly clock: number }): boolean =>
  s.id.client === id.client && s.id.clock <= id.clock && id.clock < s.id.clock + s.length

/**
 * The first placement that `doc` (where they were just integrated) does not hold between its
 * origin and its right origin, in one list.
 */
export function misplaced (doc: Y.Doc, placed: readonly Placement[]): Placement | undefined {
  const store = doc.store
  const integrated = (id: { readonly client: number; readonly clock: number }): boolean => id.clock < Y.getState(store, id.client)
  for (const p of placed) {
    if (!integrated(p) || (p.left !== undefined && !integrated(p.left)) || (p.right !== undefined && !integrated(p.right))) continue
    const item = Y.getItem(store, Y.createID(p.client, p.clock))
    if (!(item instanceof Y.Item)) continue
    // Merged with what precedes it (the writer's own run): its origin may lie in the same struct.
    if (p.left !== undefined && !(holds(item, p.left) && p.left.clock < p.clock) && !walk(item, p.left, x => x.left)) return p
    if (p.right !== undefined && !walk(item, p.right, x => x.right)) return p
  }
  return undefined
}

/** Whether `id` lies in a struct reached from `from` (exclusive) in one direction, within `MAX_WALK` (beyond: not refused). */
function walk (from: Y.Item, id: { readonly client: number; readonly clock: number }, next: (x: Y.Item) => Y.Item | null): boolean {
  let steps = 0
  for (let x = next(from); x !== null; x = next(x)) {
    if (holds(x, id)) return true
    if (++steps > MAX_WALK) return true
  }
  return false
}
