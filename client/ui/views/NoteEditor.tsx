import { defaultKeymap } from '@codemirror/commands'
import { EditorState } from '@codemirror/state'
import { EditorView, keymap } from '@codemirror/view'
import { createEffect, onCleanup, onMount } from 'solid-js'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import * as Y from 'yjs'
import type { PresenceCursor } from '../../core/presence.js'
import type { LabelledPeer } from '../peer-labels.js'
import { toggleBold, toggleItalic } from '../editor/markdown-commands.js'
import type { ImageSource } from '../editor/markdown-widgets.js'
import type { AddImage } from '../editor/paste-images.js'
import { refreshCursors, remoteCursors } from '../editor/remote-cursors.js'
import { richNote } from '../editor/rich-note.js'
import { takeFocusRequest } from '../focus-request.js'
import { coveTheme } from '../editor/theme.js'

/**
 * A note: CodeMirror 6 bound to the note's Y.Text by y-codemirror.next, shown as Markdown with
 * live preview (editor/rich-note.ts says why Markdown: old plain-text notes open unchanged).
 *
 * Undo and redo use a Y.UndoManager that tracks only this editor's own transactions (the binding
 * adds its sync config as the tracked origin), so undo never takes back what someone else typed:
 * remote updates arrive with the sync session as origin and are not tracked.
 */
export interface NoteEditorProps {
  readonly text: Y.Text
  readonly itemId: string
  readonly readOnly: boolean
  readonly peers: () => readonly LabelledPeer[]
  readonly onCursor: (c: PresenceCursor | null) => void
  /** Decrypts the images the note shows (`cove-file:` references). */
  readonly images?: ImageSource
  /** Adds a pasted or dropped image as a file of the space, giving its item id. */
  readonly addImage?: AddImage
}

export function NoteEditor (props: NoteEditorProps) {
  let host!: HTMLDivElement
  let view: EditorView | undefined
  let undo: Y.UndoManager | undefined

  onMount(() => {
    const text = props.text
    // trackedOrigins starts empty: the binding registers its own origin, nothing else is undoable.
    undo = new Y.UndoManager(text, { trackedOrigins: new Set() })
    const item = props.itemId
    // A shadow root, so CodeMirror's styles go into an adopted stylesheet (see editor/theme.ts).
    const shadow = host.attachShadow({ mode: 'open' })
    view = new EditorView({
      parent: shadow,
      root: shadow,
      state: EditorState.create({
        doc: text.toString(),
        extensions: [
          keymap.of([...yUndoManagerKeymap, ...defaultKeymap]),
          EditorView.lineWrapping,
          coveTheme,
          richNote({ text, ...(props.images === undefined ? {} : { images: props.images }), ...(props.addImage === undefined || props.readOnly ? {} : { addImage: props.addImage }) }),
          EditorState.readOnly.of(props.readOnly),
          EditorView.editable.of(!props.readOnly),
          EditorView.contentAttributes.of({ 'aria-label': 'Note text', 'data-testid': 'note-editor' }),
          yCollab(text, null, { undoManager: undo }),
          remoteCursors(text, item, () => props.peers()),
          EditorView.updateListener.of(u => {
            if (!(u.selectionSet || u.docChanged || u.focusChanged)) return
            if (!u.view.hasFocus) {
              if (u.focusChanged) props.onCursor(null)
              return
            }
            const sel = u.state.selection.main
            props.onCursor({
              item,
              anchor: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(text, sel.anchor)),
              head: Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(text, sel.head))
            })
          })
        ]
      })
    })
    // A note this person just added: typing goes into it (after the list has placed the card).
    if (!props.readOnly && takeFocusRequest(item)) requestAnimationFrame(() => view?.focus())
  })

  createEffect(() => {
    props.peers()
    view?.dispatch({ effects: refreshCursors.of(null) })
  })

  onCleanup(() => {
    view?.destroy()
    undo?.destroy()
  })

  return (
    <div class="note">
      <div class="note-editor" ref={host} />
      <div class="note-tools" role="toolbar" aria-label="Note formatting and history">
        <button type="button" class="small" disabled={props.readOnly} onMouseDown={e => e.preventDefault()} onClick={() => { if (view !== undefined) toggleBold(view); view?.focus() }} title="Bold (Ctrl/⌘+B)" aria-label="Bold"><b>B</b></button>
        <button type="button" class="small" disabled={props.readOnly} onMouseDown={e => e.preventDefault()} onClick={() => { if (view !== undefined) toggleItalic(view); view?.focus() }} title="Italic (Ctrl/⌘+I)" aria-label="Italic"><i>I</i></button>
        <button type="button" class="small" disabled={props.readOnly} onClick={() => { undo?.undo(); view?.focus() }} title="Undo your last change (Ctrl+Z)">Undo</button>
        <button type="button" class="small" disabled={props.readOnly} onClick={() => { undo?.redo(); view?.focus() }} title="Redo (Ctrl+Shift+Z)">Redo</button>
      </div>
    </div>
  )
}
