import * as Y from 'yjs'

/**
 * The content model of a space, defined once and shared by the CLI and the web app.
 *
 *   doc.getText('title')                      the space title
 *   doc.getArray<Y.Map>('items')              items; shown by `pos` (newest first), see orderedItems
 *     note:      { id, kind: 'note', created, text: Y.Text (Markdown; plain text from before is valid Markdown:
 *                  markdown.ts, PROTOCOL.md "Notes are Markdown"; images as ![name](cove-file:<file item id>)) }
 *     link:      { id, kind: 'link', created, url: Y.Text (a plain string in links made before issue 9), title: Y.Text, note: Y.Text }
 *     checklist: { id, kind: 'checklist', created, title: Y.Text, entries: Y.Array<Y.Map{ id, text: Y.Text, done: boolean, by?: name, created? }> }
 *     file:      { id, kind: 'file', created, name, size, mime, blob: hex id, key: b64u, chunk: number, thumb?: Uint8Array (JPEG),
 *                  from?: string, pending?: true }
 *   any item or entry may also hold `trashed: { at, by, seen }`: it is in the Trash (client/core/trash.ts).
 *
 * Deleting puts an item or entry in the Trash instead of removing it (issue 9): an edit someone
 * makes inside it at the same moment, offline say, is kept and can be restored with it. Items
 * removed the old way (by members before the Trash) are simply gone; nothing here needs them.
 *
 * A file's bytes live on the relay as an encrypted blob; its name, type, key and thumbnail live
 * only here, inside the encrypted document (client/core/files.ts). A file is listed as soon as it
 * is added, before the relay has it (issue 9.5): `pending` says its blob is still on the device of
 * `from` (the adder's name), which removes the mark once the relay has it. Items without the
 * mark (all made before issue 9.5) were added only once uploaded.
 *
 * The first checklist is "the space's checklist" that `add-todo` appends to.
 */
export type ItemKind = 'note' | 'link' | 'checklist' | 'file'

/** Present only on what is in the Trash (`cat --trash`): when and by whom it was deleted. */
export interface TrashedJSON { trashed?: { at: number; by: string } }
export type TodoJSON = { id: string; text: string; done: boolean; by?: string } & TrashedJSON
export type ItemJSON = (
  | { id: string; kind: 'note'; created: number; text: string }
  | { id: string; kind: 'link'; created: number; url: string; title: string; note: string }
  | { id: string; kind: 'checklist'; created: number; title: string; entries: TodoJSON[] }
  | { id: string; kind: 'file'; created: number; name: string; size: number; mime: string; blob: string; key: string; chunk: number; from?: string; pending?: true }
) & TrashedJSON
export interface SpaceJSON { title: string; items: ItemJSON[] }

export const title = (doc: Y.Doc): Y.Text => doc.getText('title')
export const items = (doc: Y.Doc): Y.Array<Y.Map<unknown>> => doc.getArray('items')

/** Short random ids, unique enough within a space and easy to type in the CLI. */
export function newId (): string {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(6))
  return Array.from(b, x => x.toString(36).padStart(2, '0')).join('').slice(0, 8)
}

function text (s: string): Y.Text {
  const t = new Y.Text()
  if (s !== '') t.insert(0, s)
  return t
}

export function setTitle (doc: Y.Doc, s: string): void {
  doc.transact(() => {
    const t = title(doc)
    t.delete(0, t.length)
    t.insert(0, s)
  })
}

export function addNote (doc: Y.Doc, body: string): string {
  const id = newId()
  const m = new Y.Map<unknown>()
  m.set('id', id); m.set('kind', 'note'); m.set('created', Date.now()); m.set('text', text(body))
  m.set('pos', nextPos(orderedItems(doc), 1))
  items(doc).insert(0, [m])
  return id
}

export function addLink (doc: Y.Doc, url: string, linkTitle = '', note = ''): string {
  const id = newId()
  const m = new Y.Map<unknown>()
  // A Y.Text, like every field people type in, so two people editing it merge (issue 9).
  m.set('id', id); m.set('kind', 'link'); m.set('created', Date.now()); m.set('url', text(url))
  m.set('title', text(linkTitle)); m.set('note', text(note))
  m.set('pos', nextPos(orderedItems(doc), 1))
  items(doc).insert(0, [m])
  return id
}

export function addChecklist (doc: Y.Doc, listTitle = 'Checklist'): string {
  const id = newId()
  const m = new Y.Map<unknown>()
  m.set('id', id); m.set('kind', 'checklist'); m.set('created', Date.now())
  m.set('title', text(listTitle)); m.set('entries', new Y.Array<Y.Map<unknown>>())
  m.set('pos', nextPos(orderedItems(doc), 1))
  items(doc).insert(0, [m])
  return id
}

/** Items as written by any member: a hostile or older member may have put anything in the array. */
export const itemMaps = (doc: Y.Doc): Array<Y.Map<unknown>> => items(doc).toArray().filter((m): m is Y.Map<unknown> => m instanceof Y.Map)

/**
 * In the Trash: hidden from the space, kept in the document so what others add to it meanwhile
 * is not lost. Any object under `trashed` counts (trash.ts reads it defensively).
 */
export function isTrashed (m: Y.Map<unknown>): boolean {
  const t = m.get('trashed')
  return typeof t === 'object' && t !== null
}

/** Finds an item by id, in the space or in the Trash. */
export function findItem (doc: Y.Doc, id: string): Y.Map<unknown> | undefined {
  return itemMaps(doc).find(m => m.get('id') === id)
}

/** The space's checklist: the first well-formed checklist item, made on first use. */
export function spaceChecklist (doc: Y.Doc): Y.Map<unknown> {
  const found = orderedItems(doc).find(m => m.get('kind') === 'checklist' && checklistEntries(m) !== undefined)
  if (found !== undefined) return found
  return findItem(doc, addChecklist(doc))!
}

/**
 * Appends an entry to `list` (default: the space's checklist). `by` names who added it, so that
 * entries landing in a checklist someone deleted meanwhile can be told apart ("Bob's 2 entries").
 */
export function addTodo (doc: Y.Doc, body: string, list?: Y.Map<unknown>, by?: string): string {
  const id = newId()
  doc.transact(() => {
    const entries = checklistEntries(list ?? spaceChecklist(doc)) ?? checklistEntries(spaceChecklist(doc))!
    const m = new Y.Map<unknown>()
    m.set('id', id); m.set('text', text(body)); m.set('done', false); m.set('created', Date.now())
    if (by !== undefined && by !== '') m.set('by', by)
    m.set('pos', nextPos(orderedEntries(entries), 1))
    entries.push([m])
  })
  return id
}

/** Finds a checklist entry shown in the space (not in the Trash, nor in a trashed checklist). */
export function findTodo (doc: Y.Doc, id: string): Y.Map<unknown> | undefined {
  for (const item of orderedItems(doc)) {
    if (item.get('kind') !== 'checklist') continue
    const entries = checklistEntries(item)
    const hit = entries === undefined ? undefined : orderedEntries(entries).find(e => e.get('id') === id)
    if (hit !== undefined) return hit
  }
  return undefined
}

export function setDone (doc: Y.Doc, id: string, done = true): boolean {
  const t = findTodo(doc, id)
  if (t === undefined) return false
  t.set('done', done)
  return true
}

const str = (v: unknown): string => v instanceof Y.Text ? v.toString() : typeof v === 'string' ? v : ''
const num = (v: unknown): number => typeof v === 'number' ? v : 0

/** `{ trashed: { at, by } }` for what is in the Trash, else nothing (so plain output is unchanged). */
function trashedJSON (m: Y.Map<unknown>): TrashedJSON {
  if (!isTrashed(m)) return {}
  const t = m.get('trashed') as Record<string, unknown>
  return { trashed: { at: num(t.at), by: str(t.by) } }
}

/**
 * The whole space as plain JSON (what `cove cat` prints); unknown item kinds are skipped. What
 * is in the Trash is left out unless `opts.trash`, then included and marked `trashed`.
 */
export function toJSON (doc: Y.Doc, opts: { trash?: boolean } = {}): SpaceJSON {
  const out: ItemJSON[] = []
  const all = opts.trash === true
  for (const m of all ? ordered(itemMaps(doc), -1) : orderedItems(doc)) {
    const id = str(m.get('id'))
    const created = num(m.get('created'))
    const marked = trashedJSON(m)
    switch (m.get('kind')) {
      case 'note': out.push({ id, kind: 'note', created, text: str(m.get('text')), ...marked }); break
      case 'link': out.push({ id, kind: 'link', created, url: str(m.get('url')), title: str(m.get('title')), note: str(m.get('note')), ...marked }); break
      case 'checklist': {
        const entries = checklistEntries(m)
        const by = (e: Y.Map<unknown>): { by?: string } => typeof e.get('by') === 'string' ? { by: str(e.get('by')) } : {}
        out.push({
          id,
          kind: 'checklist',
          created,
          title: str(m.get('title')),
          entries: entries === undefined ? [] : orderedEntries(entries, all).map(e => ({ id: str(e.get('id')), text: str(e.get('text')), done: e.get('done') === true, ...by(e), ...trashedJSON(e) })),
          ...marked
        })
        break
      }
      case 'file':
        out.push({
          id, kind: 'file', created, name: str(m.get('name')), size: num(m.get('size')), mime: str(m.get('mime')), blob: str(m.get('blob')), key: str(m.get('key')), chunk: num(m.get('chunk')),
          ...(typeof m.get('from') === 'string' ? { from: str(m.get('from')) } : {}),
          ...(m.get('pending') === true ? { pending: true as const } : {}),
          ...marked
        })
        break
      default: break
    }
  }
  return { title: title(doc).toString(), items: out }
}

/** What a file item records; `key` and `thumb` never leave the encrypted document. */
export interface FileMeta {
  readonly name: string
  readonly size: number
  readonly mime: string
  readonly blob: string
  readonly key: string
  readonly chunk: number
  readonly thumb?: Uint8Array
  /** The item's id, when the caller needs it before the item exists (the upload queue names it). */
  readonly id?: string
  /** Who added it (their name), for "not uploaded yet by …". */
  readonly from?: string
  /** Listed before the relay has its blob (see the model comment). */
  readonly pending?: boolean
}

export function addFile (doc: Y.Doc, f: FileMeta): string {
  const id = f.id ?? newId()
  const m = new Y.Map<unknown>()
  m.set('id', id); m.set('kind', 'file'); m.set('created', Date.now())
  m.set('name', f.name); m.set('size', f.size); m.set('mime', f.mime); m.set('blob', f.blob); m.set('key', f.key); m.set('chunk', f.chunk)
  if (f.thumb !== undefined) m.set('thumb', f.thumb)
  if (f.from !== undefined) m.set('from', f.from)
  if (f.pending === true) m.set('pending', true)
  m.set('pos', nextPos(orderedItems(doc), 1))
  items(doc).insert(0, [m])
  return id
}

/**
 * The relay has the file's blob now: others may download it. Only when the item still names that
 * blob (an item changed meanwhile is left alone); false when there was nothing to clear.
 */
export function markFileUploaded (doc: Y.Doc, id: string, blob: string): boolean {
  const m = findItem(doc, id)
  if (m?.get('kind') !== 'file' || m.get('blob') !== blob || !m.has('pending')) return false
  m.delete('pending')
  return true
}

/**
 * Removes an item (any kind) by id for good; false when it is already gone. The app deletes to
 * the Trash (trash.ts) and calls this only for "Delete forever" and the purge.
 */
export function removeItem (doc: Y.Doc, id: string): boolean {
  const arr = items(doc)
  const i = arr.toArray().findIndex(m => m instanceof Y.Map && m.get('id') === id)
  if (i < 0) return false
  arr.delete(i, 1)
  return true
}

/**
 * Moves an item to display index `to` by setting its `pos` (see Order below): the item's map and
 * texts stay the same objects, so an edit made inside it during the move is kept, and the UI keeps
 * the card (and the focus of whoever is typing in it) instead of re-creating it.
 */
export function moveItem (doc: Y.Doc, id: string, to: number): boolean {
  return moveTo(doc, orderedItems(doc), id, to, -1)
}

// Order ------------------------------------------------------------------------------------------
//
// Display order is a number `pos` on each item (newest first: descending) and on each checklist
// entry (ascending), not the array position. Moving sets one `pos`: nothing is deleted or copied,
// so an edit someone makes inside a moved item at the same moment is kept (a delete + insert of a
// clone would drop it). Ties and items without `pos` (from a hostile or older member) fall back to
// array order, which every replica shares, so all replicas show the same order.

const posOf = (m: Y.Map<unknown>): number | undefined => {
  const p = m.get('pos')
  return typeof p === 'number' && Number.isFinite(p) ? p : undefined
}

function ordered (maps: Array<Y.Map<unknown>>, dir: 1 | -1): Array<Y.Map<unknown>> {
  const missing = dir === 1 ? Infinity : -Infinity
  return maps
    .map((m, i) => ({ m, i, p: posOf(m) ?? missing }))
    .sort((a, b) => a.p === b.p ? a.i - b.i : (a.p < b.p ? -dir : dir))
    .map(x => x.m)
}

/** Items as the UI shows them: newest first, then as people reordered them; the Trash left out. */
export function orderedItems (doc: Y.Doc): Array<Y.Map<unknown>> {
  return ordered(itemMaps(doc).filter(m => !isTrashed(m)), -1)
}

/** A checklist's entries in display order (oldest first, then as reordered); trashed ones only if `withTrashed`. */
export function orderedEntries (entries: Y.Array<Y.Map<unknown>>, withTrashed = false): Array<Y.Map<unknown>> {
  return ordered(entries.toArray().filter((e): e is Y.Map<unknown> => e instanceof Y.Map && (withTrashed || !isTrashed(e))), 1)
}

/** A `pos` past the end in display direction: above every item (dir 1 on descending items), below every entry. */
function nextPos (list: Array<Y.Map<unknown>>, step: 1): number {
  let max = 0
  for (const m of list) max = Math.max(max, posOf(m) ?? 0)
  return max + step
}

/**
 * Moves `id` to display index `to` in `list` (already in display order) by giving it a `pos`
 * between its new neighbours; renumbers the list first when positions are missing or too close.
 */
function moveTo (doc: Y.Doc, list: Array<Y.Map<unknown>>, id: string, to: number, dir: 1 | -1): boolean {
  const from = list.findIndex(m => m.get('id') === id)
  if (from < 0) return false
  const target = Math.max(0, Math.min(list.length - 1, to))
  if (target === from) return true
  const moved = list[from]!
  const rest = list.filter((_, i) => i !== from)
  doc.transact(() => {
    const between = (): number | undefined => {
      const a = rest[target - 1] === undefined ? undefined : posOf(rest[target - 1]!)
      const b = rest[target] === undefined ? undefined : posOf(rest[target]!)
      if ((target > 0 && a === undefined) || (target < rest.length && b === undefined)) return undefined
      if (a === undefined && b === undefined) return 0
      if (a === undefined) return b! - dir
      if (b === undefined) return a + dir
      const mid = (a + b) / 2
      return mid === a || mid === b ? undefined : mid
    }
    let p = between()
    if (p === undefined) {
      // Renumber in display order (concurrent renumbers are last-writer-wins per item: order may
      // shuffle, content never goes).
      rest.forEach((m, i) => m.set('pos', dir === 1 ? i + 1 : rest.length - i))
      p = between()!
    }
    moved.set('pos', p)
  })
  return true
}

export function checklistEntries (list: Y.Map<unknown>): Y.Array<Y.Map<unknown>> | undefined {
  const e = list.get('entries')
  return e instanceof Y.Array ? e as Y.Array<Y.Map<unknown>> : undefined
}

/** Removes an entry for good (Delete forever, purge); the app deletes to the Trash (trash.ts). */
export function removeTodo (doc: Y.Doc, list: Y.Map<unknown>, id: string): boolean {
  const entries = checklistEntries(list)
  if (entries === undefined) return false
  const i = entries.toArray().findIndex(e => e instanceof Y.Map && e.get('id') === id)
  if (i < 0) return false
  doc.transact(() => entries.delete(i, 1))
  return true
}

export function moveTodo (doc: Y.Doc, list: Y.Map<unknown>, id: string, to: number): boolean {
  const entries = checklistEntries(list)
  return entries !== undefined && moveTo(doc, orderedEntries(entries), id, to, 1)
}

/**
 * The Y.Text under `key` of `m`, first converting a plain string stored there (a link URL written
 * before URLs were Y.Text) so the field merges concurrent edits from then on. Two members
 * converting at once: one Y.Text wins the key, and the UI re-binds to it (ui/text-at.ts).
 */
export function editableText (m: Y.Map<unknown>, key: string): Y.Text | undefined {
  const v = m.get(key)
  if (v instanceof Y.Text) return v
  if (typeof v !== 'string') return undefined
  const t = text(v)
  m.set(key, t)
  return t
}

/**
 * Turns `t` into `next` by deleting and inserting only the changed middle (common prefix and
 * suffix kept), so a concurrent edit elsewhere in the same short text still merges.
 */
export function setText (t: Y.Text, next: string): void {
  const cur = t.toString()
  if (cur === next) return
  let a = 0
  while (a < cur.length && a < next.length && cur[a] === next[a]) a++
  let b = 0
  while (b < cur.length - a && b < next.length - a && cur[cur.length - 1 - b] === next[next.length - 1 - b]) b++
  const run = (): void => {
    if (cur.length - a - b > 0) t.delete(a, cur.length - a - b)
    if (next.length - a - b > 0) t.insert(a, next.slice(a, next.length - b))
  }
  if (t.doc !== null) t.doc.transact(run)
  else run()
}
