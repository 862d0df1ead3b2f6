import { For, Show } from 'solid-js'
import { dismissToast, toasts } from '../toasts.js'

/** The toasts of toasts.ts, at the bottom of the screen; an action runs once and closes its toast. */
export function Toasts () {
  return (
    <div class="toasts" aria-live="polite">
      <For each={toasts()}>
        {t => (
          <div class="toast" role="status" data-testid="toast">
            <span class="toast-text">{t.message}</span>
            <Show when={t.action}>
              {a => <button type="button" onClick={() => { dismissToast(t.id); a().run() }}>{a().label}</button>}
            </Show>
            <button type="button" class="icon" aria-label="Dismiss" onClick={() => dismissToast(t.id)}>✕</button>
          </div>
        )}
      </For>
    </div>
  )
}
