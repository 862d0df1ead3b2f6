import { Facet } from '@codemirror/state'
import { WidgetType, type EditorView } from '@codemirror/view'

/**
 * The two things live preview draws instead of text: a task's checkbox and a pasted image.
 * Both are views of the note's Markdown, never a second copy of it: ticking a box edits the
 * `[ ]` in the text (an ordinary edit that syncs and undoes like typing), and an image is found
 * by the file item its `cove-file:` reference names.
 */

/** Where images come from: the page decrypts the file (note-images.ts); absent in tests. */
export interface ImageSource {
  /** An object URL for the file item's image, or undefined when it cannot be shown (yet). */
  url (fileId: string): Promise<string | undefined>
}

export const imageSource = Facet.define<ImageSource, ImageSource | undefined>({ combine: v => v[0] })

/** `[ ]` ⇄ `[x]` at `pos` (the marker's start); false when the text there is no task marker. */
export function toggleTask (view: EditorView, pos: number): boolean {
  if (view.state.readOnly) return false
  const marker = view.state.sliceDoc(pos, pos + 3)
  if (!/^\[[ xX]\]$/.test(marker)) return false
  view.dispatch({ changes: { from: pos + 1, to: pos + 2, insert: marker[1] === ' ' ? 'x' : ' ' }, userEvent: 'input.toggle' })
  return true
}

export class CheckboxWidget extends WidgetType {
  constructor (readonly checked: boolean) { super() }
  override eq (o: CheckboxWidget): boolean { return o.checked === this.checked }
  toDOM (view: EditorView): HTMLElement {
    const box = document.createElement('input')
    box.type = 'checkbox'
    box.className = 'cm-md-task'
    box.checked = this.checked
    box.disabled = view.state.readOnly
    box.setAttribute('aria-label', this.checked ? 'Done (untick)' : 'Not done (tick)')
    // Keep the editor's selection where it is; the click itself makes the edit.
    box.addEventListener('mousedown', e => e.preventDefault())
    box.addEventListener('click', e => {
      e.preventDefault()
      // The box shows the text's state: the edit below redraws it (and a refused one leaves it).
      toggleTask(view, view.posAtDOM(box))
    })
    return box
  }
  override ignoreEvent (): boolean { return true }
}

export class ImageWidget extends WidgetType {
  constructor (readonly fileId: string, readonly alt: string) { super() }
  override eq (o: ImageWidget): boolean { return o.fileId === this.fileId && o.alt === this.alt }
  toDOM (view: EditorView): HTMLElement {
    const wrap = document.createElement('span')
    wrap.className = 'cm-md-img'
    wrap.dataset.file = this.fileId
    const label = document.createElement('span')
    label.className = 'cm-md-img-alt'
    label.textContent = `🖼 ${this.alt || 'image'}`
    wrap.append(label)
    const source = view.state.facet(imageSource)
    void source?.url(this.fileId).then(url => {
      if (url === undefined) {
        label.textContent = `🖼 ${this.alt || 'image'} (not available here)`
        return
      }
      const img = document.createElement('img')
      img.alt = this.alt
      img.src = url
      img.addEventListener('load', () => view.requestMeasure())
      label.replaceWith(img)
    })
    return wrap
  }
  override ignoreEvent (): boolean { return false }
}
