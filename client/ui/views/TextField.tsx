import { createEffect, onCleanup } from 'solid-js'
import type * as Y from 'yjs'
import { bindTextField, type TextFieldElement } from '../text-binding.js'

/**
 * A plain input (or textarea) bound to a Y.Text with bindTextField: the one way the app shows an
 * editable text that is not a note. Its value is never rendered from the store (that would throw
 * the caret to the end on every remote change, issue 9); the binding writes it.
 *
 * `fallback` is shown while there is no Y.Text yet (a link URL stored as a plain string by an
 * older version); `onFocus` is where the caller converts it, before the first key.
 */
export interface TextFieldProps {
  readonly text: Y.Text | undefined
  readonly readOnly: boolean
  readonly multiline?: boolean
  readonly fallback?: string
  /**
   * The phone keyboard to offer. Always a text input underneath: an `<input type="url">` strips
   * leading and trailing spaces from its `value` (HTML value sanitization), so the field would no
   * longer report what the person typed, and the edit could not be read from it.
   */
  readonly inputMode?: 'text' | 'url'
  readonly rows?: number
  readonly class?: string
  readonly placeholder?: string
  readonly label?: string
  readonly testId?: string
  readonly onFocus?: () => void
}

export function TextField (props: TextFieldProps) {
  let el: TextFieldElement | undefined
  createEffect(() => {
    const text = props.text
    const readOnly = props.readOnly
    if (el === undefined) return
    if (text === undefined) {
      el.value = props.fallback ?? ''
      return
    }
    onCleanup(bindTextField(el, text, { readOnly }))
  })
  return props.multiline === true
    ? <textarea
        ref={e => { el = e }}
        rows={props.rows}
        class={props.class}
        placeholder={props.placeholder}
        aria-label={props.label}
        data-testid={props.testId}
        readOnly={props.readOnly}
        onFocus={() => props.onFocus?.()}
      />
    : <input
        ref={e => { el = e }}
        type="text"
        inputMode={props.inputMode}
        spellcheck={props.inputMode === 'url' ? false : undefined}
        autocapitalize={props.inputMode === 'url' ? 'off' : undefined}
        class={props.class}
        placeholder={props.placeholder}
        aria-label={props.label}
        data-testid={props.testId}
        readOnly={props.readOnly}
        onFocus={() => props.onFocus?.()}
      />
}
