import { StateEffect, type Extension, type Range } from '@codemirror/state'
import { Decoration, EditorView, ViewPlugin, WidgetType, type DecorationSet, type ViewUpdate } from '@codemirror/view'
import * as Y from 'yjs'
import type { LabelledPeer } from '../peer-labels.js'

/**
 * Other people's cursors and selections in a note, from the sealed presence states.
 *
 * y-codemirror.next ships a remote-selection plugin, but it colours each person with an inline
 * `style` attribute, which the app's Content-Security-Policy (`style-src 'self'`, no
 * 'unsafe-inline') forbids. Colours here are palette classes (`cove-c0` … `cove-c7`) from the
 * app's stylesheet, and names are text nodes, so a peer's name can never become markup.
 *
 * A caret is labelled as in the presence bar (client/ui/peer-labels.ts): with the device tag when
 * two devices claim look-alike names, and its tooltip names the device.
 */
export const refreshCursors = StateEffect.define<null>()

/**
 * A caret's name label sits above its line, except on a note's first line, where above is outside
 * the editor and was cut off by its scroller: there it goes below (issue 9.7, editor/theme.ts).
 */
class Caret extends WidgetType {
  constructor (readonly name: string, readonly color: number, readonly title: string, readonly below: boolean) { super() }
  override eq (o: Caret): boolean { return o.name === this.name && o.color === this.color && o.title === this.title && o.below === this.below }
  toDOM (): HTMLElement {
    const caret = document.createElement('span')
    caret.className = `cm-remote-caret cove-c${this.color}${this.below ? ' cm-remote-below' : ''}`
    caret.title = this.title
    const label = document.createElement('span')
    label.className = 'cm-remote-name'
    label.textContent = this.name
    caret.append('\u2060', label, '\u2060')
    return caret
  }
  override ignoreEvent (): boolean { return true }
}

export function remoteCursors (ytext: Y.Text, itemId: string, peers: () => readonly LabelledPeer[]): Extension {
  const build = (view: EditorView): DecorationSet => {
    const doc = ytext.doc
    if (doc === null) return Decoration.none
    const out: Range<Decoration>[] = []
    const len = view.state.doc.length
    for (const p of peers()) {
      const c = p.state.cursor
      if (c === null || c.item !== itemId) continue
      let a: Y.AbsolutePosition | null = null
      let h: Y.AbsolutePosition | null = null
      try {
        a = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(c.anchor), doc)
        h = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(c.head), doc)
      } catch {
        continue
      }
      if (a === null || h === null || a.type !== ytext || h.type !== ytext) continue
      const from = Math.min(a.index, h.index, len)
      const to = Math.min(Math.max(a.index, h.index), len)
      if (to > from) out.push(Decoration.mark({ class: `cm-remote-sel cove-c${p.state.color}` }).range(from, to))
      const at = Math.min(h.index, len)
      const below = view.state.doc.lineAt(at).number === 1
      out.push(Decoration.widget({ widget: new Caret(p.label.text, p.state.color, p.label.title, below), side: h.index > a.index ? -1 : 1 }).range(at))
    }
    return Decoration.set(out, true)
  }
  return ViewPlugin.fromClass(class {
    decorations: DecorationSet
    constructor (view: EditorView) { this.decorations = build(view) }
    update (u: ViewUpdate): void {
      if (u.docChanged || u.transactions.some(t => t.effects.some(e => e.is(refreshCursors)))) this.decorations = build(u.view)
    }
  }, { decorations: v => v.decorations })
}
