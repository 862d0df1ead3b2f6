/**
 * Pure helpers of the plain-field binding (text-binding.ts): what one input event changed, and
 * where an index goes through a change someone else made. No DOM, no Yjs state: tested alone.
 */

/** One contiguous edit: remove `remove` characters at `index`, then insert `insert` there. */
export interface Change { readonly index: number; readonly remove: number; readonly insert: string }

/** A Y.Text event delta, as `YTextEvent.delta` gives it (attributes are not used by plain fields). */
export type Delta = ReadonlyArray<{ readonly insert?: unknown; readonly delete?: number; readonly retain?: number }>

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff

/**
 * The edit that turns `old` (the field's value right before this input event) into `next` (its
 * value now). The caret after the event (`caret`, selectionEnd) says where the edit ended: the
 * common suffix never reaches left of it. Without it, typing "a" into "a|a" would be read as an
 * insert at the end, and a concurrent edit between the two would land on the wrong side.
 *
 * Never splits a surrogate pair: Yjs encodes strings as UTF-8, where half a pair becomes U+FFFD.
 */
export function diff (old: string, next: string, caret?: number): Change | undefined {
  if (old === next) return undefined
  const max = Math.min(old.length, next.length)
  const suffixLimit = caret === undefined || caret < 0 || caret > next.length ? max : Math.min(max, next.length - caret)
  let b = 0
  while (b < suffixLimit && old.charCodeAt(old.length - 1 - b) === next.charCodeAt(next.length - 1 - b)) b++
  let a = 0
  while (a < max - b && old.charCodeAt(a) === next.charCodeAt(a)) a++
  if (a > 0 && isHigh(old.charCodeAt(a - 1))) a--
  if (b > 0 && isLow(old.charCodeAt(old.length - b))) b--
  return { index: a, remove: old.length - a - b, insert: next.slice(a, next.length - b) }
}

const insertLength = (x: unknown): number => typeof x === 'string' ? x.length : 1

/**
 * Where `index` (in the text before `delta`) is after it. `assoc` decides an insert exactly at
 * `index`: 1 puts the index after the inserted text, -1 before it. Used to carry an edit made
 * during IME composition (when the field cannot be updated) over the remote changes that
 * arrived meanwhile.
 */
export function mapIndex (delta: Delta, index: number, assoc: 1 | -1): number {
  let oldPos = 0
  let newPos = 0
  for (const op of delta) {
    if (op.retain !== undefined) {
      if (oldPos + op.retain > index) return newPos + index - oldPos
      oldPos += op.retain
      newPos += op.retain
    } else if (op.insert !== undefined) {
      if (oldPos === index && assoc < 0) return newPos
      newPos += insertLength(op.insert)
    } else if (op.delete !== undefined) {
      if (oldPos + op.delete > index) return newPos
      oldPos += op.delete
    }
  }
  return newPos + index - oldPos
}

/** `index` carried through several deltas, oldest first. */
export function mapThrough (deltas: readonly Delta[], index: number, assoc: 1 | -1): number {
  return deltas.reduce((i, d) => mapIndex(d, i, assoc), index)
}
