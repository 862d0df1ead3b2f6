import { For, Match, Show, Switch, createMemo, createSignal, onCleanup } from 'solid-js'
import type * as Y from 'yjs'
import * as model from '../../core/model.js'
import * as restore from '../../core/restore.js'
import { formatBytes, formatTime } from '../format.js'
import { profile } from '../profile.js'
import { toast, TOAST_MS } from '../toasts.js'

/**
 * The space as a snapshot holds it (issue 9, History), read-only: titles, notes' text, checklists
 * with their entries and ticks, links, file names. It renders from the snapshot's own Y.Doc
 * (`old`), never the live one, and says beside each item how it stands now. Editors get a restore
 * button per item that differs; the restore is an ordinary edit of the live document, with Undo.
 */
export interface SnapshotViewProps {
  /** The live document: compared with, and restored into. */
  readonly doc: Y.Doc
  /** The snapshot's document, decoded apart from the live one. */
  readonly old: Y.Doc
  readonly seq: number
  readonly createdAt: number
  readonly readOnly: boolean
  readonly onClose: () => void
}

const KIND: Record<model.ItemKind, string> = { note: 'Note', checklist: 'Checklist', link: 'Link', file: 'File' }
const STANDING: Record<restore.Standing, string> = { same: 'Unchanged since', changed: 'Changed since', trashed: 'In the Trash now', gone: 'Deleted since' }

/** What a person recognises an item by, for the toast after a restore. */
function labelOf (i: model.ItemJSON): string {
  switch (i.kind) {
    case 'note': return (i.text.split('\n').find(l => l.trim() !== '') ?? '').trim().slice(0, 60) || 'the note'
    case 'checklist': return i.title || 'the checklist'
    case 'link': return i.title || i.url
    case 'file': return i.name
  }
}

export function SnapshotView (props: SnapshotViewProps) {
  // Bumped after changes of the live document, so "changed since" and the buttons follow it; at
  // most every 150 ms, since comparing walks the whole space and someone may be typing.
  const [tick, setTick] = createSignal(0)
  let timer: ReturnType<typeof setTimeout> | undefined
  const bump = (): void => { timer ??= setTimeout(() => { timer = undefined; setTick(t => t + 1) }, 150) }
  props.doc.on('update', bump)
  onCleanup(() => { props.doc.off('update', bump); if (timer !== undefined) clearTimeout(timer) })
  const was = createMemo(() => model.toJSON(props.old))
  const standings = createMemo(() => { tick(); return restore.standings(props.doc, props.old) })
  const titleDiffers = createMemo(() => { tick(); return model.title(props.doc).toString() !== was().title })
  const asOf = (): string => formatTime(props.createdAt)

  const offerUndo = (message: string, u: { undo (): void; dispose (): void }): void => {
    let done = false
    const timer = setTimeout(() => { if (!done) u.dispose() }, TOAST_MS + 1000)
    toast(message, { label: 'Undo', run: () => { if (done) return; done = true; clearTimeout(timer); u.undo() } })
  }
  const restoreItem = (i: model.ItemJSON): void => {
    const u = restore.undoable(props.doc, () => restore.restoreItem(props.doc, props.old, i.id, profile().name))
    if (!u.result.ok) { u.dispose(); toast(`Could not restore: ${u.result.message}`); return }
    offerUndo(`Restored “${labelOf(i)}” as of ${asOf()}`, u)
  }
  const restoreTitle = (): void => {
    offerUndo(`Restored the title as of ${asOf()}`, restore.undoable(props.doc, () => restore.restoreTitle(props.doc, props.old)))
  }
  const buttonText = (i: model.ItemJSON): string =>
    i.kind === 'note' && standings().get(i.id) === 'changed' ? 'Restore this text' : 'Restore this item'

  return (
    <section class="snapshot-view" aria-labelledby="snapshot-as-of" data-testid="snapshot-view" onKeyDown={e => { if (e.key === 'Escape') props.onClose() }}>
      <div class="snapshot-head">
        <h3 id="snapshot-as-of" tabindex="-1" data-testid="history-as-of">As of {asOf()}</h3>
        <button type="button" class="small" onClick={() => props.onClose()} data-testid="history-close-view">Back to the list</button>
      </div>
      <p class="muted snapshot-note">
        Snapshot #{props.seq}, read-only.{props.readOnly ? '' : ' Restoring writes the old content back as a new edit that everyone sees and you can undo.'}
      </p>
      <div class="snapshot-title">
        <span class="kind">Title</span>
        <span class="snapshot-title-text" data-testid="history-title">{was().title === '' ? 'Untitled space' : was().title}</span>
        <Show when={!props.readOnly && titleDiffers()}>
          <button type="button" class="small" onClick={restoreTitle} data-testid="history-restore-title">Restore the title</button>
        </Show>
      </div>
      <Show when={was().items.length > 0} fallback={<p class="muted">The space was empty then.</p>}>
        <ul class="snapshot-items">
          <For each={was().items}>
            {i => (
              <li class="snapshot-item" data-testid="history-item" data-kind={i.kind} data-item-id={i.id}>
                <div class="snapshot-item-head">
                  <span class="kind">{KIND[i.kind]}</span>
                  <span class={`standing ${standings().get(i.id) ?? ''}`} data-testid="history-standing">{STANDING[standings().get(i.id) ?? 'same']}</span>
                  <Show when={!props.readOnly && standings().get(i.id) !== 'same'}>
                    <button type="button" class="small" onClick={() => restoreItem(i)} data-testid="history-restore">{buttonText(i)}</button>
                  </Show>
                </div>
                <Switch>
                  <Match when={i.kind === 'note' && i}>{n => <pre class="snapshot-note-text" data-testid="history-note-text">{n().text}</pre>}</Match>
                  <Match when={i.kind === 'checklist' && i}>
                    {c => (
                      <>
                        <div class="snapshot-item-title">{c().title === '' ? 'Untitled checklist' : c().title}</div>
                        <ul class="snapshot-entries">
                          <For each={c().entries} fallback={<li class="muted">No entries</li>}>
                            {e => (
                              <li class={e.done ? 'done' : ''} data-testid="history-entry" data-done={String(e.done)}>
                                <span aria-hidden="true">{e.done ? '☑' : '☐'}</span>
                                <span class="visually-hidden">{e.done ? 'done: ' : 'not done: '}</span>
                                <span class="snapshot-entry-text">{e.text}</span>
                              </li>
                            )}
                          </For>
                        </ul>
                      </>
                    )}
                  </Match>
                  <Match when={i.kind === 'link' && i}>
                    {l => (
                      <div class="snapshot-link">
                        <div class="snapshot-item-title">{l().title === '' ? l().url : l().title}</div>
                        <div class="muted snapshot-url">{l().url}</div>
                        <Show when={l().note !== ''}><div>{l().note}</div></Show>
                      </div>
                    )}
                  </Match>
                  <Match when={i.kind === 'file' && i}>
                    {f => <div class="snapshot-file"><span class="snapshot-item-title">{f().name}</span> <span class="muted">{formatBytes(f().size)}</span></div>}
                  </Match>
                </Switch>
              </li>
            )}
          </For>
        </ul>
      </Show>
    </section>
  )
}
