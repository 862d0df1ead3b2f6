import { For, Show } from 'solid-js'
import type { SpaceEntry } from '../registry.js'
import { byName, spaceName } from './QuickSwitcher.js'

/**
 * The spaces of this browser beside the open one (issue 9, Layout): a column on a wide screen, a
 * drawer on a phone (`open`). Ordered by title, so a row stays where it was when it is opened.
 */
export interface SidebarProps {
  readonly spaces: readonly SpaceEntry[]
  /** The open space, highlighted. */
  readonly current: string | undefined
  /** Phone width only: the drawer is shown. */
  readonly open: boolean
  readonly onOpen: (id: string) => void
  readonly onList: () => void
  readonly onClose: () => void
}

export function Sidebar (props: SidebarProps) {
  return (
    <>
      <Show when={props.open}><div class="drawer-backdrop" onClick={() => props.onClose()} /></Show>
      <nav id="sidebar" class="sidebar" classList={{ open: props.open }} aria-label="Your spaces" data-testid="sidebar">
        <h2 class="sidebar-head">Spaces</h2>
        <Show when={props.spaces.length > 0} fallback={<p class="muted sidebar-empty">None yet. Create a space or open an invite link from the start page.</p>}>
          <ul class="sidebar-list">
            <For each={byName(props.spaces)}>
              {s => (
                <li>
                  <a
                    href={`#/s/${s.id}`}
                    class="sidebar-space"
                    aria-current={props.current === s.id ? 'page' : undefined}
                    onClick={e => { e.preventDefault(); props.onOpen(s.id) }}
                    data-testid="sidebar-space"
                  >{spaceName(s)}</a>
                </li>
              )}
            </For>
          </ul>
        </Show>
        <a href="#/" class="sidebar-new" onClick={e => { e.preventDefault(); props.onList() }}>+ New space or link</a>
      </nav>
    </>
  )
}
