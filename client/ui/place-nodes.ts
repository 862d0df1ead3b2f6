/**
 * Puts `nodes` into `parent` in that order, moving as few as it can and never the one that holds
 * the focus (issue 9, item 2).
 *
 * Moving an element in the DOM (insertBefore of a node already attached) detaches it for a moment,
 * and the browser then takes the focus away from anything inside it: the card someone is typing
 * in, moved by another member, would swallow every later keystroke. Solid's `<For>` moves nodes
 * freely when an array is reordered, so the item and entry lists use this instead
 * (views/StableFor.tsx). Any order can be reached while one node stays put: the others are moved
 * around it. Which others stay put is the longest run already in order (so one moved item costs
 * one DOM move, not a shift of every node after it).
 *
 * `parent` belongs to the caller alone: any child not in `nodes` is removed.
 */
export function placeNodes (parent: Node, nodes: readonly Node[]): void {
  const wanted = new Set(nodes)
  for (const child of Array.from(parent.childNodes)) if (!wanted.has(child)) parent.removeChild(child)

  const current = new Map<Node, number>()
  Array.from(parent.childNodes).forEach((n, i) => current.set(n, i))
  const focusAt = focusedIndex(parent, nodes)
  const pinned = focusAt < 0 ? undefined : current.get(nodes[focusAt]!)
  // Candidates to stay: attached nodes, and with a focused one, only those already on its correct
  // side (otherwise keeping them would force the focused node to move).
  const idx: number[] = []
  const pos: number[] = []
  nodes.forEach((n, i) => {
    const p = current.get(n)
    if (p === undefined) return
    if (pinned !== undefined && i !== focusAt && (i < focusAt ? p > pinned : p < pinned)) return
    idx.push(i)
    pos.push(p)
  })
  const stay = new Set<number>(longestIncreasing(pos).map(k => idx[k] as number))
  if (pinned !== undefined) stay.add(focusAt)

  // From the end: each node that moves goes right before its successor, already in place.
  let next: Node | null = null
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i] as Node
    if (!stay.has(i) && (n.parentNode !== parent || n.nextSibling !== next)) parent.insertBefore(n, next)
    next = n
  }
}

/** Index in `nodes` of the one holding the focus (through shadow roots), or -1. */
function focusedIndex (parent: Node, nodes: readonly Node[]): number {
  const doc = parent.ownerDocument
  if (doc === null) return -1
  const active = doc.activeElement
  if (active === null || active === doc.body || !parent.contains(active)) return -1
  return nodes.findIndex(n => n.contains(active))
}

/** Indices (into `xs`) of one longest strictly increasing subsequence; O(n log n). */
export function longestIncreasing (xs: readonly number[]): number[] {
  const tails: number[] = [] // tails[k]: index of the smallest last value of a run of length k+1
  const prev: number[] = new Array<number>(xs.length).fill(-1)
  xs.forEach((x, i) => {
    let lo = 0
    let hi = tails.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((xs[tails[mid] as number] as number) < x) lo = mid + 1
      else hi = mid
    }
    if (lo > 0) prev[i] = tails[lo - 1] as number
    tails[lo] = i
  })
  const out: number[] = []
  for (let i = tails.length === 0 ? -1 : tails[tails.length - 1] as number; i >= 0; i = prev[i] as number) out.push(i)
  return out.reverse()
}
