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
