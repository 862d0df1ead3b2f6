import { Index, Show, createEffect, createMemo, createSignal, on, onCleanup, onMount } from 'solid-js'
import type * as Y from 'yjs'
import type { Sodium } from '../../../shared/sodium.js'
import * as model from '../../core/model.js'
import * as trash from '../../core/trash.js'
import { useSpaceView } from '../bridge.js'
import { focusWhenMounted } from '../focus-request.js'
import { spaceCode } from '../fingerprint.js'
import { labelPeers, selfNeedsTag } from '../peer-labels.js'
import { profile } from '../profile.js'
import type { SpaceSession } from '../session.js'
import { canRetry, rowText } from '../file-words.js'
import { clearToasts } from '../toasts.js'
import { useTabTitle } from '../tab-title.js'
import { openSpaceFiles, SpaceFilesContext } from '../uploads.js'
import { HistoryPanel } from './HistoryPanel.js'
import { ItemCard } from './ItemCard.js'
import { MembersPanel } from './MembersPanel.js'
import { PhotoGrid } from './PhotoGrid.js'
import { PresenceBar } from './PresenceBar.js'
import { SearchBox } from './SearchBox.js'
import { SecurityPanel } from './SecurityPanel.js'
import { SharePanel } from './SharePanel.js'
import { StableFor } from './StableFor.js'
import { StatusBar } from './StatusBar.js'
import { TextField } from './TextField.js'
import { Toasts } from './Toasts.js'
import { TrashNotice } from './TrashNotice.js'
import { TrashPanel } from './TrashPanel.js'

/** A space: title, status, presence, share, security, Trash and History panels, and its items newest first. */
export interface SpacePageProps {
  readonly session: SpaceSession
  readonly doc: Y.Doc
  readonly sodium: Sodium
  readonly origin: string
  readonly onExport: () => void
  readonly onLeave: () => void
}

type Panel = 'share' | 'members' | 'security' | 'trash' | 'history'

export function SpacePage (props: SpacePageProps) {
  const view = useSpaceView(props.doc)
  useTabTitle(() => view.title)
  const [panel, setPanel] = createSignal<Panel | undefined>()
  const [dragged, setDragged] = createSignal<string | undefined>()
  const [linkForm, setLinkForm] = createSignal(false)
  // The photos grid (issue 9, Photos) in place of the items list; the add bar stays above it.
  const [photos, setPhotos] = createSignal(false)
  const ro = (): boolean => props.session.readOnly
  // Every peer named by its device (peer-labels.ts), the same in the bar and on the carets.
  const self = () => ({ name: profile().name, device: props.session.device() })
  const peers = createMemo(() => labelPeers(props.session.peers(), self()))
  const toggle = (p: Panel): void => { setPanel(cur => cur === p ? undefined : p) }
  // Any editor's app empties what has been in the Trash for too long (trash.ts).
  onMount(() => { if (!ro()) trash.purge(props.doc) })
  // An Undo acts on this space: it must not outlive it.
  onCleanup(clearToasts)
  // This device's files of the space: kept encrypted here at once, uploaded by a queue (issue 9.5).
  const files = openSpaceFiles({ spaceId: props.session.id, keys: props.session.keys, sodium: props.sodium, origin: props.origin, doc: () => props.doc })
  onCleanup(() => { void files.close() })
  // The space's socket is back, so the relay answers: queued uploads need not wait out their backoff.
  createEffect(on(() => props.session.status().connection, c => { if (c === 'online') files.reachable() }))
  const queue = createMemo(() => files.rows().filter(r => r.phase !== 'uploaded'))
  const upload = (list: FileList | null | undefined): void => {
    if (ro() || list === null || list === undefined) return
    void files.add(Array.from(list), profile().name)
  }
  const addLink = (e: SubmitEvent): void => {
    e.preventDefault()
    const form = e.currentTarget as HTMLFormElement
    const data = new FormData(form)
    const url = String(data.get('url') ?? '').trim()
    if (url === '') return
    model.addLink(props.doc, url, String(data.get('title') ?? '').trim())
    form.reset()
    setLinkForm(false)
  }

  return (
    <main
      class="space"
      onDragOver={e => { if (e.dataTransfer?.types.includes('Files') === true) e.preventDefault() }}
      onDrop={e => { if ((e.dataTransfer?.files.length ?? 0) > 0) { e.preventDefault(); upload(e.dataTransfer?.files) } }}
    >
      <div class="space-head">
        <TextField class="space-title" text={model.title(props.doc)} placeholder="Untitled space" label="Space title" readOnly={ro()} testId="space-title" />
        <Show when={ro()}><span class="badge" data-testid="view-only">View only</span></Show>
      </div>
      <StatusBar status={props.session.status()} role={props.session.role()} alerts={props.session.alerts().length} onSecurity={() => setPanel('security')} />
      <PresenceBar peers={peers()} readOnly={ro()} device={props.session.device()} selfSameName={selfNeedsTag(props.session.peers(), self())} />
      <nav class="space-actions" aria-label="Space actions">
        <button type="button" aria-expanded={panel() === 'share'} onClick={() => toggle('share')} data-testid="share-button">Share</button>
        <button type="button" aria-expanded={panel() === 'members'} onClick={() => toggle('members')} data-testid="members-button">Members ({props.session.members().length})</button>
        <button type="button" aria-expanded={panel() === 'security'} onClick={() => toggle('security')} data-testid="security-button">Security</button>
        <button type="button" aria-expanded={panel() === 'trash'} onClick={() => toggle('trash')} data-testid="trash-button">Trash<Show when={view.trash.length > 0}> ({view.trash.length})</Show></button>
        <button type="button" aria-expanded={panel() === 'history'} onClick={() => toggle('history')} data-testid="history-button">History</button>
        <button type="button" aria-pressed={photos()} onClick={() => setPhotos(v => !v)} data-testid="photos-button">Photos</button>
        <button type="button" onClick={() => props.onExport()}>Export</button>
        <button type="button" class="danger" onClick={() => props.onLeave()}>Leave</button>
      </nav>
      <SearchBox spaceId={props.session.id} doc={props.doc} title={view.title} />
      <TrashNotice items={view.trash} onShow={() => setPanel('trash')} />
      <Show when={panel() === 'trash'}><TrashPanel doc={props.doc} items={view.trash} readOnly={ro()} /></Show>
      <Show when={panel() === 'history'}><HistoryPanel session={props.session} doc={props.doc} peers={peers()} /></Show>
      <Show when={panel() === 'share'}><SharePanel origin={props.origin} secrets={props.session.secrets} checkpoint={props.session.checkpoint()} /></Show>
      <Show when={panel() === 'members'}>
        <MembersPanel members={props.session.members()} {...(ro() ? {} : { onRemove: (d: string) => props.session.removeMember(d) })} />
      </Show>
      <Show when={props.session.removed() !== undefined}>
        <p class="banner danger" role="alert" data-testid="removed-banner">{props.session.removed()}</p>
      </Show>
      <Show when={panel() === 'security'}>
        <SecurityPanel
          spaceCode={spaceCode(props.sodium, props.session.secrets)}
          stateCode={props.session.stateCode()}
          synced={props.session.status().unsynced === 0 && props.session.status().connection === 'online'}
          readOnly={ro()}
          alerts={props.session.alerts()}
          freshness={props.session.status().freshness}
        />
      </Show>
      <Show when={!ro()}>
        <div class="add-bar" role="toolbar" aria-label="Add to the space">
          <button type="button" onClick={() => focusWhenMounted(model.addNote(props.doc, ''))} data-testid="add-note">+ Note</button>
          <button type="button" onClick={() => model.addChecklist(props.doc, 'Checklist')} data-testid="add-checklist">+ Checklist</button>
          <button type="button" onClick={() => setLinkForm(v => !v)} data-testid="add-link">+ Link</button>
          <label class="button" data-testid="add-file">
            + File or photo
            <input type="file" multiple class="visually-hidden" onChange={e => { upload(e.currentTarget.files); e.currentTarget.value = '' }} data-testid="file-input" />
          </label>
        </div>
        <Show when={linkForm()}>
          <form class="link-form" onSubmit={addLink}>
            <input name="url" type="url" placeholder="https://…" aria-label="Link URL" required />
            <input name="title" placeholder="Title (optional)" aria-label="Link title" />
            <button type="submit">Add link</button>
          </form>
        </Show>
      </Show>
      <Show when={queue().length > 0}>
        <section class="uploads" aria-label="Files not on the relay yet" aria-live="polite">
          {/* By position: progress changes a row many times a second, and must not re-create it under a click. */}
          <Index each={queue()}>
            {u => (
              <div class={`upload ${u().phase}`} data-testid="upload" data-state={u().phase}>
                <span class="upload-text">{rowText(u())}</span>
                <Show when={u().phase === 'encrypting' || u().phase === 'uploading'}>
                  <progress max={Math.max(1, u().bytes)} value={u().done} aria-label={`${u().phase === 'encrypting' ? 'Encrypting' : 'Uploading'} ${u().name}`} />
                </Show>
                <Show when={canRetry(u())}><button type="button" class="small" onClick={() => files.retry(u().blob)}>Retry</button></Show>
                <Show when={u().phase === 'not-kept'}><button type="button" class="small" onClick={() => files.dismiss(u().blob)}>Dismiss</button></Show>
              </div>
            )}
          </Index>
        </section>
      </Show>
      <SpaceFilesContext.Provider value={files}>
        <Show when={!photos()} fallback={
          <PhotoGrid doc={props.doc} items={view.items} readOnly={ro()} sodium={props.sodium} origin={props.origin} keys={props.session.keys} />
        }>
          <Show when={view.items.length > 0} fallback={
            <p class="empty muted" data-testid="empty-space">
              {ro()
                ? 'Nothing here yet. What the members add (notes, checklists, links, files) shows up here as they add it.'
                : 'This space is empty. Add a note, a checklist, a link or a file with the buttons above, or drop files here. Then share the space to work on it together.'}
            </p>
          }>
            <StableFor each={view.items} tag="div" class="items" testId="items">
              {(item, i) => (
                <ItemCard
                  doc={props.doc}
                  item={item}
                  index={i()}
                  count={view.items.length}
                  readOnly={ro()}
                  sodium={props.sodium}
                  origin={props.origin}
                  keys={props.session.keys}
                  peers={peers}
                  onCursor={c => props.session.setCursor(c)}
                  onDragStart={id => setDragged(id)}
                  onDrop={to => { const id = dragged(); if (id !== undefined && !ro()) model.moveItem(props.doc, id, to); setDragged(undefined) }}
                />
              )}
            </StableFor>
          </Show>
        </Show>
      </SpaceFilesContext.Provider>
      <Toasts />
    </main>
  )
}
