import { For, Show, createMemo, createSignal } from 'solid-js'
import type { SpaceEntry } from '../registry.js'
import { Dialog } from './Dialog.js'

/** A space's title as lists show it. */
export const spaceName = (s: SpaceEntry): string => s.title.trim() || 'Untitled space'

/** Spaces in a stable order (by title), so a list does not reshuffle as spaces are opened. */
export const byName = (spaces: readonly SpaceEntry[]): SpaceEntry[] =>
  [...spaces].sort((a, b) => spaceName(a).localeCompare(spaceName(b)) || a.id.localeCompare(b.id))

/**
 * The spaces whose title holds every word typed, in any case and order; those starting with the
 * first word come first, since that is what people type when they know the name.
 */
export function filterSpaces (spaces: readonly SpaceEntry[], query: string): SpaceEntry[] {
  const words = query.toLocaleLowerCase().split(/\s+/).filter(w => w !== '')
  const hits = byName(spaces).filter(s => { const n = spaceName(s).toLocaleLowerCase(); return words.every(w => n.includes(w)) })
  const first = words[0]
  if (first === undefined) return hits
  const starts = (s: SpaceEntry): number => spaceName(s).toLocaleLowerCase().startsWith(first) ? 0 : 1
  return hits.sort((a, b) => starts(a) - starts(b))
}

/** The quick switcher (Ctrl/Cmd+P): type part of a space's title, arrows choose, Enter opens. */
export function QuickSwitcher (props: { readonly spaces: readonly SpaceEntry[]; readonly onOpen: (id: string) => void; readonly onClose: () => void }) {
  const [query, setQuery] = createSignal('')
  const [chosen, setChosen] = createSignal(0)
  const hits = createMemo(() => filterSpaces(props.spaces, query()))
  const open = (s: SpaceEntry | undefined): void => { if (s !== undefined) { props.onOpen(s.id); props.onClose() } }
  const move = (by: number): void => { const n = hits().length; if (n > 0) setChosen(i => (i + by + n) % n) }
  return (
    <Dialog label="Open a space" class="switcher" testId="switcher" onClose={props.onClose}>
      <input
        type="text"
        role="combobox"
        aria-expanded="true"
        aria-controls="switcher-list"
        aria-activedescendant={hits().length > 0 ? `switcher-${chosen()}` : undefined}
        aria-label="Space title"
        placeholder="Go to a space…"
        autofocus
        value={query()}
        onInput={e => { setQuery(e.currentTarget.value); setChosen(0) }}
        onKeyDown={e => {
          if (e.key === 'ArrowDown') { e.preventDefault(); move(1) } else if (e.key === 'ArrowUp') { e.preventDefault(); move(-1) } else if (e.key === 'Enter') { e.preventDefault(); open(hits()[chosen()]) }
        }}
        data-testid="switcher-input"
      />
      <Show when={hits().length > 0} fallback={<p class="muted switcher-none">{props.spaces.length === 0 ? 'No spaces in this browser yet: create one on the start page, or open an invite link.' : `No space titled “${query()}”.`}</p>}>
        <ul id="switcher-list" role="listbox" class="switcher-list" aria-label="Spaces">
          <For each={hits()}>
            {(s, i) => (
              <li id={`switcher-${i()}`} role="option" aria-selected={i() === chosen()} class="switcher-option" onClick={() => open(s)} onMouseMove={() => setChosen(i())}>{spaceName(s)}</li>
            )}
          </For>
        </ul>
      </Show>
    </Dialog>
  )
}
