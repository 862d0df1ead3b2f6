import * as Y from 'yjs'
import * as model from './model.js'

/**
 * The Trash (issue 9): deleting an item or a checklist entry marks it instead of removing it from
 * the document, so what others add to it or change in it at the same moment (offline, say) is
 * kept, can be shown ("Bob's 2 entries went to Trash with the checklist"), and comes back with a
 * restore. Removing it for good is a separate step: "Delete forever", or the purge after KEEP_MS.
 *
 *   trashed: { at: ms since epoch, by: the deleter's name, seen: { [clientID]: clock } }
 *
 * One value under one key, so a delete and a restore made at the same moment resolve like any
 * Y.Map key: every replica ends the same, with the item shown or in the Trash, never lost.
 *
 * `seen` is how much the deleting device had of every client that had written inside the item.
 * Anything inside it by a client missing there, or at a clock past it, arrived after the delete.
 * This is causal, so it holds when a device's clock is wrong or it was offline for days, where
 * comparing timestamps would not. Only insertions and values set are seen this way: Yjs keeps
 * deletions as a set without authors, so a text deleted inside a trashed note is not noticed.
 */

/** How long the Trash keeps things before any editor's app removes them for good. */
export const KEEP_MS = 30 * 24 * 60 * 60 * 1000

export interface Mark {
  readonly at: number
  readonly by: string
  /** Undefined when the mark carries none (written by something other than this module). */
  readonly seen: ReadonlyMap<number, number> | undefined
}

/** The mark on `m`, read defensively: any member may have written anything there. */
export function mark (m: Y.Map<unknown>): Mark | undefined {
  if (!model.isTrashed(m)) return undefined
  const t = m.get('trashed') as Record<string, unknown>
  const at = typeof t.at === 'number' && Number.isFinite(t.at) ? t.at : 0
  const by = typeof t.by === 'string' ? t.by.slice(0, 64) : ''
  let seen: Map<number, number> | undefined
  if (typeof t.seen === 'object' && t.seen !== null) {
    seen = new Map()
    for (const [k, v] of Object.entries(t.seen)) {
      const client = Number(k)
      if (Number.isInteger(client) && client >= 0 && typeof v === 'number') seen.set(client, v)
    }
  }
  return { at, by, seen }
}

/** Keys that say where a thing is shown or whether it is trashed, not what it holds. */
const META = new Set(['trashed', 'pos'])

/**
 * Visits every struct inside `type`: every value ever set on a map key (the older ones hang off
 * `left`), every run of a list or text, deleted ones too, descending into nested types while `f`
 * returns true. Uses Yjs 13's `_map` and `_start`, which y-prosemirror and others rely on as well.
 */
function eachItem (type: Y.AbstractType<unknown>, f: (it: Y.Item) => boolean): void {
  const visit = (it: Y.Item): void => {
    if (f(it) && it.content instanceof Y.ContentType) eachItem(it.content.type as Y.AbstractType<unknown>, f)
  }
  for (const [key, last] of type._map) {
    if (META.has(key)) continue
    for (let it: Y.Item | null = last; it !== null; it = it.left) visit(it)
  }
  for (let it = type._start; it !== null; it = it.right) visit(it)
}

/** True when part of `it` was written after the state `seen` recorded. */
const unseen = (seen: ReadonlyMap<number, number>, it: Y.Item): boolean => it.id.clock + it.length > (seen.get(it.id.client) ?? 0)

function stamp (doc: Y.Doc, m: Y.Map<unknown>, by: string, now: number): void {
  const seen: Record<string, number> = {}
  eachItem(m as Y.AbstractType<unknown>, it => {
    seen[it.id.client] ??= Y.getState(doc.store, it.id.client)
    return true
  })
  m.set('trashed', { at: now, by: by.slice(0, 64), seen })
}

/** Moves an item (any kind) to the Trash; false when there is none by that id or it is there already. */
export function trashItem (doc: Y.Doc, id: string, by: string, now = Date.now()): boolean {
  const m = model.findItem(doc, id)
  if (m === undefined || model.isTrashed(m)) return false
  doc.transact(() => stamp(doc, m, by, now))
  return true
}

/** Moves a checklist entry shown in the space to the Trash; false when there is no such entry. */
export function trashEntry (doc: Y.Doc, id: string, by: string, now = Date.now()): boolean {
  const e = model.findTodo(doc, id)
  if (e === undefined) return false
  doc.transact(() => stamp(doc, e, by, now))
  return true
}

/** Every checklist entry map in the space, trashed or not, with its checklist. */
function* allEntries (doc: Y.Doc): Generator<[Y.Map<unknown>, Y.Map<unknown>]> {
  for (const list of model.itemMaps(doc)) {
    if (list.get('kind') !== 'checklist') continue
    for (const e of model.checklistEntries(list)?.toArray() ?? []) if (e instanceof Y.Map) yield [e, list]
  }
}

function findAnywhere (doc: Y.Doc, id: string): { m: Y.Map<unknown>; list?: Y.Map<unknown> } | undefined {
  const item = model.findItem(doc, id)
  if (item !== undefined) return { m: item }
  for (const [e, list] of allEntries(doc)) if (e.get('id') === id) return { m: e, list }
  return undefined
}

/** Takes an item or entry out of the Trash, with everything added to it meanwhile; false when it is not there. */
export function restore (doc: Y.Doc, id: string): boolean {
  const hit = findAnywhere(doc, id)
  if (hit === undefined || !model.isTrashed(hit.m)) return false
  doc.transact(() => hit.m.delete('trashed'))
  return true
}

/** Removes a trashed item or entry from the document for good; false when it is not in the Trash. */
export function deleteForever (doc: Y.Doc, id: string): boolean {
  const hit = findAnywhere(doc, id)
  if (hit === undefined || !model.isTrashed(hit.m)) return false
  return hit.list === undefined ? model.removeItem(doc, id) : model.removeTodo(doc, hit.list, id)
}

/**
 * Removes for good what has been in the Trash longer than `keep`, so the document does not grow
 * forever; any editor's app may do it (a wrong clock there only makes it early or late). Returns
 * how many things went.
 */
export function purge (doc: Y.Doc, now = Date.now(), keep = KEEP_MS): number {
  const old = (m: Y.Map<unknown>): boolean => (mark(m)?.at ?? Infinity) + keep <= now
  const items = model.itemMaps(doc).filter(old).map(m => String(m.get('id')))
  const entries = [...allEntries(doc)].filter(([e, list]) => old(e) && !old(list))
  if (items.length + entries.length === 0) return 0
  doc.transact(() => {
    for (const [e, list] of entries) model.removeTodo(doc, list, String(e.get('id')))
    for (const id of items) model.removeItem(doc, id)
  })
  return items.length + entries.length
}

/** Entries added to a trashed checklist after it was deleted, by who added them. */
export interface Landed { readonly by: string; readonly count: number }

/** One thing in the Trash, as the Trash view and `notices` show it. */
export interface Trashed {
  readonly id: string
  readonly kind: model.ItemKind | 'unknown' | 'entry'
  /** What a person recognises it by: a title, a note's first line, a file name, an entry's text. */
  readonly label: string
  readonly at: number
  readonly by: string
  /** For an entry: its checklist. */
  readonly list: { readonly id: string; readonly title: string } | undefined
  readonly late: readonly Landed[]
  /** Something else inside it (text, a tick) was written after the delete. */
  readonly changed: boolean
}

const str = (v: unknown): string => v instanceof Y.Text ? v.toString() : typeof v === 'string' ? v : ''
const KINDS = new Set<string>(['note', 'link', 'checklist', 'file'])

function labelOf (m: Y.Map<unknown>): string {
  switch (m.get('kind')) {
    case 'note': return (str(m.get('text')).split('\n').find(l => l.trim() !== '') ?? '').trim().slice(0, 80)
    case 'link': return str(m.get('title')) || str(m.get('url'))
    case 'checklist': return str(m.get('title'))
    case 'file': return str(m.get('name'))
    default: return ''
  }
}

/** What arrived inside `m` after the delete its mark records. */
function landed (m: Y.Map<unknown>, mk: Mark): { late: Landed[]; changed: boolean } {
  const seen = mk.seen
  if (seen === undefined) return { late: [], changed: false }
  const lateEntries = new Set<unknown>()
  const counts = new Map<string, number>()
  const entries = m.get('kind') === 'checklist' ? model.checklistEntries(m) : undefined
  for (const e of entries?.toArray() ?? []) {
    if (!(e instanceof Y.Map) || e._item === null || model.isTrashed(e) || !unseen(seen, e._item)) continue
    lateEntries.add(e)
    const by = str(e.get('by'))
    counts.set(by, (counts.get(by) ?? 0) + 1)
  }
  let changed = false
  eachItem(m as Y.AbstractType<unknown>, it => {
    if (changed || (it.content instanceof Y.ContentType && lateEntries.has(it.content.type))) return false
    changed = unseen(seen, it)
    return !changed
  })
  return { late: [...counts].map(([by, count]) => ({ by, count })), changed }
}

/** Everything in the Trash, most recently deleted first; entries of a trashed checklist go with it. */
export function list (doc: Y.Doc): Trashed[] {
  const out: Trashed[] = []
  for (const m of model.itemMaps(doc)) {
    const mk = mark(m)
    const id = str(m.get('id'))
    const kind = String(m.get('kind'))
    if (mk !== undefined) {
      out.push({ id, kind: KINDS.has(kind) ? kind as model.ItemKind : 'unknown', label: labelOf(m), at: mk.at, by: mk.by, list: undefined, ...landed(m, mk) })
      continue
    }
    if (kind !== 'checklist') continue
    for (const e of model.checklistEntries(m)?.toArray() ?? []) {
      const em = e instanceof Y.Map ? mark(e) : undefined
      if (em === undefined) continue
      out.push({ id: str(e.get('id')), kind: 'entry', label: str(e.get('text')), at: em.at, by: em.by, list: { id, title: labelOf(m) }, ...landed(e, em) })
    }
  }
  return out.sort((a, b) => b.at - a.at)
}

const WHAT: Record<Trashed['kind'], string> = { note: 'the note', link: 'the link', checklist: 'the checklist', file: 'the file', unknown: 'the item', entry: 'the entry' }

/** "the checklist “Trip”": how notices name a trashed thing. */
export function describe (t: Pick<Trashed, 'kind' | 'label'>): string {
  return t.label === '' ? WHAT[t.kind] : `${WHAT[t.kind]} “${t.label}”`
}

/**
 * Plain sentences for what landed in `t` after it was deleted: "Bob's 2 entries went to Trash
 * with the checklist “Trip”", one per person, then one for other changes. Empty when nothing did.
 */
export function notices (t: Trashed): string[] {
  const lines = t.late.map(l => `${l.by === '' ? 'Someone' : l.by}'s ${l.count} ${l.count === 1 ? 'entry' : 'entries'} went to Trash with ${describe(t)}`)
  if (t.changed) lines.push(`A change made after ${describe(t)} was deleted went to Trash with it`)
  return lines
}
