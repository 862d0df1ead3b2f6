import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import * as model from '../../client/core/model.js'
import * as search from '../../client/core/search.js'
import * as trash from '../../client/core/trash.js'

/** The highlighted words of each hit, as the UI would wrap them in <mark>. */
const marked = (hits: search.Hit[]): string[][] => hits.map(h => h.ranges.map(([a, b]) => h.snippet.slice(a, b)))

describe('search index', () => {
  it('tokenizes lowercase with offsets into the original text', () => {
    expect(search.tokenize('Hello, Wörld! x2')).toEqual([
      { word: 'hello', start: 0, end: 5 }, { word: 'wörld', start: 7, end: 12 }, { word: 'x2', start: 14, end: 16 }
    ])
  })

  it('finds every kind of item, the last word as a prefix, all words required', () => {
    const doc = new Y.Doc()
    const note = model.addNote(doc, 'Buy Oat milk on Friday')
    const link = model.addLink(doc, 'https://oats.example', 'Oat recipes', 'porridge')
    const list = model.addChecklist(doc, 'Groceries')
    const todo = model.addTodo(doc, 'oatmeal', model.findItem(doc, list))
    model.addFile(doc, { name: 'oats.jpg', size: 1, mime: 'image/jpeg', blob: 'b', key: 'k', chunk: 1 })
    const idx = search.createIndex(doc)
    expect(idx.query('oa').length).toBe(5)
    expect(idx.query('oat fri')).toMatchObject([{ item: note }])
    expect(idx.query('oat bread')).toEqual([])
    expect(idx.query('milk oa')).toMatchObject([{ item: note, field: 'text' }])
    expect(idx.query('porr')).toMatchObject([{ item: link, field: 'note' }])
    expect(idx.query('OATMEAL')).toMatchObject([{ item: list, field: 'entry', entry: todo }])
    expect(idx.query('  ')).toEqual([])
  })

  it('returns highlight offsets: whole earlier words, the typed part of the last', () => {
    const doc = new Y.Doc()
    model.addNote(doc, 'Oat milk, more MILK, milkshake')
    const hits = search.createIndex(doc).query('oat mil')
    expect(marked(hits)).toEqual([['Oat', 'mil', 'MIL', 'mil']])
  })

  it('a Markdown note is searched and shown as its reader sees it, without the markup', () => {
    const doc = new Y.Doc()
    const note = model.addNote(doc, '# Weekend plan\nMeet at the **car park**, bring *warm* clothes\n- [x] book the [campsite](https://camp.example)\n> `code` here')
    const idx = search.createIndex(doc)
    const [hit] = idx.query('car')
    expect(hit).toMatchObject({ item: note, snippet: 'Weekend plan\nMeet at the car park, bring warm clothes\nbook the campsite\ncode here' })
    expect(marked(idx.query('camp'))).toEqual([['camp']])
    expect(idx.query('https')).toEqual([])
    expect(search.readable('snake_case_word 2*3*4 and ~~gone~~')).toBe('snake_case_word 2*3*4 and gone')
  })

  it('cuts a long text to a snippet around the first match', () => {
    const doc = new Y.Doc()
    model.addNote(doc, 'x '.repeat(500) + 'needle' + ' y'.repeat(500))
    const [hit] = search.createIndex(doc).query('needle')
    expect(hit!.snippet.length).toBe(search.SNIPPET)
    expect(marked([hit!])).toEqual([['needle']])
  })

  it('follows edits, additions, removals and a remote update', () => {
    const doc = new Y.Doc()
    const id = model.addNote(doc, 'first')
    const idx = search.createIndex(doc)
    const text = model.findItem(doc, id)!.get('text') as Y.Text
    text.insert(text.length, ' zebra')
    expect(idx.query('zeb')).toMatchObject([{ item: id }])
    text.delete(0, text.length)
    expect(idx.query('zebra')).toEqual([])
    const other = new Y.Doc()
    const far = model.addNote(other, 'from afar')
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(other))
    expect(idx.query('afar')).toMatchObject([{ item: far }])
    model.removeItem(doc, far)
    expect(idx.query('afar')).toEqual([])
    expect(idx.size()).toBe(1)
    idx.destroy()
  })

  it('leaves out trashed items and entries, and takes them back on restore', () => {
    const doc = new Y.Doc()
    const note = model.addNote(doc, 'secret plan')
    const list = model.addChecklist(doc, 'List')
    const todo = model.addTodo(doc, 'secret entry', model.findItem(doc, list))
    const idx = search.createIndex(doc)
    expect(idx.query('secret').length).toBe(2)
    trash.trashItem(doc, note, 'a')
    trash.trashEntry(doc, todo, 'a')
    expect(idx.query('secret')).toEqual([])
    trash.restore(doc, note)
    expect(idx.query('secret')).toMatchObject([{ item: note }])
  })
})
