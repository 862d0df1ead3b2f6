import { For } from 'solid-js'
import * as shortcuts from '../shortcuts.js'
import { Dialog } from './Dialog.js'

/** The keyboard shortcuts sheet ("?"): the list comes from shortcuts.ts, so it cannot drift from the keys. */
export function ShortcutsHelp (props: { readonly onClose: () => void }) {
  return (
    <Dialog label="Keyboard shortcuts" class="sheet" testId="shortcuts" onClose={props.onClose}>
      <div class="dialog-head">
        <h2>Keyboard shortcuts</h2>
        <button type="button" class="icon" aria-label="Close" onClick={e => e.currentTarget.closest('dialog')?.close()}>✕</button>
      </div>
      <dl class="shortcut-list">
        <For each={shortcuts.list()}>
          {s => (
            <>
              <dt><kbd>{s.keys}</kbd></dt>
              <dd>{s.does}</dd>
            </>
          )}
        </For>
      </dl>
    </Dialog>
  )
}
