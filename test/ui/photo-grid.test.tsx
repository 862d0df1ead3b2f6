import { render } from 'solid-js/web'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as model from '../../client/core/model.js'
import { useSpaceView } from '../../client/ui/bridge.js'
import { PhotoGrid } from '../../client/ui/views/PhotoGrid.js'
import { deriveKeys, newSpaceSecrets } from '../../shared/keys.js'
import { getSodium } from '../../shared/sodium.js'

/**
 * The photos grid (issue 9, Photos) reads the space's live view: it says what to do while there
 * are no photos, lists image files (by type, or by name when the type says nothing) in the space's
 * order as they arrive, and leaves other files out.
 */
const tick = (): Promise<void> => new Promise(resolve => setTimeout(resolve, 0))
let n = 0
const file = (doc: Y.Doc, name: string, mime: string, pending = false): string =>
  model.addFile(doc, { name, size: 10, mime, blob: (++n).toString(16).padStart(32, '0'), key: 'k', chunk: 65536, thumb: new Uint8Array([1, 2, 3]), from: 'Alice', ...(pending ? { pending: true } : {}) })

async function mount (readOnly: boolean) {
  const sodium = await getSodium()
  const keys = deriveKeys(sodium, newSpaceSecrets(sodium))
  const doc = new Y.Doc()
  const host = document.createElement('div')
  document.body.append(host)
  const dispose = render(() => {
    const view = useSpaceView(doc)
    return <PhotoGrid doc={doc} items={view.items} readOnly={readOnly} sodium={sodium} origin="http://127.0.0.1:1" keys={keys} />
  }, host)
  const tiles = (): string[] => Array.from(host.querySelectorAll('[data-testid=photo-tile]')).map(t => t.getAttribute('aria-label') ?? '')
  const empty = (): string => host.querySelector('[data-testid=photos-empty]')?.textContent ?? ''
  return { doc, host, tiles, empty, dispose: () => { dispose(); host.remove() } }
}

describe('photos grid', () => {
  it('says what to do while empty, then lists photos as they arrive, newest first, and no other file', async () => {
    const g = await mount(false)
    expect(g.empty()).toBe('No photos yet — add an image file with “+ File or photo” above, or drop one here.')
    file(g.doc, 'a.png', 'image/png')
    file(g.doc, 'notes.txt', 'text/plain')
    model.addNote(g.doc, 'a note')
    await tick()
    expect(g.tiles()).toEqual(['a.png, photo 1 of 1'])
    expect(g.empty()).toBe('')
    file(g.doc, 'b.JPG', 'application/octet-stream')
    await tick()
    expect(g.tiles()).toEqual(['b.JPG, photo 1 of 2', 'a.png, photo 2 of 2'])
    expect(g.host.querySelectorAll('[data-testid=photo-tile] img')).toHaveLength(2)
    g.dispose()
  })

  it('a view-only member is told where photos come from; a photo not uploaded yet is marked', async () => {
    const g = await mount(true)
    expect(g.empty()).toBe('No photos yet — the images members add show up here.')
    file(g.doc, 'c.webp', 'image/webp', true)
    await tick()
    expect(g.tiles()).toEqual(["c.webp, photo 1 of 1 (Uploading from Alice's device · not uploaded yet by Alice)"])
    expect(g.host.querySelector('.photo-badge')?.textContent).toBe('Not uploaded yet')
    g.dispose()
  })
})
