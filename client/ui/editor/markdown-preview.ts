import { syntaxTree } from '@codemirror/language'
import type { EditorState, Extension, Range } from '@codemirror/state'
import { Decoration, EditorView, ViewPlugin, type DecorationSet, type ViewUpdate } from '@codemirror/view'
import type { SyntaxNodeRef } from '@lezer/common'
import { fileRef } from '../../core/markdown.js'
import { CheckboxWidget, ImageWidget } from './markdown-widgets.js'

/**
 * Live preview of a note's Markdown (issue 9, rich notes): the text stays exactly what was typed
 * (so merging, remote cursors and undo of y-codemirror.next are untouched), and decorations draw
 * it: headings larger, emphasis and code styled, quotes and code blocks set apart, tasks as
 * checkboxes, `cove-file:` images inline. Markup characters are hidden except on the lines the
 * cursor is on, where they are shown dimmed so they can be edited.
 *
 * Decorations come from the same syntax tree the language support keeps up to date, for the
 * visible ranges only, so a long note costs what is on screen.
 */
const mark = (cls: string, attrs?: Record<string, string>): Decoration => Decoration.mark({ class: cls, ...(attrs === undefined ? {} : { attributes: attrs }) })
const line = (cls: string): Decoration => Decoration.line({ class: cls })
const dim = mark('cm-md-mark')
const hide = Decoration.replace({})

/** Only these open from a link: never `javascript:` or `data:`. */
export function safeHref (url: string): string | undefined {
  const u = url.trim().replace(/^<|>$/g, '')
  return /^(https?:\/\/|mailto:)/i.test(u) ? u : undefined
}

/** Line numbers the selection touches while the editor has focus: there markup shows. */
function activeLines (state: EditorState, focused: boolean): Set<number> {
  const out = new Set<number>()
  if (!focused) return out
  for (const r of state.selection.ranges) {
    for (let l = state.doc.lineAt(r.from).number; l <= state.doc.lineAt(r.to).number; l++) out.add(l)
  }
  return out
}

interface Built { readonly all: DecorationSet; readonly atomic: DecorationSet }

function build (view: EditorView): Built {
  const { state } = view
  const active = activeLines(state, view.hasFocus)
  const onActive = (pos: number): boolean => active.has(state.doc.lineAt(pos).number)
  const out: Range<Decoration>[] = []
  const eachLine = (from: number, to: number, deco: Decoration): void => {
    for (let l = state.doc.lineAt(from).number; l <= state.doc.lineAt(to).number; l++) out.push(deco.range(state.doc.line(l).from))
  }
  /** Markup: dimmed where the cursor is, hidden elsewhere (with the space after a heading's #). */
  const markup = (from: number, to: number, trailingSpace = false): void => {
    if (onActive(from)) {
      if (to > from) out.push(dim.range(from, to))
      return
    }
    const end = trailingSpace && state.sliceDoc(to, to + 1) === ' ' ? to + 1 : to
    if (end > from) out.push(hide.range(from, end))
  }
  const text = (n: SyntaxNodeRef): string => state.sliceDoc(n.from, n.to)

  const enter = (n: SyntaxNodeRef): boolean | undefined => {
    const heading = /^(ATX|Setext)Heading([1-6])$/.exec(n.name)
    if (heading !== null) {
      eachLine(n.from, n.to, line(`cm-md-h cm-md-h${heading[2] ?? '1'}`))
      return
    }
    switch (n.name) {
      case 'HeaderMark':
        if (n.node.parent?.name.startsWith('ATX') === true) markup(n.from, n.to, true)
        else out.push(dim.range(n.from, n.to))
        return
      case 'StrongEmphasis': out.push(mark('cm-md-strong').range(n.from, n.to)); return
      case 'Emphasis': out.push(mark('cm-md-em').range(n.from, n.to)); return
      case 'Strikethrough': out.push(mark('cm-md-strike').range(n.from, n.to)); return
      case 'InlineCode': out.push(mark('cm-md-code').range(n.from, n.to)); return
      case 'EmphasisMark':
      case 'StrikethroughMark':
        markup(n.from, n.to)
        return
      case 'CodeMark':
        if (n.node.parent?.name === 'InlineCode') markup(n.from, n.to)
        else out.push(dim.range(n.from, n.to))
        return
      case 'CodeInfo': out.push(dim.range(n.from, n.to)); return
      case 'FencedCode':
      case 'CodeBlock':
        eachLine(n.from, n.to, line('cm-md-codeblock'))
        return
      case 'Blockquote': eachLine(n.from, n.to, line('cm-md-quote')); return
      case 'QuoteMark': markup(n.from, n.to, true); return
      case 'ListMark':
        // A task's checkbox is its bullet: the `-` shows only where the cursor is.
        if (n.node.nextSibling?.name === 'Task') markup(n.from, n.to, true)
        else out.push(mark('cm-md-listmark').range(n.from, n.to))
        return
      case 'HorizontalRule': out.push(line('cm-md-hr').range(state.doc.lineAt(n.from).from), dim.range(n.from, n.to)); return
      case 'TaskMarker': {
        const checked = /x/i.test(text(n))
        out.push(Decoration.replace({ widget: new CheckboxWidget(checked) }).range(n.from, n.to))
        if (checked) out.push(line('cm-md-done').range(state.doc.lineAt(n.from).from))
        return
      }
      case 'Link': {
        const url = n.node.getChild('URL')
        // `[text]` alone parses as a Link too; with no URL (a reference, or LaTeX's
        // `\documentclass[10pt]`) it is shown as typed: nothing is hidden.
        if (url === null) return
        const href = url === null ? undefined : safeHref(state.sliceDoc(url.from, url.to))
        out.push(mark('cm-md-link', href === undefined ? {} : { 'data-href': href, title: `${href} (Ctrl/⌘+click to open)` }).range(n.from, n.to))
        for (let c = n.node.firstChild; c !== null; c = c.nextSibling) {
          if (c.name === 'LinkMark' || c.name === 'URL' || c.name === 'LinkTitle') markup(c.from, c.to)
        }
        // The label may hold emphasis: go on into it, the marks above are done.
        return
      }
      case 'URL': {
        const p = n.node.parent?.name
        if (p === 'Link' || p === 'Image') return
        const href = safeHref(text(n))
        out.push(mark('cm-md-link', href === undefined ? {} : { 'data-href': href, title: `${href} (Ctrl/⌘+click to open)` }).range(n.from, n.to))
        return
      }
      case 'LinkMark':
      case 'LinkTitle':
        if (n.node.parent?.name === 'Link') return false
        out.push(dim.range(n.from, n.to))
        return
      case 'Image': {
        const url = n.node.getChild('URL')
        const file = url === null ? undefined : fileRef(state.sliceDoc(url.from, url.to))
        if (file === undefined) {
          out.push(mark('cm-md-link').range(n.from, n.to))
          return
        }
        const alt = state.sliceDoc(n.from + 2, (n.node.getChildren('LinkMark')[1]?.from) ?? n.from + 2)
        const widget = new ImageWidget(file, alt)
        if (onActive(n.from)) out.push(dim.range(n.from, n.to), Decoration.widget({ widget, side: 1 }).range(n.to))
        else out.push(Decoration.replace({ widget }).range(n.from, n.to))
        return false
      }
      default: return
    }
  }

  const tree = syntaxTree(state)
  for (const { from, to } of view.visibleRanges) tree.iterate({ from, to, enter })
  return { all: Decoration.set(out, true), atomic: Decoration.set(out.filter(r => r.value.point), true) }
}

/** The live preview plugin: rebuilt when the text, selection, focus, viewport or parse change. */
export const markdownPreview: Extension = ViewPlugin.fromClass(class {
  built: Built
  constructor (view: EditorView) { this.built = build(view) }
  update (u: ViewUpdate): void {
    if (u.docChanged || u.selectionSet || u.viewportChanged || u.focusChanged || syntaxTree(u.startState) !== syntaxTree(u.state)) this.built = build(u.view)
  }
}, {
  decorations: v => v.built.all,
  // Hidden markup and widgets count as one unit for the cursor, so arrow keys do not stop inside.
  provide: p => EditorView.atomicRanges.of(view => view.plugin(p)?.built.atomic ?? Decoration.none)
})
