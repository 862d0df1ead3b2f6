import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import * as model from '../../client/core/model.js'
import * as restore from '../../client/core/restore.js'
import * as trash from '../../client/core/trash.js'

/** Two replicas exchange what the other lacks (a relay round trip, in both directions). */
const sync = (a: Y.Doc, b: Y.Doc): void => {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
}
/** What a snapshot holds: the state as the snapshotter encodes it, decoded into a doc of its own. */
const snapshotOf = (doc: Y.Doc): Y.Doc => restore.decode(Y.encodeStateAsUpdateV2(doc))!
const item = (doc: Y.Doc, id: string): model.ItemJSON | undefined => model.toJSON(doc, { trash: true }).items.find(i => i.id === id)
const entries = (doc: Y.Doc, id: string): Array<{ text: string; done: boolean }> => {
  const i = model.toJSON(doc).items.find(x => x.id === id)
  return i?.kind === 'checklist' ? i.entries.map(e => ({ text: e.text, done: e.done })) : []
}

describe('restoring from a snapshot (issue 9, History)', () => {
  it('a note\'s text comes back as a small edit that merges with concurrent typing and syncs', () => {
    const a = new Y.Doc()
    const note = model.addNote(a, 'Bring the tent\nand the stove')
    const old = snapshotOf(a)
    const t = model.findItem(a, note)!.get('text') as Y.Text
    model.setText(t, 'Bring nothing')
    const b = new Y.Doc()
    sync(a, b)
    // Bob types at the start while Alice restores: both edits are kept.
    const tb = model.findItem(b, note)!.get('text') as Y.Text
    tb.insert(0, 'Note: ')
    const live = JSON.stringify(model.toJSON(a))
    expect(restore.standings(a, old).get(note)).toBe('changed')
    expect(JSON.stringify(model.toJSON(a))).toBe(live) // looking changes nothing
    expect(restore.restoreItem(a, old, note, 'Alice')).toEqual({ ok: true, outcome: 'overwritten' })
    expect(model.toJSON(a).items[0]).toMatchObject({ kind: 'note', text: 'Bring the tent\nand the stove' })
    sync(a, b)
    expect(model.toJSON(b).items[0]).toMatchObject({ text: 'Note: Bring the tent\nand the stove' })
    expect(model.toJSON(a)).toEqual(model.toJSON(b))
    expect(restore.restoreItem(a, old, note, 'Alice')).toEqual({ ok: true, outcome: 'overwritten' })
    expect(restore.restoreItem(a, old, note, 'Alice')).toEqual({ ok: true, outcome: 'unchanged' })
    expect(restore.standings(a, old).get(note)).toBe('same')
  })

  it('a checklist comes back with its entries, ticks and order; entries added since go to the Trash', () => {
    const doc = new Y.Doc()
    const list = model.addChecklist(doc, 'Trip')
    const listMap = model.findItem(doc, list)!
    const tent = model.addTodo(doc, 'tent', listMap, 'Alice')
    const stove = model.addTodo(doc, 'stove', listMap, 'Alice')
    model.addTodo(doc, 'matches', listMap, 'Alice')
    model.setDone(doc, tent)
    const old = snapshotOf(doc)

    model.setDone(doc, tent, false)
    model.setText(model.findTodo(doc, stove)!.get('text') as Y.Text, 'gas stove')
    trash.trashEntry(doc, stove, 'Bob')
    model.setText(listMap.get('title') as Y.Text, 'Lake')
    const late = model.addTodo(doc, 'kayak', listMap, 'Bob')
    model.moveTodo(doc, listMap, tent, 2)
    expect(restore.standings(doc, old).get(list)).toBe('changed')

    expect(restore.restoreItem(doc, old, list, 'Alice')).toEqual({ ok: true, outcome: 'overwritten' })
    expect(item(doc, list)).toMatchObject({ title: 'Trip' })
    expect(entries(doc, list)).toEqual([{ text: 'tent', done: true }, { text: 'stove', done: false }, { text: 'matches', done: false }])
    expect(trash.list(doc).map(t => [t.id, t.by])).toEqual([[late, 'Alice']])
    expect(restore.standings(doc, old).get(list)).toBe('same')
  })

  it('a deleted checklist comes back from the Trash as it was', () => {
    const doc = new Y.Doc()
    const list = model.addChecklist(doc, 'Trip')
    model.addTodo(doc, 'tent', model.findItem(doc, list), 'Alice')
    const old = snapshotOf(doc)
    model.addTodo(doc, 'late', model.findItem(doc, list), 'Bob')
    trash.trashItem(doc, list, 'Alice')
    expect(restore.standings(doc, old).get(list)).toBe('trashed')
    expect(restore.restoreItem(doc, old, list, 'Alice')).toEqual({ ok: true, outcome: 'untrashed' })
    expect(entries(doc, list)).toEqual([{ text: 'tent', done: false }])
    expect(model.toJSON(doc).items.map(i => i.id)).toEqual([list])
    // Bob's late entry is not lost: it is in the Trash.
    expect(trash.list(doc).map(t => t.label)).toEqual(['late'])
  })

  it('an item deleted for good is added again with the same id, content and place, for everyone', () => {
    const a = new Y.Doc()
    const link = model.addLink(a, 'https://example.org', 'Example', 'see this')
    const list = model.addChecklist(a, 'Trip')
    model.setDone(a, model.addTodo(a, 'tent', model.findItem(a, list), 'Alice'))
    model.addNote(a, 'top')
    const old = snapshotOf(a)
    const b = new Y.Doc()
    sync(a, b)
    model.removeItem(a, link)
    model.removeItem(a, list)
    sync(a, b)
    expect(restore.standings(a, old).get(link)).toBe('gone')
    expect(restore.restoreItem(a, old, link, 'Alice')).toEqual({ ok: true, outcome: 'recreated' })
    expect(restore.restoreItem(a, old, list, 'Alice')).toEqual({ ok: true, outcome: 'recreated' })
    sync(a, b)
    expect(model.toJSON(b)).toEqual(model.toJSON(old))
    // The restored fields are Y.Texts again: people can edit them together.
    expect(model.findItem(b, link)!.get('title')).toBeInstanceOf(Y.Text)
  })

  it('a file item gets its description back; a missing item or an unknown kind is refused', () => {
    const doc = new Y.Doc()
    const f = model.addFile(doc, { name: 'map.png', size: 10, mime: 'image/png', blob: 'aa', key: 'k', chunk: 65536, thumb: new Uint8Array([1, 2]) })
    const odd = new Y.Map<unknown>()
    odd.set('id', 'odd1'); odd.set('kind', 'poll')
    model.items(doc).push([odd])
    const old = snapshotOf(doc)
    model.findItem(doc, f)!.set('name', 'renamed.png')
    expect(restore.restoreItem(doc, old, f, 'A')).toEqual({ ok: true, outcome: 'overwritten' })
    expect(item(doc, f)).toMatchObject({ name: 'map.png' })
    expect(restore.restoreItem(doc, old, 'nope', 'A')).toMatchObject({ ok: false, code: 'restore/not-in-snapshot' })
    expect(restore.restoreItem(doc, old, 'odd1', 'A')).toMatchObject({ ok: false, code: 'restore/unknown-kind' })
  })

  it('a restore is undone in one step, and the title can be restored too', () => {
    const doc = new Y.Doc()
    model.setTitle(doc, 'Camping')
    const list = model.addChecklist(doc, 'Trip')
    model.addTodo(doc, 'tent', model.findItem(doc, list), 'Alice')
    const old = snapshotOf(doc)
    model.setTitle(doc, 'Lake')
    trash.trashItem(doc, list, 'Alice')
    const before = model.toJSON(doc, { trash: true })
    const u = restore.undoable(doc, () => restore.restoreItem(doc, old, list, 'Alice'))
    expect(u.result).toEqual({ ok: true, outcome: 'untrashed' })
    expect(model.toJSON(doc).items).toHaveLength(1)
    u.undo()
    expect(model.toJSON(doc, { trash: true })).toEqual(before)
    expect(restore.restoreTitle(doc, old)).toBe(true)
    expect(restore.restoreTitle(doc, old)).toBe(false)
    expect(model.title(doc).toString()).toBe('Camping')
  })

  it('a state that does not decode gives no document', () => {
    expect(restore.decode(new Uint8Array([1, 2, 3, 255, 255]))).toBeUndefined()
  })
})
