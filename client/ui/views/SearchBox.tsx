import { For, Show, createMemo, createSignal, onCleanup, onMount } from 'solid-js'
import type * as Y from 'yjs'
import type * as search from '../../core/search.js'
import { go } from '../router.js'
import { indexFor, loadOthers, searchOthers } from '../search-spaces.js'

/**
 * The search box of a space page (issue 9): as you type, matches in this space and in the other
 * spaces opened in this tab, the matched words in <mark>. Offline and local: it queries the
 * in-memory index (client/core/search.ts), never the relay; the other spaces of this device are
 * read from their local replicas on first focus (search-spaces.ts). Results follow the doc, so a word
 * another member types shows up as it arrives. Ctrl/Cmd+K focuses the box.
 */
/** `title` names this space in other spaces' results (it is the live title). */
export interface SearchBoxProps {
  readonly spaceId: string
  readonly doc: Y.Doc
  readonly title: string
}

const FIELD: Record<search.Field, string> = { text: 'Note', title: 'Title', url: 'URL', note: 'Link note', name: 'File', entry: 'Entry' }

/** `snippet` with each range wrapped in <mark>. */
function Highlighted (props: { hit: search.Hit }) {
  const parts = createMemo(() => {
    const out: Array<{ text: string; mark: boolean }> = []
    let at = 0
    for (const [a, b] of props.hit.ranges) {
      if (a > at) out.push({ text: props.hit.snippet.slice(at, a), mark: false })
      out.push({ text: props.hit.snippet.slice(a, b), mark: true })
      at = b
    }
    if (at < props.hit.snippet.length) out.push({ text: props.hit.snippet.slice(at), mark: false })
    return out
  })
  return <For each={parts()}>{p => p.mark ? <mark>{p.text}</mark> : p.text}</For>
}

/** The box and its results; see the comment above SearchBoxProps. */
export function SearchBox (props: SearchBoxProps) {
  let input: HTMLInputElement | undefined
  const [q, setQ] = createSignal('')
  // Bumped on every doc change (at most once a task), so open results follow remote edits.
  const [version, setVersion] = createSignal(0)
  // Built on first use, not on opening the page: 10,000 items take ~0.6 s to index (bench/search.ts).
  const index = (): search.SearchIndex => indexFor(props.spaceId, props.doc, () => props.title)
  let queued = false
  const onUpdate = (): void => {
    if (queued) return
    queued = true
    queueMicrotask(() => { queued = false; setVersion(v => v + 1) })
  }
  onMount(() => {
    props.doc.on('update', onUpdate)
    const onKey = (e: KeyboardEvent): void => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') { e.preventDefault(); input?.focus(); input?.select() }
    }
    addEventListener('keydown', onKey)
    onCleanup(() => { props.doc.off('update', onUpdate); removeEventListener('keydown', onKey) })
  })
  const here = createMemo(() => { version(); return q().trim() === '' ? [] : index().query(q()) })
  const others = createMemo(() => { version(); return q().trim() === '' ? [] : searchOthers(q(), props.spaceId) })
  const show = (id: string): void => {
    const el = document.querySelector<HTMLElement>(`[data-item-id="${CSS.escape(id)}"]`)
    el?.scrollIntoView({ block: 'center' })
  }

  return (
    <div class="search" role="search">
      <input
        ref={input}
        type="search"
        placeholder="Search (Ctrl+K)"
        aria-label="Search this space and your other spaces"
        value={q()}
        onInput={e => setQ(e.currentTarget.value)}
        // This space first, so loadOthers does not read its replica; the others' once per tab.
        onFocus={() => { index(); void loadOthers().then(() => setVersion(v => v + 1)) }}
        onKeyDown={e => { if (e.key === 'Escape') setQ('') }}
        data-testid="search"
      />
      <Show when={q().trim() !== ''}>
        <ul class="search-results" data-testid="search-results">
          <For each={here()}>
            {h => (
              <li><button type="button" class="search-hit" onClick={() => show(h.item)} data-testid="search-hit">
                <span class="muted">{FIELD[h.field]}</span> <Highlighted hit={h} />
              </button></li>
            )}
          </For>
          <Show when={here().length === 0}><li class="muted">Nothing in this space.</li></Show>
          <For each={others()}>
            {s => (
              <For each={s.hits}>
                {h => (
                  <li><button type="button" class="search-hit" onClick={() => go({ page: 'space', id: s.id })} data-testid="search-hit-other">
                    <span class="muted">{s.title || 'Untitled space'} · {FIELD[h.field]}</span> <Highlighted hit={h} />
                  </button></li>
                )}
              </For>
            )}
          </For>
        </ul>
      </Show>
    </div>
  )
}
