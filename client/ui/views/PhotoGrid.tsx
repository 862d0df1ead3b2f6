import { For, Show, createMemo, createSignal, useContext } from 'solid-js'
import type * as Y from 'yjs'
import type { Sodium } from '../../../shared/sodium.js'
import type { BlobKeys } from '../../core/files.js'
import * as model from '../../core/model.js'
import type { ItemView } from '../bridge.js'
import type { FileSource } from '../file-bytes.js'
import { cardStatus } from '../file-words.js'
import { photosOf } from '../photos.js'
import { createThumbUrl } from '../thumb-url.js'
import { SpaceFilesContext } from '../uploads.js'
import { PhotoViewer } from './PhotoViewer.js'

/**
 * The space's photos as a grid of thumbnails (issue 9, Photos): every image file, in the space's
 * order, from the thumbnails kept in the encrypted document, so the grid shows at once, offline,
 * and with nothing downloaded. It reads the same live view as the items list, so a photo another
 * member adds appears as it arrives, and one added here offline is in it before it is uploaded.
 * A tile opens the full-size viewer; closing it puts focus back on the tile of the photo shown last.
 */
export interface PhotoGridProps {
  readonly doc: Y.Doc
  readonly items: readonly ItemView[]
  readonly readOnly: boolean
  readonly sodium: Sodium
  readonly origin: string
  readonly keys: BlobKeys
}

export function PhotoGrid (props: PhotoGridProps) {
  const files = useContext(SpaceFilesContext)
  const photos = createMemo(() => photosOf(props.items))
  const [open, setOpen] = createSignal<string | undefined>()
  let list: HTMLUListElement | undefined
  const source: FileSource = {
    get doc () { return props.doc },
    get sodium () { return props.sodium },
    get origin () { return props.origin },
    get keys () { return props.keys },
    files
  }
  const closed = (lastId: string): void => {
    setOpen(undefined)
    const tile = list?.querySelector<HTMLElement>(`[data-photo-id="${CSS.escape(lastId)}"]`) ?? list?.querySelector<HTMLElement>('[data-photo-id]')
    tile?.focus()
  }

  return (
    <section class="photos" aria-label="Photos" data-testid="photos">
      <Show when={photos().length > 0} fallback={
        <p class="empty muted" data-testid="photos-empty">
          {props.readOnly
            ? 'No photos yet — the images members add show up here.'
            : 'No photos yet — add an image file with “+ File or photo” above, or drop one here.'}
        </p>
      }>
        <ul class="photo-grid" ref={list}>
          <For each={photos()}>
            {(p, i) => (
              <li>
                <PhotoTile doc={props.doc} item={p} label={`${p.name}, photo ${i() + 1} of ${photos().length}`} onOpen={() => setOpen(p.id)} status={status(p)} />
              </li>
            )}
          </For>
        </ul>
      </Show>
      <Show when={open()}>
        {id => <PhotoViewer photos={photos()} startId={id()} source={source} onClose={closed} />}
      </Show>
    </section>
  )

  /** What a tile says about a photo whose full size is not on the relay yet (cardStatus's words). */
  function status (p: ItemView): string {
    if (!p.pending) return ''
    const blob = String(model.findItem(props.doc, p.id)?.get('blob') ?? '')
    return cardStatus(p.pending, p.from, files?.rows().find(r => r.blob === blob))
  }
}

interface PhotoTileProps {
  readonly doc: Y.Doc
  readonly item: ItemView
  readonly label: string
  readonly status: string
  readonly onOpen: () => void
}

/** One thumbnail, a button (keyboard reachable, Enter opens); the file's name when it has no thumbnail. */
function PhotoTile (props: PhotoTileProps) {
  const url = createThumbUrl(() => props.doc, () => props.item.id, () => props.item.hasThumb)
  return (
    <button type="button" class="photo-tile" data-photo-id={props.item.id} data-testid="photo-tile" aria-label={props.status === '' ? props.label : `${props.label} (${props.status})`} title={props.status || props.item.name} onClick={() => props.onOpen()}>
      <Show when={url()} fallback={<span class="photo-noname">{props.item.name}</span>}>
        {u => <img src={u()} alt="" draggable={false} />}
      </Show>
      <Show when={props.status !== ''}><span class="photo-badge" aria-hidden="true">Not uploaded yet</span></Show>
    </button>
  )
}
