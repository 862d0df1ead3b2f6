import * as Y from 'yjs'
import { createIdbSpaceStore } from '../core/idb-store.js'
import * as search from '../core/search.js'
import { listSpaces } from './registry.js'

/**
 * The search indexes of every space opened in this tab (issue 9: search across the spaces on
 * this device). An index stays here after its space is closed, so the others stay searchable
 * offline without reopening their stores; it lives in memory only and is gone with the tab,
 * like the decrypted documents it was built from. Nothing here is stored or sent.
 *
 * The spaces of this device not opened in this tab are read from their local replicas on the
 * first focus of the search box (loadOthers), the way a follower tab reads one (session.ts): offline, read-only,
 * the store closed at once. Those indexes are a snapshot of that moment until the space is opened.
 */
interface Entry { doc: Y.Doc; index: search.SearchIndex; title: () => string }
const spaces = new Map<string, Entry>()

/** The index of `doc`, made on first use; a space reopened with a new doc replaces its old index. */
export function indexFor (spaceId: string, doc: Y.Doc, title: () => string): search.SearchIndex {
  const cur = spaces.get(spaceId)
  if (cur !== undefined && cur.doc === doc) { cur.title = title; return cur.index }
  cur?.index.destroy()
  const index = search.createIndex(doc)
  spaces.set(spaceId, { doc, index, title })
  return index
}

/** Hits in one other space, for the "other spaces" part of the results. */
export interface SpaceHits { readonly id: string; readonly title: string; readonly hits: search.Hit[] }

/** Searches every indexed space except `except` (the open one, searched on its own). */
export function searchOthers (q: string, except: string, limit = 20): SpaceHits[] {
  const out: SpaceHits[] = []
  for (const [id, e] of spaces) {
    if (id === except) continue
    const hits = e.index.query(q, limit)
    if (hits.length > 0) out.push({ id, title: e.title(), hits })
  }
  return out
}

const TAB = Symbol('search')
let loading: Promise<void> | undefined

/**
 * Indexes every space of this device that has no index yet (joined or created since the last
 * call included); one pass at a time. A space whose replica cannot be read is skipped: search is
 * a convenience, never an error.
 */
export function loadOthers (): Promise<void> {
  loading ??= (async () => {
    for (const entry of await listSpaces().catch(() => [])) {
      if (spaces.has(entry.id)) continue
      try {
        const store = createIdbSpaceStore(entry.id)
        const stored = await store.load()
        await store.close()
        if (spaces.has(entry.id)) continue
        const doc = new Y.Doc()
        Y.transact(doc, () => { for (const u of stored.updates) { try { Y.applyUpdate(doc, u, TAB) } catch {} } }, TAB)
        const title = entry.title
        spaces.set(entry.id, { doc, index: search.createIndex(doc), title: () => title })
      } catch {}
    }
  })().finally(() => { loading = undefined })
  return loading
}

/** Forgets a space's index (the space was left). */
export function forget (spaceId: string): void {
  spaces.get(spaceId)?.index.destroy()
  spaces.delete(spaceId)
}
