/**
 * The item whose editor takes the focus when it mounts: the one this person just added, so that
 * "+ Note" then typing writes into the note (issue 9.7). Only an item added here is ever focused:
 * a note another member adds must never take the keyboard from someone typing elsewhere.
 */
let pending: string | undefined

/** Asks the editor of `itemId`, about to be rendered, to take the focus. */
export function focusWhenMounted (itemId: string): void {
  pending = itemId
}

/** True once, for the item asked for; the editor then focuses itself. */
export function takeFocusRequest (itemId: string): boolean {
  if (pending !== itemId) return false
  pending = undefined
  return true
}
