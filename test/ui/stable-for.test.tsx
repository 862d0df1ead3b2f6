import { createSignal } from 'solid-js'
import { render } from 'solid-js/web'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as model from '../../client/core/model.js'
import { useSpaceView } from '../../client/ui/bridge.js'
import { longestIncreasing, placeNodes } from '../../client/ui/place-nodes.js'
import { Checklist } from '../../client/ui/views/Checklist.js'
import { StableFor } from '../../client/ui/views/StableFor.js'
import { createPrng, testSeed } from '../support/prng.js'

/**
 * Issue 9, item 2: reordering, adding and deleting rows never moves (so never blurs) the row that
 * holds the focus. Moving a node detaches it for a moment, which is what takes the focus away in a
 * browser; happy-dom does not blur, so these tests watch the DOM mutations instead: the focused
 * row must never be among the removed nodes.
 */
const tick = (): Promise<void> => new Promise(resolve => setTimeout(resolve, 0))
afterEach(() => { document.body.innerHTML = '' })

/** Every node removed from (or moved within) `parent` since the last call. */
function watchRemovals (parent: Node): () => Node[] {
  const mo = new MutationObserver(() => {})
  mo.observe(parent, { childList: true })
  return () => mo.takeRecords().flatMap(r => Array.from(r.removedNodes))
}

describe('placeNodes', () => {
  it('finds a longest increasing run', () => {
    expect(longestIncreasing([])).toEqual([])
    expect(longestIncreasing([3, 1, 2, 0, 4])).toEqual([1, 2, 4])
    expect(longestIncreasing([5, 4, 3]).length).toBe(1)
  })

  it('reaches any order without moving the focused row, and one moved row costs one move', () => {
    const prng = createPrng(testSeed('placeNodes'))
    for (let round = 0; round < 200; round++) {
      const parent = document.createElement('ul')
      document.body.append(parent)
      const rows = Array.from({ length: prng.int(1, 12) }, (_, i) => {
        const li = document.createElement('li')
        li.append(document.createElement('input'))
        li.dataset.i = String(i)
        return li
      })
      placeNodes(parent, rows)
      const focused = prng.pick(rows)
      focused.querySelector('input')!.focus()
      const removed = watchRemovals(parent)
      // A random reorder with some rows dropped and some new ones.
      const next = rows.filter(r => r === focused || prng.bool(0.85)).sort(() => prng.next() - 0.5)
      for (let k = prng.int(0, 2); k > 0; k--) next.splice(prng.int(0, next.length), 0, document.createElement('li'))
      placeNodes(parent, next)
      expect(Array.from(parent.children)).toEqual(next)
      expect(removed()).not.toContain(focused)
      expect(document.activeElement).toBe(focused.querySelector('input'))
      parent.remove()
    }
    const parent = document.createElement('ul')
    const rows = Array.from({ length: 10 }, () => document.createElement('li'))
    placeNodes(parent, rows)
    const removed = watchRemovals(parent)
    placeNodes(parent, [rows[9]!, ...rows.slice(0, 9)])
    expect(removed()).toEqual([rows[9]])
  })
})

describe('StableFor', () => {
  it('keeps each row (and so its element) by item identity, like <For>', () => {
    const a = { id: 'a' }
    const b = { id: 'b' }
    const [xs, setXs] = createSignal([a, b])
    const host = document.createElement('div')
    const dispose = render(() => <StableFor each={xs()} tag="ul" class="rows" label="Rows">{(x, i) => <li>{x.id}{i()}</li>}</StableFor>, host)
    const ul = host.querySelector('ul.rows')!
    expect(ul.getAttribute('aria-label')).toBe('Rows')
    const [la, lb] = Array.from(ul.children)
    setXs([b, { id: 'c' }, a])
    expect(ul.textContent).toBe('b0c1a2')
    expect(ul.children[0]).toBe(lb)
    expect(ul.children[2]).toBe(la)
    setXs([a])
    expect(Array.from(ul.children)).toEqual([la])
    dispose()
  })

  it('an entry being typed in keeps focus, caret and its keys while another member moves it, its list and others', async () => {
    const doc = new Y.Doc()
    const listId = model.addChecklist(doc, 'Packing')
    model.addChecklist(doc, 'Other')
    const ids = ['first', 'second', 'third'].map(t => model.addTodo(doc, t, model.findItem(doc, listId)))
    const host = document.createElement('div')
    document.body.append(host)
    const dispose = render(() => {
      const view = useSpaceView(doc)
      return <StableFor each={view.items} tag="div">{item => <article><Checklist doc={doc} item={item} readOnly={false} /></article>}</StableFor>
    }, host)
    const cards = host.firstElementChild!
    const packing = (): Element => Array.from(cards.children).find(c => c.querySelector('.entry-text') !== null)!
    const input = packing().querySelectorAll<HTMLInputElement>('.entry-text')[1]!
    expect(input.value).toBe('second')
    input.focus()
    input.setSelectionRange(6, 6)
    const row = input.closest('li')!
    const rowRemovals = watchRemovals(row.parentNode!)
    const cardRemovals = watchRemovals(cards)

    const other = new Y.Doc()
    Y.applyUpdate(other, Y.encodeStateAsUpdate(doc))
    const sync = async (): Promise<void> => {
      Y.applyUpdate(doc, Y.encodeStateAsUpdate(other, Y.encodeStateVector(doc)), 'remote')
      await tick()
    }
    const type = (s: string): void => {
      const c = input.selectionEnd ?? 0
      input.value = input.value.slice(0, c) + s + input.value.slice(c)
      input.setSelectionRange(c + s.length, c + s.length)
      input.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertText' }))
    }
    const otherList = (): Y.Map<unknown> => model.findItem(other, listId)!
    type('-a')
    model.moveTodo(other, otherList(), ids[1]!, 0); await sync()
    type('-b')
    model.moveItem(other, listId, 1); await sync()
    type('-c')
    model.moveTodo(other, otherList(), ids[0]!, 0); await sync()
    model.addTodo(other, 'new', otherList()); model.addNote(other, 'note'); await sync()
    type('-d')
    model.removeTodo(other, otherList(), ids[2]!); await sync()
    type('-e')

    expect(rowRemovals()).not.toContain(row)
    expect(cardRemovals()).not.toContain(packing())
    expect(document.activeElement).toBe(input)
    expect([input.value, input.selectionStart]).toEqual(['second-a-b-c-d-e', 16])
    const entries = model.toJSON(doc).items.find(i => i.id === listId)
    expect(entries).toMatchObject({ entries: [{ text: 'first' }, { text: 'second-a-b-c-d-e' }, { text: 'new' }] })
    dispose()
  })
})
