import { For, Show } from 'solid-js'
import type * as Y from 'yjs'
import * as trash from '../../core/trash.js'

/**
 * The space's Trash (issue 9): what was deleted, by whom and when, and what landed in it after
 * the delete ("Bob's 2 entries went to Trash with the checklist"); Restore brings it back with
 * all of that, Delete forever removes it from the document. Viewers see it without the buttons.
 */
export interface TrashPanelProps {
  readonly doc: Y.Doc
  readonly items: readonly trash.Trashed[]
  readonly readOnly: boolean
}

const KIND: Record<trash.Trashed['kind'], string> = { note: 'Note', checklist: 'Checklist', link: 'Link', file: 'File', unknown: 'Item', entry: 'Entry' }
const DAYS = Math.round(trash.KEEP_MS / 86_400_000)

/** "just now", "5 min ago", "3 h ago", else the date: how long ago something went to Trash. */
function ago (t: number, now = Date.now()): string {
  const s = Math.max(0, (now - t) / 1000)
  if (t === 0) return 'at an unknown time'
  if (s < 60) return 'just now'
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`
  return new Date(t).toLocaleDateString()
}

export function TrashPanel (props: TrashPanelProps) {
  const forever = (t: trash.Trashed): void => {
    if (confirm(`Delete ${trash.describe(t)} forever? This cannot be undone, for anyone.`)) trash.deleteForever(props.doc, t.id)
  }
  return (
    <section class="panel trash" aria-label="Trash" data-testid="trash">
      <h2>Trash</h2>
      <p class="muted">Deleted items and entries stay here for {DAYS} days, with anything added to them meanwhile, then go for good.</p>
      <Show when={props.items.length > 0} fallback={<p class="muted" data-testid="trash-empty">The Trash is empty.</p>}>
        <ul class="trash-list">
          <For each={props.items}>
            {t => (
              <li class="trash-row" data-testid="trash-row" data-item-id={t.id}>
                <div class="trash-what">
                  <span class="kind">{KIND[t.kind]}</span>
                  <span class="trash-label">{t.label === '' ? 'Untitled' : t.label}</span>
                  <Show when={t.list}>{l => <span class="muted">in {l().title === '' ? 'a checklist' : `“${l().title}”`}</span>}</Show>
                </div>
                <div class="muted trash-when">Deleted by {t.by === '' ? 'someone' : t.by} · {ago(t.at)}</div>
                <For each={trash.notices(t)}>{line => <div class="trash-late" data-testid="trash-late">{line}</div>}</For>
                <Show when={!props.readOnly}>
                  <span class="trash-tools">
                    <button type="button" onClick={() => trash.restore(props.doc, t.id)}>Restore</button>
                    <button type="button" class="danger" onClick={() => forever(t)}>Delete forever</button>
                  </span>
                </Show>
              </li>
            )}
          </For>
        </ul>
      </Show>
    </section>
  )
}
