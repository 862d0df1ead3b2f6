import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import * as model from '../../client/core/model.js'
import * as trash from '../../client/core/trash.js'

/** Two replicas exchange what the other lacks (a relay round trip, in both directions). */
const sync = (a: Y.Doc, b: Y.Doc): void => {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
}
const entryTexts = (doc: Y.Doc, listId: string): string[] => {
  const list = model.toJSON(doc).items.find(i => i.id === listId)
  return list?.kind === 'checklist' ? list.entries.map(e => e.text) : []
}
const DAY = 24 * 60 * 60 * 1000

describe('the Trash', () => {
  it('a trashed item leaves the space, stays in the document, and comes back where it was', () => {
    const doc = new Y.Doc()
    const a = model.addNote(doc, 'first line\nsecond')
    const b = model.addLink(doc, 'https://example.org', 'Example')
    model.addNote(doc, 'c')
    expect(trash.trashItem(doc, b, 'Alice', 1000)).toBe(true)
    expect(trash.trashItem(doc, b, 'Alice', 2000)).toBe(false)
    expect(model.toJSON(doc).items.map(i => i.id)).not.toContain(b)
    expect(model.items(doc).length).toBe(3)
    expect(model.moveItem(doc, a, 0)).toBe(true) // indices count only what is shown
    expect(model.toJSON(doc).items.map(i => i.kind)).toEqual(['note', 'note'])
    expect(trash.list(doc)).toEqual([{ id: b, kind: 'link', label: 'Example', at: 1000, by: 'Alice', list: undefined, late: [], changed: false }])
    const marked = model.toJSON(doc, { trash: true }).items.find(i => i.id === b)
    expect(marked).toMatchObject({ kind: 'link', trashed: { at: 1000, by: 'Alice' } })
    expect(model.toJSON(doc).items.every(i => i.trashed === undefined)).toBe(true)

    expect(trash.restore(doc, b)).toBe(true)
    expect(trash.restore(doc, b)).toBe(false)
    expect(model.toJSON(doc).items.map(i => i.id)[2]).toBe(b)
    expect(trash.list(doc)).toEqual([])
    trash.trashItem(doc, a, 'Alice', 5)
    expect(trash.list(doc)[0]?.label).toBe('first line')
  })

  it('a trashed entry leaves its checklist; done and add-todo do not see it; restore brings it back', () => {
    const doc = new Y.Doc()
    const tent = model.addTodo(doc, 'tent', undefined, 'Alice')
    const stove = model.addTodo(doc, 'stove', undefined, 'Alice')
    const list = model.spaceChecklist(doc)
    model.setText(list.get('title') as Y.Text, 'Trip')
    expect(trash.trashEntry(doc, stove, 'Bob', 7)).toBe(true)
    expect(trash.trashEntry(doc, stove, 'Bob', 8)).toBe(false)
    expect(entryTexts(doc, String(list.get('id')))).toEqual(['tent'])
    expect(model.setDone(doc, stove)).toBe(false)
    expect(trash.list(doc)).toEqual([{ id: stove, kind: 'entry', label: 'stove', at: 7, by: 'Bob', list: { id: list.get('id'), title: 'Trip' }, late: [], changed: false }])
    expect(model.toJSON(doc, { trash: true }).items[0]).toMatchObject({ entries: [{ id: tent, by: 'Alice' }, { id: stove, trashed: { at: 7, by: 'Bob' } }] })
    expect(trash.restore(doc, stove)).toBe(true)
    expect(entryTexts(doc, String(list.get('id')))).toEqual(['tent', 'stove'])
  })

  it('delete forever removes only what is in the Trash, from the document itself', () => {
    const doc = new Y.Doc()
    const note = model.addNote(doc, 'n')
    const e = model.addTodo(doc, 'e')
    const list = String(model.spaceChecklist(doc).get('id'))
    expect(trash.deleteForever(doc, note)).toBe(false)
    trash.trashItem(doc, note, 'A')
    trash.trashEntry(doc, e, 'A')
    expect(trash.deleteForever(doc, note)).toBe(true)
    expect(trash.deleteForever(doc, e)).toBe(true)
    expect(model.items(doc).toArray().map(m => m.get('id'))).toEqual([list])
    expect(model.checklistEntries(model.findItem(doc, list)!)!.length).toBe(0)
    expect(trash.list(doc)).toEqual([])
  })

  it('the purge removes what has been in the Trash longer than 30 days, and only that', () => {
    const doc = new Y.Doc()
    const old = model.addNote(doc, 'old')
    const young = model.addNote(doc, 'young')
    const oldEntry = model.addTodo(doc, 'old entry')
    const youngEntry = model.addTodo(doc, 'young entry')
    const now = 100 * DAY
    trash.trashItem(doc, old, 'A', now - 31 * DAY)
    trash.trashItem(doc, young, 'A', now - 29 * DAY)
    trash.trashEntry(doc, oldEntry, 'A', now - 40 * DAY)
    trash.trashEntry(doc, youngEntry, 'A', now - DAY)
    expect(trash.purge(doc, now)).toBe(2)
    expect(trash.list(doc).map(t => t.id).sort()).toEqual([young, youngEntry].sort())
    expect(trash.purge(doc, now)).toBe(0)
  })

  it('Bob adds entries offline while Alice trashes the checklist: they are kept, counted, named, and restored with it', () => {
    const alice = new Y.Doc()
    const bob = new Y.Doc()
    const listId = model.addChecklist(alice, 'Trip')
    model.addTodo(alice, 'tent', model.findItem(alice, listId), 'Alice')
    sync(alice, bob)
    // Bob's entry that Alice had seen before she deleted does not count as landing in the Trash.
    model.addTodo(bob, 'rope', model.findItem(bob, listId), 'Bob')
    sync(alice, bob)

    // Offline, each on their own side.
    model.addTodo(bob, 'stove', model.findItem(bob, listId), 'Bob')
    model.addTodo(bob, 'matches', model.findItem(bob, listId), 'Bob')
    expect(trash.trashItem(alice, listId, 'Alice', 10)).toBe(true)
    sync(alice, bob)

    for (const doc of [alice, bob]) {
      expect(model.toJSON(doc).items).toEqual([])
      const [t] = trash.list(doc)
      expect(t).toMatchObject({ id: listId, kind: 'checklist', label: 'Trip', by: 'Alice', late: [{ by: 'Bob', count: 2 }], changed: false })
      expect(trash.notices(t!)).toEqual(['Bob\'s 2 entries went to Trash with the checklist “Trip”'])
      expect(model.toJSON(doc, { trash: true }).items[0]).toMatchObject({ entries: [{ text: 'tent' }, { text: 'rope' }, { text: 'stove' }, { text: 'matches' }] })
    }

    expect(trash.restore(bob, listId)).toBe(true)
    sync(alice, bob)
    for (const doc of [alice, bob]) {
      expect(entryTexts(doc, listId)).toEqual(['tent', 'rope', 'stove', 'matches'])
      expect(trash.list(doc)).toEqual([])
    }
    expect(model.toJSON(alice)).toEqual(model.toJSON(bob))
  })

  it('late entries are told apart by who added them, and an unnamed adder is "Someone"', () => {
    const a = new Y.Doc()
    const b = new Y.Doc()
    const c = new Y.Doc()
    const listId = model.addChecklist(a, 'Food')
    sync(a, b); sync(a, c)
    model.addTodo(b, 'bread', model.findItem(b, listId), 'Bob')
    model.addTodo(c, 'milk', model.findItem(c, listId))
    trash.trashItem(a, listId, 'Alice', 1)
    sync(a, b); sync(a, c); sync(b, c)
    const [t] = trash.list(c)
    expect(trash.notices(t!).sort()).toEqual(['Bob\'s 1 entry went to Trash with the checklist “Food”', 'Someone\'s 1 entry went to Trash with the checklist “Food”'])
  })

  it('an edit made offline inside a trashed note or entry is kept and shown as a change', () => {
    const alice = new Y.Doc()
    const bob = new Y.Doc()
    const note = model.addNote(alice, 'plan')
    const tent = model.addTodo(alice, 'tent', undefined, 'Alice')
    sync(alice, bob)
    ;(model.findItem(bob, note)!.get('text') as Y.Text).insert(4, ' B')
    model.setDone(bob, tent)
    trash.trashItem(alice, note, 'Alice', 1)
    trash.trashEntry(alice, tent, 'Alice', 2)
    for (const t of trash.list(alice)) expect(t.changed).toBe(false)
    sync(alice, bob)
    const shown = trash.list(alice)
    expect(shown.map(t => [t.id, t.changed])).toEqual([[tent, true], [note, true]])
    expect(trash.notices(shown[1]!)).toEqual(['A change made after the note “plan B” was deleted went to Trash with it'])
    trash.restore(alice, note)
    trash.restore(alice, tent)
    expect(model.toJSON(alice).items.flatMap(i => i.kind === 'note' ? [i.text] : i.kind === 'checklist' ? i.entries.map(e => `${e.text}:${e.done}`) : [])).toEqual(['tent:true', 'plan B'])
  })

  it('a delete and a restore made at the same moment converge, and nothing is lost', () => {
    const a = new Y.Doc()
    const b = new Y.Doc()
    const id = model.addNote(a, 'n')
    trash.trashItem(a, id, 'A')
    sync(a, b)
    trash.restore(a, id)
    trash.restore(b, id)
    trash.trashItem(b, id, 'B')
    sync(a, b)
    expect(model.toJSON(a, { trash: true })).toEqual(model.toJSON(b, { trash: true }))
    expect(model.toJSON(a, { trash: true }).items.map(i => i.id)).toEqual([id])
  })

  it('junk under `trashed` from any member breaks neither the list, the space nor a restore', () => {
    const doc = new Y.Doc()
    for (const junk of [{ at: 'x', by: 3, seen: 'nope' }, { seen: { '-1': 'a', x: 2 } }, []]) {
      const id = model.addNote(doc, 'n')
      model.findItem(doc, id)!.set('trashed', junk)
    }
    model.findItem(doc, model.addNote(doc, 'live'))!.set('trashed', 'not an object')
    expect(model.toJSON(doc).items.map(i => i.kind === 'note' ? i.text : '')).toEqual(['live'])
    const shown = trash.list(doc)
    // (An empty `seen` says its writer had seen nothing inside: everything there counts as changed.)
    expect(shown.map(t => [t.at, t.by, t.late])).toEqual([[0, '', []], [0, '', []], [0, '', []]])
    for (const t of shown) expect(trash.restore(doc, t.id)).toBe(true)
    expect(model.toJSON(doc).items).toHaveLength(4)
  })
})
