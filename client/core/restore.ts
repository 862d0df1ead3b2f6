import * as Y from 'yjs'
import * as model from './model.js'
import * as trash from './trash.js'

/**
 * Restoring from a snapshot (issue 9, History): an item as it was at a snapshot the relay keeps
 * is written back into the live space as an ordinary edit (a transaction on the live document,
 * sealed and synced by the writer like any other, and undoable), never by replacing the document.
 *
 *   - the item is still in the space: its content is made what it was (a note's text through the
 *     smallest text edit, so someone typing elsewhere in it keeps their words);
 *   - it is in the Trash: it comes out, with its content as it was;
 *   - it is gone for good (deleted forever, or purged): it is added again, same id and place.
 *     Two members doing that at the same moment get two copies (a Y.Array insert each); either
 *     can be deleted, and nothing is lost.
 *
 * For a checklist "as it was" includes its entries: missing ones come back (from the Trash when
 * they are there), text and ticks are set back, and entries added since go to the Trash, where
 * nothing is lost. The old state is read from a Y.Doc of its own (`decode`), never merged into the
 * live one: its structs carry other clientIDs and clocks, and merging them would resurrect every
 * deletion made since.
 */

/** Origin of every restore transaction, so an UndoManager can take exactly a restore back. */
export const RESTORE = Symbol('cove-restore')

/** What a restore did, so the UI can say it (and a test can tell the three paths apart). */
export type Outcome = 'overwritten' | 'untrashed' | 'recreated' | 'unchanged'
/** Expected refusals are values (STYLE.md, Errors): the UI shows the message, nothing is written. */
export type RestoreResult =
  | { readonly ok: true; readonly outcome: Outcome }
  | { readonly ok: false; readonly code: 'restore/not-in-snapshot' | 'restore/unknown-kind' | 'restore/kind-changed'; readonly message: string }

const KINDS = new Set<unknown>(['note', 'link', 'checklist', 'file'])
/** Fields people type, per kind: restored with `setText`, which merges with concurrent typing. */
const TEXTS: Record<string, readonly string[]> = { note: ['text'], link: ['url', 'title', 'note'], checklist: ['title'], file: [] }
/** A file's description; `pending` is left alone (whether the relay has the blob now is today's fact). */
const FILE_FIELDS = ['name', 'size', 'mime', 'blob', 'key', 'chunk', 'thumb'] as const

/**
 * The space as a snapshot's state holds it, in a Y.Doc of its own: what the History view shows
 * and restores from. Undefined when the state does not decode (it was signed, yet malformed).
 */
export function decode (state: Uint8Array): Y.Doc | undefined {
  const doc = new Y.Doc()
  try {
    Y.applyUpdateV2(doc, state)
  } catch {
    doc.destroy()
    return undefined
  }
  return doc
}

const str = (v: unknown): string => v instanceof Y.Text ? v.toString() : typeof v === 'string' ? v : ''
const sameValue = (a: unknown, b: unknown): boolean =>
  a instanceof Uint8Array && b instanceof Uint8Array ? a.length === b.length && a.every((x, i) => x === b[i]) : a === b

/** A fresh, unintegrated copy of a value from the old document (the Trash mark and nested types included, minus trashed entries). */
function copy (v: unknown): unknown {
  if (v instanceof Y.Text) {
    const t = new Y.Text()
    t.applyDelta(v.toDelta())
    return t
  }
  if (v instanceof Y.Map) return copyMap(v)
  if (v instanceof Y.Array) {
    const a = new Y.Array<unknown>()
    a.push(v.toArray().filter(x => !(x instanceof Y.Map && model.isTrashed(x))).map(copy))
    return a
  }
  if (v instanceof Uint8Array) return v.slice()
  if (v instanceof Y.AbstractType) return undefined
  return v
}

function copyMap (m: Y.Map<unknown>): Y.Map<unknown> {
  const out = new Y.Map<unknown>()
  for (const [k, v] of m.entries()) {
    if (k === 'trashed' || k === 'pending') continue
    const c = copy(v)
    if (c !== undefined) out.set(k, c)
  }
  return out
}

/** Sets the Y.Text under `key` of `cur` to its text in `old`; true when that changed anything. */
function restoreText (cur: Y.Map<unknown>, old: Y.Map<unknown>, key: string): boolean {
  const want = str(old.get(key))
  const t = model.editableText(cur, key)
  if (t === undefined) {
    // Missing or written as something else by an odd member: a fresh field.
    cur.set(key, old.get(key) instanceof Y.Text ? copy(old.get(key)) : new Y.Text(want))
    return true
  }
  if (t.toString() === want) return false
  model.setText(t, want)
  return true
}

function restoreFile (cur: Y.Map<unknown>, old: Y.Map<unknown>): boolean {
  let changed = false
  for (const k of FILE_FIELDS) {
    const want = old.get(k)
    if (sameValue(cur.get(k), want)) continue
    changed = true
    if (want === undefined) cur.delete(k)
    else cur.set(k, copy(want))
  }
  return changed
}

/** Makes the entries of checklist `cur` what they were in `old` (see the module comment). */
function restoreEntries (doc: Y.Doc, cur: Y.Map<unknown>, old: Y.Map<unknown>, by: string): boolean {
  const was = model.checklistEntries(old)
  const wanted = was === undefined ? [] : model.orderedEntries(was)
  let entries = model.checklistEntries(cur)
  if (entries === undefined) {
    entries = new Y.Array<Y.Map<unknown>>()
    cur.set('entries', entries)
  }
  let changed = false
  const live = entries.toArray().filter((e): e is Y.Map<unknown> => e instanceof Y.Map)
  const keep = new Set<string>()
  for (const w of wanted) {
    const id = str(w.get('id'))
    keep.add(id)
    const e = live.find(x => x.get('id') === id)
    if (e === undefined) {
      entries.push([copyMap(w)])
      changed = true
      continue
    }
    if (model.isTrashed(e)) { e.delete('trashed'); changed = true }
    if (restoreText(e, w, 'text')) changed = true
    const done = w.get('done') === true
    if ((e.get('done') === true) !== done) { e.set('done', done); changed = true }
    if (w.has('pos') && !sameValue(e.get('pos'), w.get('pos'))) { e.set('pos', w.get('pos')); changed = true }
  }
  for (const e of live) {
    const id = str(e.get('id'))
    if (!keep.has(id) && !model.isTrashed(e) && trash.trashEntry(doc, id, by)) changed = true
  }
  return changed
}

/**
 * Restores item `id` of the snapshot document `old` into the live document `doc`, as one
 * transaction tagged RESTORE. `by` names the restorer on entries a checklist restore sends to
 * the Trash. Fails (changing nothing) when the snapshot has no such item shown.
 */
export function restoreItem (doc: Y.Doc, old: Y.Doc, id: string, by: string): RestoreResult {
  const src = model.findItem(old, id)
  if (src === undefined || model.isTrashed(src)) return { ok: false, code: 'restore/not-in-snapshot', message: 'the snapshot has no such item' }
  const kind = src.get('kind')
  if (!KINDS.has(kind)) return { ok: false, code: 'restore/unknown-kind', message: 'this kind of item cannot be restored by this version of Cove' }
  const cur = model.findItem(doc, id)
  if (cur !== undefined && cur.get('kind') !== kind) return { ok: false, code: 'restore/kind-changed', message: 'the item by that id is of another kind now' }
  let outcome: Outcome = 'unchanged'
  doc.transact(() => {
    if (cur === undefined) {
      model.items(doc).insert(0, [copyMap(src)])
      outcome = 'recreated'
      return
    }
    const wasTrashed = model.isTrashed(cur)
    if (wasTrashed) cur.delete('trashed')
    let changed = false
    for (const key of TEXTS[String(kind)] ?? []) if (restoreText(cur, src, key)) changed = true
    if (kind === 'file' && restoreFile(cur, src)) changed = true
    if (kind === 'checklist' && restoreEntries(doc, cur, src, by)) changed = true
    outcome = wasTrashed ? 'untrashed' : changed ? 'overwritten' : 'unchanged'
  }, RESTORE)
  return { ok: true, outcome }
}

/** Sets the space's title back to the snapshot's; false when it is the same already. */
export function restoreTitle (doc: Y.Doc, old: Y.Doc): boolean {
  const want = model.title(old).toString()
  if (model.title(doc).toString() === want) return false
  doc.transact(() => model.setText(model.title(doc), want), RESTORE)
  return true
}

/** How an item of the snapshot stands in the live space: what the History view says beside it. */
export type Standing = 'same' | 'changed' | 'trashed' | 'gone'

/**
 * Compares every item shown in the snapshot with the live space (by the JSON `cove cat` prints),
 * keyed by item id.
 */
export function standings (doc: Y.Doc, old: Y.Doc): Map<string, Standing> {
  const live = new Map(model.toJSON(doc, { trash: true }).items.map(i => [i.id, i]))
  const out = new Map<string, Standing>()
  for (const o of model.toJSON(old).items) {
    const l = live.get(o.id)
    if (l === undefined) out.set(o.id, 'gone')
    else if (l.trashed !== undefined) out.set(o.id, 'trashed')
    else out.set(o.id, JSON.stringify(comparable(l)) === JSON.stringify(comparable(o)) ? 'same' : 'changed')
  }
  return out
}

/** An item's JSON without what a restore leaves alone (upload state) and with only shown entries. */
function comparable (i: model.ItemJSON): unknown {
  if (i.kind === 'checklist') return { ...i, entries: i.entries.filter(e => e.trashed === undefined).map(({ by: _by, ...e }) => e) }
  if (i.kind === 'file') return { ...i, pending: undefined, from: undefined }
  return i
}

/**
 * Runs `edit` (which must transact with origin RESTORE) so that it can be taken back in one step,
 * like the Undo after a delete: the undo is itself an ordinary edit that syncs. Call `dispose`
 * when the offer ends, so the UndoManager stops observing the document.
 */
export function undoable<T> (doc: Y.Doc, edit: () => T): { result: T; undo (): void; dispose (): void } {
  const um = new Y.UndoManager([model.items(doc), model.title(doc)], { trackedOrigins: new Set([RESTORE]), captureTimeout: 0 })
  let result: T
  try {
    result = edit()
  } finally {
    um.stopCapturing()
  }
  return {
    result,
    undo () { um.undo(); um.destroy() },
    dispose () { um.destroy() }
  }
}
