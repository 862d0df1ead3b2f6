import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import * as model from '../../client/core/model.js'

describe('content model against content any member could write', () => {
  it('a checklist without entries, or a non-map item, breaks neither add-todo nor done nor cat', () => {
    const doc = new Y.Doc()
    const bad = new Y.Map<unknown>()
    bad.set('id', 'bad'); bad.set('kind', 'checklist')
    model.items(doc).insert(0, [bad])
    model.items(doc).insert(0, ['not a map' as unknown as Y.Map<unknown>])
    const id = model.addTodo(doc, 'milk')
    expect(model.setDone(doc, id)).toBe(true)
    expect(model.setDone(doc, 'nope')).toBe(false)
    const json = model.toJSON(doc)
    const lists = json.items.filter(i => i.kind === 'checklist')
    expect(lists.flatMap(l => l.kind === 'checklist' ? l.entries : [])).toEqual([{ id, text: 'milk', done: true }])
  })
})

describe('files listed before they are uploaded (issue 9.5)', () => {
  it('a pending file names who added it; marking it uploaded clears the mark on every replica, only for its blob', () => {
    const a = new Y.Doc()
    const b = new Y.Doc()
    const blob = 'ab'.repeat(16)
    const id = model.addFile(a, { id: 'f1', name: 'x.bin', size: 3, mime: 'application/octet-stream', blob, key: 'k', chunk: 65536, from: 'Alice', pending: true })
    expect(id).toBe('f1')
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
    expect(model.toJSON(b).items[0]).toMatchObject({ id: 'f1', from: 'Alice', pending: true })
    expect(model.markFileUploaded(a, 'f1', 'cd'.repeat(16))).toBe(false)
    expect(model.markFileUploaded(a, 'f1', blob)).toBe(true)
    expect(model.markFileUploaded(a, 'f1', blob)).toBe(false)
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
    expect(model.toJSON(b).items[0]).not.toHaveProperty('pending')
    // Files from before issue 9.5 carry neither field.
    model.addFile(a, { name: 'old.bin', size: 1, mime: '', blob: 'ef'.repeat(16), key: 'k', chunk: 65536 })
    expect(Object.keys(model.toJSON(a).items[0]!)).not.toContain('from')
  })
})

describe('reordering', () => {
  const sync = (a: Y.Doc, b: Y.Doc): void => {
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
    Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
  }
  const texts = (doc: Y.Doc): string[] => model.toJSON(doc).items.map(i => i.kind === 'note' ? i.text : i.kind)

  it('new items come first; moves change the shown order only', () => {
    const doc = new Y.Doc()
    const a = model.addNote(doc, 'a')
    model.addNote(doc, 'b')
    model.addNote(doc, 'c')
    expect(texts(doc)).toEqual(['c', 'b', 'a'])
    expect(model.moveItem(doc, a, 0)).toBe(true)
    expect(texts(doc)).toEqual(['a', 'c', 'b'])
    expect(model.moveItem(doc, a, 2)).toBe(true)
    expect(texts(doc)).toEqual(['c', 'b', 'a'])
    for (let i = 0; i < 80; i++) model.moveItem(doc, model.orderedItems(doc)[2]!.get('id') as string, 1) // forces renumbering
    expect(texts(doc).sort()).toEqual(['a', 'b', 'c'])
    expect(model.items(doc).length).toBe(3)
  })

  it('an edit made inside an item while someone else moves it is kept (a delete + insert of a copy lost it)', () => {
    const a = new Y.Doc()
    const b = new Y.Doc()
    const first = model.addNote(a, 'first')
    model.addNote(a, 'second')
    sync(a, b)
    model.moveItem(a, first, 0)
    ;(model.findItem(b, first)!.get('text') as Y.Text).insert(5, ' edited')
    sync(a, b)
    expect(texts(a)).toEqual(['first edited', 'second'])
    expect(texts(b)).toEqual(texts(a))
  })

  it('checklist entries keep their order by pos and move the same way', () => {
    const doc = new Y.Doc()
    const x = model.addTodo(doc, 'x')
    model.addTodo(doc, 'y')
    const list = model.spaceChecklist(doc)
    const names = (): string[] => model.orderedEntries(model.checklistEntries(list)!).map(e => (e.get('text') as Y.Text).toString())
    expect(names()).toEqual(['x', 'y'])
    model.moveTodo(doc, list, x, 1)
    expect(names()).toEqual(['y', 'x'])
  })
})

describe('local state', () => {
  it('a damaged meta record fails to open with a clear message', async () => {
    const { createMemorySpaceStore } = await import('../../client/core/store.js')
    const { Space } = await import('../../client/core/space.js')
    const { RelayLink } = await import('../../client/core/link.js')
    const { getSodium } = await import('../../shared/sodium.js')
    const sodium = await getSodium()
    const store = createMemorySpaceStore({ meta: new TextEncoder().encode('{"v":1,"secrets":'), updates: [], outbox: [] })
    const link = new RelayLink('ws://127.0.0.1:1/', { connect: () => ({ send () {}, close () {} }) })
    await expect(Space.open({ sodium, store, link })).rejects.toThrow(/local state of this space is damaged/)
  })
})
