import { Facet } from '@codemirror/state'
import { WidgetType, type EditorView } from '@codemirror/view'

/**
 * The two things live preview draws instead of text: a task's checkbox and a pasted image.
 * Both are views of the note's Markdown, never a second copy of it: ticking a box edits the
 * `[ ]` in the text (an ordinary edit that syncs and undoes like typing), and an image is found
 * by the file item its `cove-file:` reference names.
 */

/** An image to show: `final` false means a stand-in (the thumbnail, or nothing yet): ask again later. */
export interface ImageResult { readonly url: string | undefined; readonly final: boolean }

/** Where images come from: the page decrypts the file (note-images.ts); absent in tests. */
export interface ImageSource {
  url (fileId: string): Promise<ImageResult>
}

/** How often, and how many times, a widget showing a stand-in asks again (the file may be uploaded meanwhile). */
const RETRY_MS = 5000
const RETRIES = 24

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
    let img: HTMLImageElement | undefined
    const show = (url: string | undefined): void => {
      if (url === undefined) {
        label.textContent = `🖼 ${this.alt || 'image'} (not available here)`
        return
      }
      if (img === undefined) {
        img = document.createElement('img')
        img.alt = this.alt
        img.addEventListener('load', () => view.requestMeasure())
        label.replaceWith(img)
      }
      if (img.src !== url) img.src = url
    }
    const load = (tries: number): void => {
      void source?.url(this.fileId).then(r => {
        if (tries > 0 && !wrap.isConnected) return
        show(r.url)
        // A file still on another member's device: the full image once it is on the relay.
        if (!r.final && tries < RETRIES) setTimeout(() => { if (wrap.isConnected) load(tries + 1) }, RETRY_MS)
      })
    }
    load(0)
    return wrap
  }
  override ignoreEvent (): boolean { return false }
}
