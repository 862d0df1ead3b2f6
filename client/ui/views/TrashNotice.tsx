import { For, Show, createMemo, createSignal } from 'solid-js'
import * as trash from '../../core/trash.js'

/**
 * A banner for what landed in something deleted ("Bob's 2 entries went to Trash with the
 * checklist “Trip”", issue 9), so an edit made offline is never dropped without a word. Dismissed
 * lines stay dismissed on this device; a later arrival changes the line and shows it again.
 */
export interface TrashNoticeProps {
  readonly items: readonly trash.Trashed[]
  readonly onShow: () => void
}

const KEY = 'cove-trash-dismissed'

function loadDismissed (): ReadonlySet<string> {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? '[]') as unknown
    return new Set(Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])
  } catch {
    return new Set()
  }
}

const [dismissed, setDismissed] = createSignal(loadDismissed())

function dismiss (keys: readonly string[]): void {
  // Newest last, a few hundred at most: old lines name things long purged.
  const next = [...dismissed(), ...keys].slice(-300)
  try { localStorage.setItem(KEY, JSON.stringify(next)) } catch {}
  setDismissed(new Set(next))
}

export function TrashNotice (props: TrashNoticeProps) {
  const lines = createMemo(() => props.items
    .flatMap(t => trash.notices(t).map(text => ({ key: `${t.id}:${t.at}:${text}`, text })))
    .filter(l => !dismissed().has(l.key)))
  return (
    <Show when={lines().length > 0}>
      <div class="trash-notice" role="status" data-testid="trash-notice">
        <ul>
          <For each={lines()}>{l => <li>{l.text}.</li>}</For>
        </ul>
        <span class="trash-tools">
          <button type="button" onClick={() => props.onShow()}>Show Trash</button>
          <button type="button" onClick={() => dismiss(lines().map(l => l.key))}>Dismiss</button>
        </span>
      </div>
    </Show>
  )
}
