import { For } from 'solid-js'
import { render } from 'solid-js/web'
import { afterEach, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import * as model from '../../client/core/model.js'
import * as trash from '../../client/core/trash.js'
import { useSpaceView } from '../../client/ui/bridge.js'
import { clearToasts } from '../../client/ui/toasts.js'
import { Checklist } from '../../client/ui/views/Checklist.js'
import { Toasts } from '../../client/ui/views/Toasts.js'
import { TrashNotice } from '../../client/ui/views/TrashNotice.js'
import { TrashPanel } from '../../client/ui/views/TrashPanel.js'

const tick = (): Promise<void> => new Promise(resolve => setTimeout(resolve, 0))
const click = (el: Element | null | undefined): void => { (el as HTMLElement).click() }

/** The Trash views over a doc, as SpacePage wires them (issue 9.4). */
function mount (doc: Y.Doc, readOnly = false): { host: HTMLElement; dispose: () => void } {
  const host = document.createElement('div')
  document.body.append(host)
  const dispose = render(() => {
    const view = useSpaceView(doc)
    return (
      <>
        <TrashNotice items={view.trash} onShow={() => {}} />
        <For each={view.items}>{item => <Checklist doc={doc} item={item} readOnly={readOnly} />}</For>
        <TrashPanel doc={doc} items={view.trash} readOnly={readOnly} />
        <Toasts />
      </>
    )
  }, host)
  return { host, dispose: () => { dispose(); host.remove() } }
}

const entries = (host: HTMLElement): string[] => [...host.querySelectorAll<HTMLInputElement>('.entry-text')].map(e => e.value)

describe('Trash views', () => {
  afterEach(() => { clearToasts(); localStorage.clear(); vi.restoreAllMocks() })

  it('deleting an entry shows a toast whose Undo brings it back; otherwise it is listed in Trash', async () => {
    const doc = new Y.Doc()
    model.addChecklist(doc, 'Trip')
    model.addTodo(doc, 'tent')
    model.addTodo(doc, 'stove')
    const { host, dispose } = mount(doc)
    click(host.querySelectorAll('[aria-label="Delete entry"]')[1])
    await tick()
    expect(entries(host)).toEqual(['tent'])
    const toast = host.querySelector('[data-testid=toast]')!
    expect(toast.textContent).toContain('Entry “stove” deleted')
    expect(host.querySelector('[data-testid=trash-row]')?.textContent).toContain('in “Trip”')
    click([...toast.querySelectorAll('button')].find(b => b.textContent === 'Undo'))
    await tick()
    expect(entries(host)).toEqual(['tent', 'stove'])
    expect(host.querySelector('[data-testid=toast]')).toBeNull()
    expect(host.querySelector('[data-testid=trash-empty]')).not.toBeNull()
    dispose()
  })

  it('a trashed checklist with entries added after the delete: the notice names them, Restore and Delete forever work', async () => {
    const alice = new Y.Doc()
    const listId = model.addChecklist(alice, 'Trip')
    const bob = new Y.Doc()
    Y.applyUpdate(bob, Y.encodeStateAsUpdate(alice))
    model.addTodo(bob, 'stove', model.findItem(bob, listId), 'Bob')
    model.addTodo(bob, 'matches', model.findItem(bob, listId), 'Bob')
    trash.trashItem(alice, listId, 'Alice')
    const note = model.addNote(alice, 'old note')
    trash.trashItem(alice, note, 'Alice')
    const { host, dispose } = mount(alice)
    Y.applyUpdate(alice, Y.encodeStateAsUpdate(bob, Y.encodeStateVector(alice)), 'remote')
    await tick()
    expect(host.querySelector('[data-testid=trash-notice]')?.textContent).toContain('Bob\'s 2 entries went to Trash with the checklist “Trip”')
    const rows = [...host.querySelectorAll('[data-testid=trash-row]')]
    const trip = rows.find(r => r.textContent?.includes('Trip'))!
    expect(trip.textContent).toContain('Deleted by Alice · just now')
    expect(trip.querySelector('[data-testid=trash-late]')?.textContent).toBe('Bob\'s 2 entries went to Trash with the checklist “Trip”')

    vi.spyOn(window, 'confirm').mockReturnValue(true)
    click([...rows.find(r => r.textContent?.includes('old note'))!.querySelectorAll('button')].find(b => b.textContent === 'Delete forever'))
    expect(model.findItem(alice, note)).toBeUndefined()

    click([...trip.querySelectorAll('button')].find(b => b.textContent === 'Restore'))
    await tick()
    expect(entries(host)).toEqual(['stove', 'matches'])
    expect(host.querySelector('[data-testid=trash-notice]')).toBeNull()
    dispose()
  })

  it('the notice can be dismissed, and comes back when more lands', async () => {
    const doc = new Y.Doc()
    const listId = model.addChecklist(doc, 'Trip')
    const other = new Y.Doc()
    Y.applyUpdate(other, Y.encodeStateAsUpdate(doc))
    model.addTodo(other, 'a', model.findItem(other, listId), 'Bob')
    trash.trashItem(doc, listId, 'Alice')
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(other, Y.encodeStateVector(doc)))
    const { host, dispose } = mount(doc, true)
    expect(host.querySelector('[data-testid=trash-row] button')).toBeNull() // viewers: no Restore
    click([...host.querySelectorAll('[data-testid=trash-notice] button')].find(b => b.textContent === 'Dismiss'))
    await tick()
    expect(host.querySelector('[data-testid=trash-notice]')).toBeNull()
    model.addTodo(other, 'b', model.findItem(other, listId), 'Bob')
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(other, Y.encodeStateVector(doc)))
    await tick()
    expect(host.querySelector('[data-testid=trash-notice]')?.textContent).toContain('Bob\'s 2 entries')
    dispose()
  })
})
