import * as Y from 'yjs'
import { diff, mapThrough, type Delta } from './text-delta.js'

/**
 * Binds a plain `<input>` or `<textarea>` to a Y.Text so that it merges like a note (issue 9,
 * item 1). The old binding re-rendered `value` from the store and wrote a whole-value diff
 * against the doc; a remote change then threw the caret to the end, and the next keystroke was
 * diffed against text the field had never shown, which interleaved two people's words.
 *
 * Here:
 * - a local input event is read as one edit against the value the field had right before it
 *   (`shown`, which this binding alone changes), and applied in one transaction tagged with this
 *   binding's origin;
 * - a remote change is written into the element itself (never re-rendered) and the caret and
 *   selection are carried through it as Y.RelativePositions taken just before its transaction;
 * - during IME composition nothing is written either way (setting `value` would cancel the
 *   composition); remote changes that arrive meanwhile are remembered as deltas, and at
 *   compositionend the composed edit is carried over them and applied.
 */
export interface TextFieldOptions {
  /** A view-only member: remote changes show, nothing is ever written. */
  readonly readOnly?: boolean
  /** Origin of this field's transactions (STYLE.md §Yjs); defaults to one of its own. */
  readonly origin?: unknown
}

export type TextFieldElement = HTMLInputElement | HTMLTextAreaElement

interface SavedSelection { readonly start: Y.RelativePosition; readonly end: Y.RelativePosition; readonly direction: 'forward' | 'backward' | 'none' }

/** Binds `el` to `text` (which must be in a doc); returns the unbind function. */
export function bindTextField (el: TextFieldElement, text: Y.Text, opts: TextFieldOptions = {}): () => void {
  const doc = text.doc
  if (doc === null) throw new Error('bindTextField: the Y.Text must belong to a Y.Doc')
  const origin = opts.origin ?? { textField: el }
  /** What the field showed after the last event this binding handled: the base of the next local edit. */
  let shown = text.toString()
  let composing = false
  /** Remote deltas the field has not shown yet (they arrived during a composition). */
  let missed: Delta[] = []
  let saved: SavedSelection | undefined

  const hasFocus = (): boolean => (el.getRootNode() as Document | ShadowRoot).activeElement === el
  const setCaret = (start: number, end: number, direction: SavedSelection['direction'] = 'none'): void => {
    if (hasFocus()) el.setSelectionRange(start, end, direction)
  }
  const show = (value: string): void => {
    if (el.value !== value) el.value = value
    shown = value
  }
  show(shown)

  const beforeTransaction = (tr: Y.Transaction): void => {
    saved = undefined
    if (tr.origin === origin || composing || !hasFocus()) return
    const len = text.length
    const start = Math.min(el.selectionStart ?? len, len)
    const end = Math.min(el.selectionEnd ?? len, len)
    // A caret keeps to the character on its left, as CodeMirror's does: when someone types right
    // where I am, their text goes after my caret, and my next keys stay in one run with my last.
    // A selection's edges keep to its inside, so text added right at either edge stays outside.
    const caret = Y.createRelativePositionFromTypeIndex(text, end, -1)
    saved = {
      start: start === end ? caret : Y.createRelativePositionFromTypeIndex(text, start, 0),
      end: caret,
      direction: el.selectionDirection ?? 'none'
    }
  }

  const observe = (ev: Y.YTextEvent, tr: Y.Transaction): void => {
    if (tr.origin === origin) return
    if (composing) {
      missed.push(ev.delta as Delta)
      return
    }
    const sel = saved
    show(text.toString())
    if (sel === undefined) return
    const start = Y.createAbsolutePositionFromRelativePosition(sel.start, doc)
    const end = Y.createAbsolutePositionFromRelativePosition(sel.end, doc)
    if (start !== null && end !== null) setCaret(start.index, Math.max(start.index, end.index), sel.direction)
  }

  /** Takes what the person did since `shown` into the Y.Text. */
  const commit = (): void => {
    const value = el.value
    const change = diff(shown, value, el.selectionEnd ?? undefined)
    const late = missed
    missed = []
    if (change === undefined && late.length === 0) return
    if (opts.readOnly === true) {
      show(text.toString())
      return
    }
    let caret = el.selectionEnd ?? value.length
    if (change !== undefined) {
      const at = mapThrough(late, change.index, 1)
      const to = Math.max(at, mapThrough(late, change.index + change.remove, -1))
      doc.transact(() => {
        if (to > at) text.delete(at, to - at)
        if (change.insert !== '') text.insert(at, change.insert)
      }, origin)
      if (late.length > 0) caret = at + change.insert.length
    } else {
      caret = mapThrough(late, caret, 1)
    }
    const now = text.toString()
    if (now !== value) {
      show(now)
      setCaret(caret, caret)
    } else {
      shown = now
    }
  }

  const onInput = (e: Event): void => {
    if (composing || (e as InputEvent).isComposing === true) return
    commit()
  }
  const onCompositionStart = (): void => { composing = true }
  const onCompositionEnd = (): void => {
    composing = false
    commit()
  }

  doc.on('beforeTransaction', beforeTransaction)
  text.observe(observe)
  el.addEventListener('input', onInput)
  el.addEventListener('compositionstart', onCompositionStart)
  el.addEventListener('compositionend', onCompositionEnd)
  return () => {
    doc.off('beforeTransaction', beforeTransaction)
    text.unobserve(observe)
    el.removeEventListener('input', onInput)
    el.removeEventListener('compositionstart', onCompositionStart)
    el.removeEventListener('compositionend', onCompositionEnd)
  }
}
