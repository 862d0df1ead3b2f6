import type { Extension } from '@codemirror/state'
import { EditorView } from '@codemirror/view'
import * as Y from 'yjs'
import { FILE_SCHEME } from '../../core/markdown.js'

/**
 * Pasting or dropping an image into a note (issue 9, rich notes) adds it as a file of the space,
 * through the same local-first path as the Add file button (encrypted and kept on this device at
 * once, uploaded by the queue: client/ui/uploads.ts), then writes `![name](cove-file:<file item
 * id>)` where it was pasted. Encryption takes a moment, and others may type meanwhile, so the spot
 * is held as a Yjs relative position, which follows the text around it.
 */
export type AddImage = (file: File) => Promise<string | undefined>

const images = (list: FileList | null | undefined): File[] => Array.from(list ?? []).filter(f => f.type.startsWith('image/'))

/** Brackets and line breaks would end the alt text early: they go. */
const altOf = (name: string): string => name.replace(/[[\]\\\n\r]/g, ' ').trim().slice(0, 80) || 'image'

async function insertAll (view: EditorView, text: Y.Text, at: number, files: readonly File[], add: AddImage): Promise<void> {
  const doc = text.doc
  if (doc === null) return
  const spot = Y.createRelativePositionFromTypeIndex(text, at)
  for (const file of files) {
    const id = await add(file)
    if (id === undefined) continue
    const index = Y.createAbsolutePositionFromRelativePosition(spot, doc)?.index ?? text.length
    const md = `![${altOf(file.name)}](${FILE_SCHEME}${id})`
    // Through the editor while it is open, so the insert is the person's own (undoable) edit.
    if (view.dom.isConnected && view.state.doc.length === text.length) view.dispatch({ changes: { from: index, insert: md }, userEvent: 'input.paste' })
    else text.insert(index, md)
  }
}

export function pasteImages (text: Y.Text, add: AddImage): Extension {
  return EditorView.domEventHandlers({
    paste (e, view) {
      const files = images(e.clipboardData?.files)
      if (files.length === 0 || view.state.readOnly) return false
      e.preventDefault()
      void insertAll(view, text, view.state.selection.main.head, files, add)
      return true
    },
    drop (e, view) {
      const files = images(e.dataTransfer?.files)
      if (files.length === 0 || view.state.readOnly) return false
      e.preventDefault()
      e.stopPropagation()
      const at = view.posAtCoords({ x: e.clientX, y: e.clientY }) ?? view.state.selection.main.head
      void insertAll(view, text, at, files, add)
      return true
    }
  })
}
