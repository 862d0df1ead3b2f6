import { Show, createSignal } from 'solid-js'
import type { Checkpoint } from '../../../shared/checkpoint.js'
import { formatLink, type SpaceSecrets } from '../../../shared/keys.js'

/**
 * The space's links. The key is in the part after '#', which browsers never send to a server;
 * anyone holding the edit link can change the space, the view link can only read it. Each link
 * carries a checkpoint of what this device holds, so a device opening it refuses an older state.
 */
export interface SharePanelProps {
  readonly origin: string
  readonly secrets: SpaceSecrets
  /** What this device verified (Space.checkpoint); absent until the session has started. */
  readonly checkpoint?: Checkpoint | undefined
}

export function SharePanel (props: SharePanelProps) {
  const [copied, setCopied] = createSignal<string | undefined>()
  const edit = (): string | undefined => props.secrets.writeSeed === undefined ? undefined : formatLink(props.origin, props.secrets, 'edit', props.checkpoint)
  const view = (): string => formatLink(props.origin, props.secrets, 'view', props.checkpoint)
  const copy = async (which: string, text: string, input: HTMLInputElement): Promise<void> => {
    try {
      await navigator.clipboard.writeText(text)
      setCopied(which)
    } catch {
      // No clipboard permission (or an insecure origin): select it so Ctrl+C works.
      input.select()
      setCopied(`${which}: press Ctrl+C`)
    }
  }
  let editInput!: HTMLInputElement
  let viewInput!: HTMLInputElement
  return (
    <section class="panel share" aria-label="Share">
      <h2>Share</h2>
      <Show when={edit()}>
        {link => (
          <div class="share-row">
            <label for="edit-link">Edit link: can change everything</label>
            <div class="copy-row">
              <input id="edit-link" readOnly value={link()} ref={editInput} data-testid="edit-link" onFocus={e => e.currentTarget.select()} />
              <button type="button" onClick={() => void copy('Edit link copied', link(), editInput)}>Copy</button>
            </div>
          </div>
        )}
      </Show>
      <div class="share-row">
        <label for="view-link">View-only link: can read, cannot change</label>
        <div class="copy-row">
          <input id="view-link" readOnly value={view()} ref={viewInput} data-testid="view-link" onFocus={e => e.currentTarget.select()} />
          <button type="button" onClick={() => void copy('View link copied', view(), viewInput)}>Copy</button>
        </div>
      </div>
      <Show when={copied()}><p class="muted" role="status">{copied()}</p></Show>
      <p class="muted">The key is the part after “#”: it never reaches the relay. Send links over a channel you trust.</p>
    </section>
  )
}
