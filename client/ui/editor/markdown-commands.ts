import { EditorSelection, type Extension } from '@codemirror/state'
import { EditorView, keymap, type Command } from '@codemirror/view'

/**
 * Editing help for Markdown notes: Ctrl/⌘+B and Ctrl/⌘+I (and the toolbar's B and I) wrap the
 * selection in `**` / `*`, or unwrap it when it is wrapped already; Ctrl/⌘+click on a link opens
 * it in a new tab (a plain click only places the cursor, so a link stays editable).
 */
export function toggleWrap (marker: string): Command {
  return view => {
    if (view.state.readOnly) return false
    const { state } = view
    const n = marker.length
    view.dispatch(state.changeByRange(r => {
      const before = state.sliceDoc(r.from - n, r.from)
      const after = state.sliceDoc(r.to, r.to + n)
      // `*x*` inside `**x**` is bold, not italic: only unwrap an exact marker, not part of a longer run.
      const exact = before === marker && after === marker && state.sliceDoc(r.from - n - 1, r.from - n) !== marker[0] && state.sliceDoc(r.to + n, r.to + n + 1) !== marker[0]
      // Pressed again after typing inside an empty pair: step out of the closing marker.
      if (r.empty && after === marker && state.sliceDoc(r.to + n, r.to + n + 1) !== marker[0]) return { range: EditorSelection.cursor(r.to + n) }
      if (exact) {
        return { changes: [{ from: r.from - n, to: r.from }, { from: r.to, to: r.to + n }], range: EditorSelection.range(r.from - n, r.to - n) }
      }
      return { changes: [{ from: r.from, insert: marker }, { from: r.to, insert: marker }], range: EditorSelection.range(r.from + n, r.to + n) }
    }), { userEvent: 'input.format' })
    return true
  }
}

export const toggleBold = toggleWrap('**')
export const toggleItalic = toggleWrap('*')

/** Opens `href` (already checked safe by the preview) in a new tab that cannot reach this one. */
function openLink (href: string): void {
  window.open(href, '_blank', 'noopener,noreferrer')
}

export const markdownCommands: Extension = [
  keymap.of([
    { key: 'Mod-b', run: toggleBold },
    { key: 'Mod-i', run: toggleItalic }
  ]),
  EditorView.domEventHandlers({
    click (e) {
      if (!(e.ctrlKey || e.metaKey) || !(e.target instanceof Element)) return false
      const href = e.target.closest('[data-href]')?.getAttribute('data-href')
      if (href === null || href === undefined) return false
      e.preventDefault()
      openLink(href)
      return true
    }
  })
]
