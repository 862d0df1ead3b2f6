import * as Y from 'yjs'
import * as model from './model.js'

/**
 * Search over one space (issue 9): an in-memory inverted index from words to the items holding
 * them, kept beside the Y.Doc and never written anywhere, so nothing of it leaves the device
 * (the replica at rest stays sealed as before; the index is rebuilt from it after a reload).
 *
 * Sans-IO apart from observing the doc: a change only marks the touched items dirty (cheap on
 * every keystroke, local or remote); they are re-read at the next query, so typing in a 100 K
 * note costs one re-tokenize per search, not per key. Trashed items and entries are left out.
 *
 * Query: every word must occur in the item (in any field); the last word matches as a prefix
 * (it is still being typed). Hits carry offsets into a snippet for highlighting (<mark>).
 */

/** Which text of an item matched: `entry` is set for a checklist entry (field 'entry'). */
export type Field = 'text' | 'title' | 'url' | 'note' | 'name' | 'entry'

/** One matched text of one item: what the UI lists, with where to put <mark>. */
export interface Hit {
  readonly item: string
  readonly kind: string
  readonly field: Field
  readonly entry?: string
  /** The matched text, cut to a window around the first match when long. */
  readonly snippet: string
  /** [start, end) offsets into `snippet` of each matched word (prefix part for the last word). */
  readonly ranges: ReadonlyArray<readonly [number, number]>
}

interface Doc { field: Field; entry?: string; text: string }
interface Entry { id: string; kind: string; docs: Doc[]; words: Set<string> }

/** Longest snippet returned; long notes are cut around their first match. */
export const SNIPPET = 160
const WORD = /[\p{L}\p{N}]+/gu

/** Words of `s`, lowercased, with their offsets in `s` (not in the lowercased string, which may differ in length). */
export function tokenize (s: string): Array<{ word: string; start: number; end: number }> {
  const out: Array<{ word: string; start: number; end: number }> = []
  for (const m of s.matchAll(WORD)) out.push({ word: m[0].toLowerCase(), start: m.index, end: m.index + m[0].length })
  return out
}

/**
 * A note's Markdown as its reader sees it: markup out, the text of links and images kept, so a hit
 * reads like the note ("Meet at the car park", not "Meet at the **car park**") and `**car` is not
 * a word. Line structure is kept; a regex pass, as the index re-reads a note on every keystroke.
 */
export function readable (md: string): string {
  return md
    .replace(/!?\[([^\]\n]*)\]\([^)\n]*\)/g, '$1')
    .replace(/^[ \t]*(?:>[ \t]?)*(?:#{1,6}[ \t]+|[-*+][ \t]+\[[ xX]\][ \t]+|[-*+][ \t]+|\d+[.)][ \t]+)?/gm, '')
    .replace(/\*\*|__|~~|`+/g, '')
    .replace(/(^|[^\w*])[*_](?=\S)([^*_\n]+?)[*_](?![\w*])/gm, '$1$2')
}

const str = (v: unknown): string => v instanceof Y.Text ? v.toString() : typeof v === 'string' ? v : ''

/** The searchable texts of an item, read defensively (any member may have written anything). */
function read (m: Y.Map<unknown>): Entry | undefined {
  if (model.isTrashed(m)) return undefined
  const id = str(m.get('id'))
  const kind = str(m.get('kind'))
  const docs: Doc[] = []
  const add = (field: Field, text: string, entry?: string): void => {
    if (text !== '') docs.push(entry === undefined ? { field, text } : { field, text, entry })
  }
  switch (kind) {
    case 'note': add('text', readable(str(m.get('text')))); break
    case 'link': add('title', str(m.get('title'))); add('url', str(m.get('url'))); add('note', str(m.get('note'))); break
    case 'file': add('name', str(m.get('name'))); break
    case 'checklist': {
      add('title', str(m.get('title')))
      const entries = model.checklistEntries(m)
      if (entries !== undefined) for (const e of model.orderedEntries(entries)) add('entry', str(e.get('text')), str(e.get('id')))
      break
    }
    default: return undefined
  }
  const words = new Set<string>()
  for (const d of docs) for (const t of tokenize(d.text)) words.add(t.word)
  return { id, kind, docs, words }
}

/** The item map (a direct child of `items`) that `t` lives in, if any. */
function itemOf (t: Y.AbstractType<unknown> | null, items: Y.Array<Y.Map<unknown>>): Y.Map<unknown> | undefined {
  while (t !== null && t.parent !== items) t = t.parent as Y.AbstractType<unknown> | null
  return t instanceof Y.Map ? t : undefined
}

/** The live index of one doc: queries bring it up to date with the changes since the last one. */
export interface SearchIndex {
  /** Matching items' fields, in the order items were indexed, at most `limit` hits. */
  query (q: string, limit?: number): Hit[]
  /** Number of items indexed (after bringing the index up to date). */
  size (): number
  /** Stops observing the doc. */
  destroy (): void
}

/** Indexes `doc` now and keeps the index current with its changes (see the module comment). */
export function createIndex (doc: Y.Doc): SearchIndex {
  const items = model.items(doc)
  const byMap = new Map<Y.Map<unknown>, Entry>()
  const postings = new Map<string, Set<Y.Map<unknown>>>()
  const dirty = new Set<Y.Map<unknown>>()
  let membership = false

  const unindex = (m: Y.Map<unknown>): void => {
    const e = byMap.get(m)
    if (e === undefined) return
    for (const w of e.words) {
      const s = postings.get(w)
      s?.delete(m)
      if (s !== undefined && s.size === 0) postings.delete(w)
    }
    byMap.delete(m)
  }
  const index = (m: Y.Map<unknown>): void => {
    unindex(m)
    const e = read(m)
    if (e === undefined) return
    byMap.set(m, e)
    for (const w of e.words) {
      let s = postings.get(w)
      if (s === undefined) postings.set(w, s = new Set())
      s.add(m)
    }
  }
  const flush = (): void => {
    if (membership) {
      // Items added or removed: index the new ones, drop the gone ones; unchanged items are not re-read.
      const live = new Set(model.itemMaps(doc))
      for (const m of [...byMap.keys()]) if (!live.has(m)) unindex(m)
      for (const m of live) if (!byMap.has(m)) dirty.add(m)
      membership = false
    }
    for (const m of dirty) index(m)
    dirty.clear()
  }

  const observer = (events: Array<Y.YEvent<Y.AbstractType<unknown>>>): void => {
    for (const ev of events) {
      if (ev.target === items) { membership = true; continue }
      const m = itemOf(ev.target, items)
      if (m !== undefined) dirty.add(m)
    }
  }
  for (const m of model.itemMaps(doc)) index(m)
  items.observeDeep(observer)

  return {
    query (q, limit = 50) {
      flush()
      const terms = tokenize(q).map(t => t.word)
      const last = terms.pop()
      if (last === undefined) return []
      // Candidates: items holding every whole word and some word starting with the last one.
      let cands: Set<Y.Map<unknown>> | undefined
      for (const t of terms) {
        const s = postings.get(t)
        if (s === undefined) return []
        cands = cands === undefined ? new Set(s) : new Set([...cands].filter(m => s.has(m)))
      }
      const prefixed = new Set<Y.Map<unknown>>()
      for (const [w, s] of postings) {
        if (!w.startsWith(last)) continue
        for (const m of s) if (cands === undefined || cands.has(m)) prefixed.add(m)
      }
      const exact = new Set(terms)
      const matches = (w: string): boolean => exact.has(w) || w.startsWith(last)
      const hits: Hit[] = []
      for (const m of prefixed) {
        const e = byMap.get(m)
        if (e === undefined) continue
        for (const d of e.docs) {
          const ranges: Array<[number, number]> = []
          for (const t of tokenize(d.text)) {
            if (!matches(t.word)) continue
            // Highlight the typed prefix of the last word, the whole of an earlier one.
            ranges.push([t.start, exact.has(t.word) ? t.end : t.start + Math.min(last.length, t.end - t.start)])
          }
          if (ranges.length === 0) continue
          hits.push({ item: e.id, kind: e.kind, field: d.field, ...(d.entry === undefined ? {} : { entry: d.entry }), ...cut(d.text, ranges) })
          if (hits.length >= limit) return hits
        }
      }
      return hits
    },
    size () { flush(); return byMap.size },
    destroy () { items.unobserveDeep(observer) }
  }
}

/** A window of at most SNIPPET characters around the first range, ranges shifted into it. */
function cut (text: string, ranges: Array<[number, number]>): { snippet: string; ranges: Array<[number, number]> } {
  if (text.length <= SNIPPET) return { snippet: text, ranges }
  const first = ranges[0]?.[0] ?? 0
  const from = Math.max(0, Math.min(first - 40, text.length - SNIPPET))
  const to = from + SNIPPET
  return {
    snippet: text.slice(from, to),
    ranges: ranges.filter(([a, b]) => a >= from && b <= to).map(([a, b]) => [a - from, b - from])
  }
}
