import { Match, Show, Switch, onCleanup, useContext } from 'solid-js'
import type * as Y from 'yjs'
import type { Sodium } from '../../../shared/sodium.js'
import type { BlobKeys } from '../../core/files.js'
import * as model from '../../core/model.js'
import * as trash from '../../core/trash.js'
import type { PresenceCursor } from '../../core/presence.js'
import type { LabelledPeer } from '../peer-labels.js'
import type { ItemView } from '../bridge.js'
import { createNoteImages } from '../note-images.js'
import { profile } from '../profile.js'
import { useTextAt } from '../text-at.js'
import { toast } from '../toasts.js'
import { SpaceFilesContext } from '../uploads.js'
import { Checklist } from './Checklist.js'
import { FileItem } from './FileItem.js'
import { LinkItem } from './LinkItem.js'
import { NoteEditor } from './NoteEditor.js'
import { TextField } from './TextField.js'

/** One item of the space: its kind's view, plus move (buttons and drag handle) and delete (to the Trash, with Undo). */
export interface ItemCardProps {
  readonly doc: Y.Doc
  readonly item: ItemView
  readonly index: number
  readonly count: number
  readonly readOnly: boolean
  readonly sodium: Sodium
  readonly origin: string
  readonly keys: BlobKeys
  readonly peers: () => readonly LabelledPeer[]
  readonly onCursor: (c: PresenceCursor | null) => void
  readonly onDragStart: (id: string) => void
  readonly onDrop: (index: number) => void
}

const KIND_LABEL: Record<string, string> = { note: 'Note', checklist: 'Checklist', link: 'Link', file: 'File', unknown: 'Item' }

export function ItemCard (props: ItemCardProps) {
  // A move only sets the item's `pos` (model.ts): its map and texts stay, so the card binds once
  // and a move never re-creates the editor someone is typing in (issue 9).
  const map = model.findItem(props.doc, props.item.id)
  const noteText = useTextAt(map, 'text')
  const title = useTextAt(map, 'title')
  // A note's images (`cove-file:` references) decrypt in the page; a pasted image becomes a file.
  const files = useContext(SpaceFilesContext)
  const images = props.item.kind === 'note' ? createNoteImages({ doc: props.doc, sodium: props.sodium, origin: props.origin, keys: props.keys, ...(files === undefined ? {} : { local: files.local }) }) : undefined
  onCleanup(() => images?.dispose())
  const addImage = async (f: File): Promise<string | undefined> => (await files?.add([f], profile().name))?.[0]
  // No confirm: the item goes to the Trash, and the toast takes it back at once (issue 9).
  const remove = (): void => {
    const doc = props.doc
    const id = props.item.id
    if (trash.trashItem(doc, id, profile().name)) toast(`${KIND_LABEL[props.item.kind] ?? 'Item'} moved to Trash`, { label: 'Undo', run: () => trash.restore(doc, id) })
  }
  return (
    <article
      class={`card kind-${props.item.kind}`}
      data-testid={`item-${props.item.kind}`}
      data-item-id={props.item.id}
      onDragOver={e => e.preventDefault()}
      onDrop={e => { e.preventDefault(); props.onDrop(props.index) }}
    >
      <header class="card-head">
        <Show when={!props.readOnly}>
          <span
            class="handle"
            draggable="true"
            title="Drag to reorder"
            aria-hidden="true"
            onDragStart={e => { e.dataTransfer?.setData('text/x-cove-item', props.item.id); props.onDragStart(props.item.id) }}
          >⠿</span>
        </Show>
        <span class="kind">{KIND_LABEL[props.item.kind]}</span>
        <Show when={props.item.kind === 'checklist'}>
          <TextField class="card-title" text={title()} readOnly={props.readOnly} label="Checklist title" />
        </Show>
        <span class="grow" />
        <Show when={!props.readOnly}>
          <span class="row-tools">
            <button type="button" class="icon" aria-label="Move up" disabled={props.index === 0} onClick={() => model.moveItem(props.doc, props.item.id, props.index - 1)}>↑</button>
            <button type="button" class="icon" aria-label="Move down" disabled={props.index >= props.count - 1} onClick={() => model.moveItem(props.doc, props.item.id, props.index + 1)}>↓</button>
            <button type="button" class="icon" aria-label={`Delete ${KIND_LABEL[props.item.kind]?.toLowerCase() ?? 'item'}`} onClick={remove}>✕</button>
          </span>
        </Show>
      </header>
      <Switch fallback={<p class="muted">This item was made by a newer version of Cove.</p>}>
        <Match when={props.item.kind === 'note'}>
          <Show when={noteText()} keyed>
            {t => <NoteEditor text={t} itemId={props.item.id} readOnly={props.readOnly} peers={props.peers} onCursor={props.onCursor} {...(images === undefined ? {} : { images })} {...(files === undefined ? {} : { addImage })} />}
          </Show>
        </Match>
        <Match when={props.item.kind === 'checklist'}>
          <Checklist doc={props.doc} item={props.item} readOnly={props.readOnly} />
        </Match>
        <Match when={props.item.kind === 'link'}>
          <LinkItem doc={props.doc} item={props.item} readOnly={props.readOnly} />
        </Match>
        <Match when={props.item.kind === 'file'}>
          <FileItem doc={props.doc} item={props.item} sodium={props.sodium} origin={props.origin} keys={props.keys} />
        </Match>
      </Switch>
    </article>
  )
}
