import { createStore, reconcile, type Store } from 'solid-js/store'
import { onCleanup } from 'solid-js'
import * as Y from 'yjs'
import * as model from '../core/model.js'
import * as trash from '../core/trash.js'

/**
 * The one bridge from a Y.Doc to Solid (STYLE.md §Solid): the doc is observed deeply and each
 * change is projected to plain data and `reconcile`d into a store, so Solid updates only the
 * parts that changed and components read `store.items[i].title` like any store.
 *
 * Note bodies are left out: their editor binds to the Y.Text directly (y-codemirror.next), and
 * projecting a 100 K-character note on every keystroke would cost more than the edit itself.
 * Changes inside one task are projected once (queueMicrotask).
 *
 * Ref-counted per doc: every component that asks for the store of a doc shares one observer,
 * removed with `onCleanup` when the last of them goes.
 */
export interface EntryView { id: string; text: string; done: boolean }
export interface ItemView {
  id: string
  kind: model.ItemKind | 'unknown'
  created: number
  /** Link and checklist title. */
  title: string
  url: string
  note: string
  entries: EntryView[]
  name: string
  size: number
  mime: string
  hasThumb: boolean
  /** A file's adder (their name) and whether the relay lacks its blob yet (model.ts). */
  from: string
  pending: boolean
}
/** `items` is what the space shows; `trash` what is in its Trash (client/core/trash.ts). */
export interface SpaceView { title: string; items: ItemView[]; trash: trash.Trashed[] }

const str = (v: unknown): string => v instanceof Y.Text ? v.toString() : typeof v === 'string' ? v : ''
const num = (v: unknown): number => typeof v === 'number' && Number.isFinite(v) ? v : 0
const KINDS = new Set<string>(['note', 'link', 'checklist', 'file'])

/** Plain data for the UI; unknown kinds (from a newer version) are shown as such, never dropped from order. */
export function project (doc: Y.Doc): SpaceView {
  const items: ItemView[] = []
  for (const m of model.orderedItems(doc)) {
    const kind = String(m.get('kind'))
    const entries = m.get('entries')
    items.push({
      id: str(m.get('id')),
      kind: KINDS.has(kind) ? kind as model.ItemKind : 'unknown',
      created: num(m.get('created')),
      title: kind === 'link' || kind === 'checklist' ? str(m.get('title')) : '',
      url: str(m.get('url')),
      note: kind === 'link' ? str(m.get('note')) : '',
      entries: entries instanceof Y.Array
        ? model.orderedEntries(entries as Y.Array<Y.Map<unknown>>).map(e => ({ id: str(e.get('id')), text: str(e.get('text')), done: e.get('done') === true }))
        : [],
      name: str(m.get('name')),
      size: num(m.get('size')),
      mime: str(m.get('mime')),
      hasThumb: m.get('thumb') instanceof Uint8Array,
      from: kind === 'file' ? str(m.get('from')) : '',
      pending: kind === 'file' && m.get('pending') === true
    })
  }
  return { title: model.title(doc).toString(), items, trash: trash.list(doc) }
}

interface Shared { store: Store<SpaceView>; refs: number; stop: () => void }
const shared = new WeakMap<Y.Doc, Shared>()

/** The reactive view of `doc`; call inside a component or root (it registers an onCleanup). */
export function useSpaceView (doc: Y.Doc): SpaceView {
  let s = shared.get(doc)
  if (s === undefined) {
    const [store, setStore] = createStore<SpaceView>(project(doc))
    let queued = false
    const refresh = (): void => {
      queued = false
      setStore(reconcile(project(doc), { key: 'id', merge: false }))
    }
    const onChange = (): void => {
      if (queued) return
      queued = true
      queueMicrotask(refresh)
    }
    const items = model.items(doc)
    const title = model.title(doc)
    items.observeDeep(onChange)
    title.observe(onChange)
    const entry: Shared = {
      store,
      refs: 0,
      stop: () => { items.unobserveDeep(onChange); title.unobserve(onChange); shared.delete(doc) }
    }
    shared.set(doc, entry)
    s = entry
  }
  const mine = s
  mine.refs++
  onCleanup(() => {
    if (--mine.refs === 0) mine.stop()
  })
  return mine.store
}
