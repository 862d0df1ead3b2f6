import { For, createRoot } from 'solid-js'
import { render } from 'solid-js/web'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as model from '../../client/core/model.js'
import { project, useSpaceView } from '../../client/ui/bridge.js'

const tick = (): Promise<void> => new Promise(resolve => setTimeout(resolve, 0))

describe('the Y.Doc → Solid bridge', () => {
  it('runs the browser build of Solid (effects re-run)', () => {
    // Under the server build `render` throws and effects never re-run; this file must not pass there.
    expect(typeof render).toBe('function')
  })

  it('re-renders a list when the doc changes, locally or from a remote update', async () => {
    const doc = new Y.Doc()
    model.addNote(doc, 'first')
    const host = document.createElement('div')
    const dispose = render(() => {
      const view = useSpaceView(doc)
      return (
        <div>
          <h1>{view.title}</h1>
          <ul><For each={view.items}>{item => <li data-kind={item.kind}>{item.kind}:{item.title}{item.entries.map(e => e.text).join(',')}</li>}</For></ul>
        </div>
      )
    }, host)
    expect(host.querySelectorAll('li')).toHaveLength(1)

    model.setTitle(doc, 'Trip')
    model.addChecklist(doc, 'Packing')
    await tick()
    expect(host.querySelector('h1')?.textContent).toBe('Trip')
    expect(host.querySelectorAll('li')).toHaveLength(2)
    expect(host.querySelector('li')?.textContent).toBe('checklist:Packing')

    // A remote peer's update arrives as bytes, with a foreign origin.
    const remote = new Y.Doc()
    Y.applyUpdate(remote, Y.encodeStateAsUpdate(doc))
    const list = model.spaceChecklist(remote)
    model.addTodo(remote, 'Tent', list)
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(remote, Y.encodeStateVector(doc)), 'remote')
    await tick()
    expect(host.querySelector('li')?.textContent).toBe('checklist:PackingTent')
    dispose()
  })

  it('keeps DOM nodes of unchanged items (reconcile by id) and reorders on move', async () => {
    const doc = new Y.Doc()
    const a = model.addNote(doc, 'a')
    const b = model.addLink(doc, 'https://example.org', 'Example')
    const host = document.createElement('div')
    const dispose = render(() => {
      const view = useSpaceView(doc)
      return <ul><For each={view.items}>{item => <li id={`i${item.id}`}>{item.kind}</li>}</For></ul>
    }, host)
    const noteNode = host.querySelector(`#i${a}`)
    expect([...host.querySelectorAll('li')].map(n => n.id)).toEqual([`i${b}`, `i${a}`])
    model.moveItem(doc, a, 0)
    await tick()
    expect([...host.querySelectorAll('li')].map(n => n.id)).toEqual([`i${a}`, `i${b}`])
    model.setText(model.findItem(doc, b)!.get('title') as Y.Text, 'Changed')
    await tick()
    // The note's row survived both changes: reconcile matched it by id.
    expect(host.querySelector(`#i${a}`)).toBe(noteNode)
    dispose()
  })

  it('observes a doc once however many components use it, and stops when the last one goes', async () => {
    const doc = new Y.Doc()
    const items = model.items(doc)
    const before = (items as unknown as { _dEH: { l: unknown[] } })._dEH.l.length
    const stops: (() => void)[] = []
    createRoot(d1 => { useSpaceView(doc); stops.push(d1) })
    createRoot(d2 => { useSpaceView(doc); stops.push(d2) })
    expect((items as unknown as { _dEH: { l: unknown[] } })._dEH.l.length).toBe(before + 1)
    stops[0]!()
    expect((items as unknown as { _dEH: { l: unknown[] } })._dEH.l.length).toBe(before + 1)
    stops[1]!()
    expect((items as unknown as { _dEH: { l: unknown[] } })._dEH.l.length).toBe(before)
  })

  it('projects every kind without note bodies', () => {
    const doc = new Y.Doc()
    model.addNote(doc, 'secret body')
    model.addFile(doc, { name: 'a.png', size: 3, mime: 'image/png', blob: '00'.repeat(16), key: 'k', chunk: 65536, thumb: new Uint8Array([1]) })
    const v = project(doc)
    expect(v.items.map(i => i.kind)).toEqual(['file', 'note'])
    expect(JSON.stringify(v)).not.toContain('secret body')
    expect(v.items[0]!.hasThumb).toBe(true)
  })
})
