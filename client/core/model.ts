import * as Y from 'yjs'

/**
 * The content model of a space, defined once and shared by the CLI and the web app.
 *
 *   doc.getText('title')                      the space title
 *   doc.getArray<Y.Map>('items')              items, newest first (index 0); order is user-editable
 *     note:      { id, kind: 'note', created, text: Y.Text }
 *     link:      { id, kind: 'link', created, url: string, title: Y.Text, note: Y.Text }
 *     checklist: { id, kind: 'checklist', created, title: Y.Text, entries: Y.Array<Y.Map{ id, text: Y.Text, done: boolean }> }
 *     file:      { id, kind: 'file', created, name, size, mime, blob: hex id, key: b64u, chunk: number, thumb?: Uint8Array (JPEG) }
 *
 * A file's bytes live on the relay as an encrypted blob; its name, type, key and thumbnail live
 * only here, inside the encrypted document (client/core/files.ts).
 *
 * The first checklist is "the space's checklist" that `add-todo` appends to.
 */
export type ItemKind = 'note' | 'link' | 'checklist' | 'file'

export interface TodoJSON { id: string; text: string; done: boolean }
export type ItemJSON =
  | { id: string; kind: 'note'; created: number; text: string }
  | { id: string; kind: 'link'; created: number; url: string; title: string; note: string }
  | { id: string; kind: 'checklist'; created: number; title: string; entries: TodoJSON[] }
  | { id: string; kind: 'file'; created: number; name: string; size: number; mime: string; blob: string; key: string; chunk: number }
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
  items(doc).insert(0, [m])
  return id
}

export function addLink (doc: Y.Doc, url: string, linkTitle = '', note = ''): string {
  const id = newId()
  const m = new Y.Map<unknown>()
  m.set('id', id); m.set('kind', 'link'); m.set('created', Date.now()); m.set('url', url)
  m.set('title', text(linkTitle)); m.set('note', text(note))
  items(doc).insert(0, [m])
  return id
}

export function addChecklist (doc: Y.Doc, listTitle = 'Checklist'): string {
  const id = newId()
  const m = new Y.Map<unknown>()
  m.set('id', id); m.set('kind', 'checklist'); m.set('created', Date.now())
  m.set('title', text(listTitle)); m.set('entries', new Y.Array<Y.Map<unknown>>())
  items(doc).insert(0, [m])
  return id
}

/** Items as written by any member: a hostile or older member may have put anything in the array. */
const itemMaps = (doc: Y.Doc): Array<Y.Map<unknown>> => items(doc).toArray().filter((m): m is Y.Map<unknown> => m instanceof Y.Map)

export function findItem (doc: Y.Doc, id: string): Y.Map<unknown> | undefined {
  return itemMaps(doc).find(m => m.get('id') === id)
}

/** The space's checklist: the first well-formed checklist item, made on first use. */
export function spaceChecklist (doc: Y.Doc): Y.Map<unknown> {
  const found = itemMaps(doc).find(m => m.get('kind') === 'checklist' && checklistEntries(m) !== undefined)
  if (found !== undefined) return found
  return findItem(doc, addChecklist(doc))!
}

export function addTodo (doc: Y.Doc, body: string, list?: Y.Map<unknown>): string {
  const id = newId()
  doc.transact(() => {
    const entries = checklistEntries(list ?? spaceChecklist(doc)) ?? checklistEntries(spaceChecklist(doc))!
    const m = new Y.Map<unknown>()
    m.set('id', id); m.set('text', text(body)); m.set('done', false)
    entries.push([m])
  })
  return id
}

/** Finds a checklist entry anywhere in the space. */
export function findTodo (doc: Y.Doc, id: string): Y.Map<unknown> | undefined {
  for (const item of itemMaps(doc)) {
    if (item.get('kind') !== 'checklist') continue
    const entries = checklistEntries(item)
    const hit = entries?.toArray().find(e => e instanceof Y.Map && e.get('id') === id)
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

/** The whole space as plain JSON (what `cove cat` prints); unknown item kinds are skipped. */
export function toJSON (doc: Y.Doc): SpaceJSON {
  const out: ItemJSON[] = []
  for (const m of items(doc)) {
    if (!(m instanceof Y.Map)) continue
    const id = str(m.get('id'))
    const created = num(m.get('created'))
    switch (m.get('kind')) {
      case 'note': out.push({ id, kind: 'note', created, text: str(m.get('text')) }); break
      case 'link': out.push({ id, kind: 'link', created, url: str(m.get('url')), title: str(m.get('title')), note: str(m.get('note')) }); break
      case 'checklist': {
        const entries = m.get('entries')
        out.push({
          id,
          kind: 'checklist',
          created,
          title: str(m.get('title')),
          entries: entries instanceof Y.Array ? entries.toArray().filter((e): e is Y.Map<unknown> => e instanceof Y.Map).map(e => ({ id: str(e.get('id')), text: str(e.get('text')), done: e.get('done') === true })) : []
        })
        break
      }
      case 'file':
        out.push({ id, kind: 'file', created, name: str(m.get('name')), size: num(m.get('size')), mime: str(m.get('mime')), blob: str(m.get('blob')), key: str(m.get('key')), chunk: num(m.get('chunk')) })
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
}

export function addFile (doc: Y.Doc, f: FileMeta): string {
  const id = newId()
  const m = new Y.Map<unknown>()
  m.set('id', id); m.set('kind', 'file'); m.set('created', Date.now())
  m.set('name', f.name); m.set('size', f.size); m.set('mime', f.mime); m.set('blob', f.blob); m.set('key', f.key); m.set('chunk', f.chunk)
  if (f.thumb !== undefined) m.set('thumb', f.thumb)
  items(doc).insert(0, [m])
  return id
}

/** Removes an item (any kind) by id; false when it is already gone. */
export function removeItem (doc: Y.Doc, id: string): boolean {
  const arr = items(doc)
  const i = arr.toArray().findIndex(m => m.get('id') === id)
  if (i < 0) return false
  arr.delete(i, 1)
  return true
}

/**
 * Moves an item to index `to`. Yjs arrays have no move: the item is deleted and a clone inserted
 * in one transaction. Edits a peer makes to the old copy concurrently with the move are lost;
 * moves are rare and explicit, and this keeps the model a plain ordered array the CLI can read.
 */
export function moveItem (doc: Y.Doc, id: string, to: number): boolean {
  return moveIn(doc, items(doc), id, to)
}

function moveIn (doc: Y.Doc, arr: Y.Array<Y.Map<unknown>>, id: string, to: number): boolean {
  const list = arr.toArray()
  const from = list.findIndex(m => m.get('id') === id)
  if (from < 0) return false
  const target = Math.max(0, Math.min(list.length - 1, to))
  if (target === from) return true
  doc.transact(() => {
    const copy = list[from]!.clone()
    arr.delete(from, 1)
    arr.insert(target, [copy])
  })
  return true
}

export function checklistEntries (list: Y.Map<unknown>): Y.Array<Y.Map<unknown>> | undefined {
  const e = list.get('entries')
  return e instanceof Y.Array ? e as Y.Array<Y.Map<unknown>> : undefined
}

export function removeTodo (doc: Y.Doc, list: Y.Map<unknown>, id: string): boolean {
  const entries = checklistEntries(list)
  if (entries === undefined) return false
  const i = entries.toArray().findIndex(e => e.get('id') === id)
  if (i < 0) return false
  doc.transact(() => entries.delete(i, 1))
  return true
}

export function moveTodo (doc: Y.Doc, list: Y.Map<unknown>, id: string, to: number): boolean {
  const entries = checklistEntries(list)
  return entries !== undefined && moveIn(doc, entries, id, to)
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
