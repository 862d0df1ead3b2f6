import { For, Show, createSignal } from 'solid-js'
import type { SpaceEntry } from '../registry.js'

/** The start page: spaces joined in this browser, create a space, open a link. */
export interface SpaceListProps {
  readonly spaces: readonly SpaceEntry[]
  readonly onOpen: (id: string) => void
  readonly onCreate: (title: string) => void
  readonly onOpenLink: (link: string) => void
  readonly onExport: (id: string) => void
  /** What the last export of a space from here said: syncing, up to date, or how old the copy was. */
  readonly exportNote?: (id: string) => string | undefined
  readonly onLeave: (id: string) => void
}

export function SpaceList (props: SpaceListProps) {
  const [title, setTitle] = createSignal('')
  const [link, setLink] = createSignal('')
  return (
    <main class="list">
      <section class="panel">
        <h2>New space</h2>
        <form class="inline-form" onSubmit={e => { e.preventDefault(); props.onCreate(title().trim()); setTitle('') }}>
          <input placeholder="Title, e.g. Trip to the lake" aria-label="New space title" value={title()} onInput={e => setTitle(e.currentTarget.value)} data-testid="new-space-title" />
          <button type="submit" data-testid="create-space">Create</button>
        </form>
        <form class="inline-form" onSubmit={e => { e.preventDefault(); props.onOpenLink(link()); setLink('') }}>
          <input placeholder="…or paste an invite link" aria-label="Invite link" value={link()} onInput={e => setLink(e.currentTarget.value)} />
          <button type="submit">Open</button>
        </form>
      </section>
      <section class="panel">
        <h2>Your spaces</h2>
        <Show when={props.spaces.length > 0} fallback={<p class="empty muted" data-testid="no-spaces">No spaces in this browser yet. Create one above (give it a title, or leave it blank), or paste an invite link someone sent you to open theirs.</p>}>
          <ul class="spaces" data-testid="spaces">
            <For each={props.spaces}>
              {s => (
                <li class="space-row">
                  <button type="button" class="link-button" onClick={() => props.onOpen(s.id)}>{s.title || 'Untitled space'}</button>
                  <Show when={s.mode === 'view'}><span class="badge">View only</span></Show>
                  <span class="grow" />
                  <button type="button" class="small" onClick={() => props.onExport(s.id)}>Export</button>
                  <button type="button" class="small danger" onClick={() => props.onLeave(s.id)}>Leave</button>
                  <Show when={props.exportNote?.(s.id)}>
                    {note => <p class="muted export-status" role="status" data-testid="export-status">{note()}</p>}
                  </Show>
                </li>
              )}
            </For>
          </ul>
        </Show>
        <p class="muted">Leaving deletes this browser's copy. The space stays for everyone else who has the link.</p>
      </section>
    </main>
  )
}
