import { EditorSelection, EditorState } from '@codemirror/state'
import { EditorView } from '@codemirror/view'
import { afterEach, describe, expect, it } from 'vitest'
import { yCollab } from 'y-codemirror.next'
import * as Y from 'yjs'
import { toggleBold, toggleItalic } from '../../client/ui/editor/markdown-commands.js'
import { safeHref } from '../../client/ui/editor/markdown-preview.js'
import { toggleTask } from '../../client/ui/editor/markdown-widgets.js'
import { richNote } from '../../client/ui/editor/rich-note.js'

/**
 * The rich-note editor (issue 9) in happy-dom, bound to a Y.Text as in the app: the preview draws
 * the Markdown, and its controls (checkbox, bold, italic) edit the note's text itself.
 */
const views: EditorView[] = []
afterEach(() => { for (const v of views.splice(0)) v.destroy(); document.body.innerHTML = '' })

function open (md: string, readOnly = false): { text: Y.Text; view: EditorView } {
  const doc = new Y.Doc()
  const text = doc.getText('note')
  text.insert(0, md)
  const view = new EditorView({
    parent: document.body,
    state: EditorState.create({ doc: text.toString(), extensions: [yCollab(text, null), richNote({ text }), EditorState.readOnly.of(readOnly)] })
  })
  views.push(view)
  return { text, view }
}

describe('rich note editor', () => {
  it('draws headings, emphasis, code, tasks and links; only safe links open', () => {
    const { view } = open('# Title\n**bold** and *it* `code`\n- [ ] task\n- [x] done\n[ok](https://e.org/x) [bad](javascript:alert(1))')
    const q = (s: string): Element[] => Array.from(view.contentDOM.querySelectorAll(s))
    expect(q('.cm-md-h1').map(e => e.textContent)).toEqual(['Title'])
    expect(q('.cm-md-strong').map(e => e.textContent)).toEqual(['bold'])
    expect(q('.cm-md-em').map(e => e.textContent)).toEqual(['it'])
    expect(q('.cm-md-code').map(e => e.textContent)).toEqual(['code'])
    expect(q('input.cm-md-task').map(e => (e as HTMLInputElement).checked)).toEqual([false, true])
    expect(q('[data-href]').map(e => e.getAttribute('data-href'))).toEqual(['https://e.org/x'])
    expect(safeHref('javascript:alert(1)')).toBeUndefined()
    expect(safeHref('mailto:a@b.c')).toBe('mailto:a@b.c')
  })

  it('square brackets with no URL are shown as typed (LaTeX, a reference), not hidden as a link', () => {
    const { view } = open('intro\n\\documentclass[10pt,journal]{IEEEtran} and [see this]')
    const line = Array.from(view.contentDOM.querySelectorAll('.cm-line'))[1]!
    expect(line.textContent).toBe('\\documentclass[10pt,journal]{IEEEtran} and [see this]')
  })

  it('ticking a task edits the [ ] in the Y.Text, and back', () => {
    const { text, view } = open('- [ ] tent\n- [x] stove')
    const box = view.contentDOM.querySelector('input.cm-md-task') as HTMLInputElement
    box.click()
    expect(text.toString()).toBe('- [x] tent\n- [x] stove')
    expect(toggleTask(view, text.toString().indexOf('[x] stove'))).toBe(true)
    expect(text.toString()).toBe('- [x] tent\n- [ ] stove')
    expect(toggleTask(view, 0)).toBe(false)
  })

  it('a view-only reader cannot tick', () => {
    const { text, view } = open('- [ ] tent', true)
    const box = view.contentDOM.querySelector('input.cm-md-task') as HTMLInputElement
    expect(box.disabled).toBe(true)
    expect(toggleTask(view, 2)).toBe(false)
    expect(text.toString()).toBe('- [ ] tent')
  })

  it('bold and italic wrap the selection, and unwrap it when pressed again', () => {
    const { text, view } = open('pack the tent')
    view.dispatch({ selection: EditorSelection.range(5, 8) })
    toggleBold(view)
    expect(text.toString()).toBe('pack **the** tent')
    toggleBold(view)
    expect(text.toString()).toBe('pack the tent')
    view.dispatch({ selection: EditorSelection.range(9, 13) })
    toggleItalic(view)
    expect(text.toString()).toBe('pack the *tent*')
    // Empty selection: an empty pair to type in, and pressed again, out of it.
    view.dispatch({ selection: EditorSelection.cursor(0) })
    toggleBold(view)
    view.dispatch(view.state.replaceSelection('x'))
    toggleBold(view)
    view.dispatch(view.state.replaceSelection(' '))
    expect(text.toString()).toBe('**x** pack the *tent*')
  })
})
