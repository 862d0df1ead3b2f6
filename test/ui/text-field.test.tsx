import { For } from 'solid-js'
import { render } from 'solid-js/web'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as model from '../../client/core/model.js'
import { useSpaceView } from '../../client/ui/bridge.js'
import { LinkItem } from '../../client/ui/views/LinkItem.js'

/**
 * The views' plain fields go through TextField/bindTextField (issue 9): a link's title, note and
 * URL are written as edits and follow remote changes without a re-render; a URL stored as a plain
 * string by an older version becomes a Y.Text when someone starts editing it.
 */
const tick = (): Promise<void> => new Promise(resolve => setTimeout(resolve, 0))
afterEach(() => { document.body.innerHTML = '' })

function mount (doc: Y.Doc, readOnly = false): { host: HTMLElement; dispose: () => void; field: (label: string) => HTMLInputElement } {
  const host = document.createElement('div')
  document.body.append(host)
  const dispose = render(() => {
    const view = useSpaceView(doc)
    return <For each={view.items}>{item => <LinkItem doc={doc} item={item} readOnly={readOnly} />}</For>
  }, host)
  const field = (label: string): HTMLInputElement =>
    Array.from(host.querySelectorAll('label')).find(l => l.textContent?.startsWith(label))!.querySelector('input, textarea') as HTMLInputElement
  return { host, dispose, field }
}

const sync = (from: Y.Doc, to: Y.Doc): void => { Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)), 'remote') }
const type = (el: HTMLInputElement, value: string, caret: number): void => {
  el.value = value
  el.setSelectionRange(caret, caret)
  el.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertText' }))
}

describe('link fields', () => {
  it('write edits to the Y.Texts and keep the caret through a remote edit', async () => {
    const doc = new Y.Doc()
    const id = model.addLink(doc, 'https://example.org/', 'Camp', 'bring')
    const { field, dispose } = mount(doc)
    const title = field('Title')
    expect([field('URL').value, title.value, field('Note').value]).toEqual(['https://example.org/', 'Camp', 'bring'])
    expect(field('URL').inputMode).toBe('url')
    title.focus()
    type(title, 'Campsite', 8)
    type(field('Note'), 'bring tent', 10)
    expect(model.toJSON(doc).items[0]).toMatchObject({ title: 'Campsite', note: 'bring tent' })

    title.focus()
    title.setSelectionRange(4, 4)
    const other = new Y.Doc()
    sync(doc, other)
    ;(model.findItem(other, id)!.get('title') as Y.Text).insert(0, 'The ')
    sync(other, doc)
    await tick()
    expect([title.value, title.selectionStart]).toEqual(['The Campsite', 8])
    dispose()
  })

  it('a URL stored as a plain string is converted on focus, and follows whichever conversion wins', async () => {
    const doc = new Y.Doc()
    const id = model.addLink(doc, 'x')
    model.findItem(doc, id)!.set('url', 'https://old.example/')
    const other = new Y.Doc()
    sync(doc, other)
    const { field, dispose } = mount(doc)
    const url = field('URL')
    expect(url.value).toBe('https://old.example/')
    url.dispatchEvent(new FocusEvent('focus'))
    expect(model.findItem(doc, id)!.get('url')).toBeInstanceOf(Y.Text)
    type(url, 'https://old.example/a', 21)
    // Another member converted it at the same time and typed too: one conversion wins on both sides.
    model.editableText(model.findItem(other, id)!, 'url')!.insert(20, 'b')
    sync(other, doc)
    sync(doc, other)
    await tick()
    const winner = String(model.findItem(doc, id)!.get('url'))
    expect(String(model.findItem(other, id)!.get('url'))).toBe(winner)
    expect(url.value).toBe(winner)
    type(url, winner + '!', winner.length + 1)
    expect(String(model.findItem(doc, id)!.get('url'))).toBe(winner + '!')
    dispose()
  })

  it('a view-only member sees remote edits and writes nothing', async () => {
    const doc = new Y.Doc()
    model.addLink(doc, 'https://example.org/', 'Camp')
    const { field, dispose } = mount(doc, true)
    const title = field('Title')
    expect(title.readOnly).toBe(true)
    type(title, 'forged', 6)
    expect(model.toJSON(doc).items[0]).toMatchObject({ title: 'Camp' })
    expect(title.value).toBe('Camp')
    dispose()
  })
})
