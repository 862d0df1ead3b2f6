import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { bindTextField, type TextFieldElement } from '../../client/ui/text-binding.js'
import { diff, mapIndex } from '../../client/ui/text-delta.js'

/**
 * The plain-field binding (issue 9, item 1) in happy-dom: typing is read as events against what
 * the field showed, remote changes keep the caret, and two people typing at the two ends of one
 * field converge on both words intact.
 */
const REMOTE = 'remote'
const cleanups: Array<() => void> = []
afterEach(() => { for (const c of cleanups.splice(0)) c(); document.body.innerHTML = '' })

/** A focused input bound to a fresh doc's text, with every transaction on that text recorded. */
function setup (initial: string, tag: 'input' | 'textarea' = 'input', page: Document = document): { doc: Y.Doc; text: Y.Text; el: TextFieldElement; ops: unknown[] } {
  const doc = new Y.Doc()
  const text = doc.getText('t')
  text.insert(0, initial)
  const el = page.createElement(tag)
  page.body.append(el)
  cleanups.push(bindTextField(el, text))
  el.focus()
  const ops: unknown[] = []
  text.observe((ev, tr) => { ops.push({ delta: ev.delta, local: tr.origin !== REMOTE && tr.local }) })
  return { doc, text, el, ops }
}

/** What the browser does for a key or a paste: change the value and caret, then fire `input`. */
function type (el: TextFieldElement, value: string, caret: number, inputType = 'insertText'): void {
  el.value = value
  el.setSelectionRange(caret, caret)
  el.dispatchEvent(new InputEvent('input', { bubbles: true, inputType }))
}

/** A change made by another member, applied as the session does (its own origin). */
function remote (doc: Y.Doc, edit: (t: Y.Text) => void): void {
  const other = new Y.Doc()
  Y.applyUpdate(other, Y.encodeStateAsUpdate(doc))
  edit(other.getText('t'))
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(other, Y.encodeStateVector(doc)), REMOTE)
}

describe('diff', () => {
  it('uses the caret to place an insert among equal characters', () => {
    expect(diff('aa', 'aaa', 2)).toEqual({ index: 1, remove: 0, insert: 'a' })
    expect(diff('aa', 'aaa', 3)).toEqual({ index: 2, remove: 0, insert: 'a' })
    expect(diff('aa', 'aaa')).toEqual({ index: 0, remove: 0, insert: 'a' })
    expect(diff('aaa', 'aa', 0)).toEqual({ index: 0, remove: 1, insert: '' })
    expect(diff('same', 'same', 2)).toBeUndefined()
  })
  it('replaces a selection in one change and never splits a surrogate pair', () => {
    expect(diff('hello world', 'hello there', 11)).toEqual({ index: 6, remove: 5, insert: 'there' })
    expect(diff('a😀b', 'a😃b', 3)).toEqual({ index: 1, remove: 2, insert: '😃' })
    expect(diff('x😀', 'x😀😀', 5)).toEqual({ index: 3, remove: 0, insert: '😀' })
  })
  it('maps an index through a remote delta', () => {
    const delta = [{ retain: 2 }, { insert: 'XY' }, { retain: 1 }, { delete: 2 }]
    expect(mapIndex(delta, 1, 1)).toBe(1)
    expect(mapIndex(delta, 2, 1)).toBe(4)
    expect(mapIndex(delta, 2, -1)).toBe(2)
    expect(mapIndex(delta, 3, 1)).toBe(5)
    expect(mapIndex(delta, 4, 1)).toBe(5) // inside the deleted range
    expect(mapIndex(delta, 6, 1)).toBe(6)
    expect(mapIndex(delta, 9, 1)).toBe(9)
  })
})

describe('bindTextField', () => {
  it('shows the text and writes local inserts, deletes and replaced selections as exact ops', () => {
    const { text, el, ops } = setup('middle1')
    expect(el.value).toBe('middle1')
    type(el, 'middle1!', 8)
    type(el, 'middle!', 6, 'deleteContentBackward')
    type(el, 'mXe!', 2, 'insertText') // "iddl" selected and replaced by "X"
    type(el, 'mXe!pasted', 10, 'insertFromPaste')
    expect(text.toString()).toBe('mXe!pasted')
    expect(ops).toEqual([
      { delta: [{ retain: 7 }, { insert: '!' }], local: true },
      { delta: [{ retain: 6 }, { delete: 1 }], local: true },
      { delta: [{ retain: 1 }, { delete: 4 }, { insert: 'X' }], local: true },
      { delta: [{ retain: 4 }, { insert: 'pasted' }], local: true }
    ])
  })

  it('keeps the caret through a remote insert before, after and at it', () => {
    const { doc, el } = setup('middle1')
    el.setSelectionRange(3, 3)
    remote(doc, t => t.insert(0, 'bob '))
    expect([el.value, el.selectionStart, el.selectionEnd]).toEqual(['bob middle1', 7, 7])
    remote(doc, t => t.insert(11, ' end'))
    expect([el.value, el.selectionStart, el.selectionEnd]).toEqual(['bob middle1 end', 7, 7])
    remote(doc, t => t.delete(0, 4))
    expect([el.value, el.selectionStart, el.selectionEnd]).toEqual(['middle1 end', 3, 3])
    // At the caret: the other person's text goes after it, so my next key does not split theirs.
    remote(doc, t => t.insert(3, 'XY'))
    expect([el.value, el.selectionStart, el.selectionEnd]).toEqual(['midXYdle1 end', 3, 3])
    el.setSelectionRange(0, 0)
    remote(doc, t => t.insert(0, '>'))
    expect([el.value, el.selectionStart]).toEqual(['>midXYdle1 end', 0])
    // The text around the caret deleted: it lands where the deletion was.
    el.setSelectionRange(5, 5)
    remote(doc, t => t.delete(2, 6))
    expect([el.value, el.selectionStart]).toEqual(['>me1 end', 2])
  })

  it('keeps a selection through remote inserts before, inside and after it', () => {
    const { doc, el } = setup('0123456789')
    el.setSelectionRange(3, 6, 'backward')
    remote(doc, t => t.insert(1, 'ab'))
    expect([el.selectionStart, el.selectionEnd]).toEqual([5, 8])
    remote(doc, t => t.insert(6, 'IN'))
    expect([el.value.slice(el.selectionStart ?? 0, el.selectionEnd ?? 0), el.selectionDirection]).toEqual(['3IN45', 'backward'])
    // Text added right at either edge of the selection stays outside it.
    remote(doc, t => { t.insert(10, 'R'); t.insert(5, 'L') })
    expect(el.value.slice(el.selectionStart ?? 0, el.selectionEnd ?? 0)).toBe('3IN45')
    expect(el.value).toBe('0ab12L3IN45R6789')
  })

  it('leaves an unfocused field alone apart from its value, and a read-only one never writes', () => {
    const doc = new Y.Doc()
    const text = doc.getText('t')
    text.insert(0, 'shown')
    const el = document.createElement('textarea')
    document.body.append(el)
    cleanups.push(bindTextField(el, text, { readOnly: true }))
    remote(doc, t => t.insert(5, '!'))
    expect(el.value).toBe('shown!')
    type(el, 'forged', 6)
    expect(text.toString()).toBe('shown!')
    expect(el.value).toBe('shown!')
  })

  it('holds remote changes during an IME composition and carries the composed text over them', () => {
    const { doc, text, el } = setup('abc def')
    el.setSelectionRange(4, 4)
    el.dispatchEvent(new CompositionEvent('compositionstart'))
    el.value = 'abc にdef'
    el.dispatchEvent(new InputEvent('input', { isComposing: true }))
    expect(text.toString()).toBe('abc def')
    remote(doc, t => t.insert(0, 'XX'))
    expect(el.value).toBe('abc にdef') // not touched while composing
    el.value = 'abc 日本def'
    el.setSelectionRange(6, 6)
    el.dispatchEvent(new CompositionEvent('compositionend', { data: '日本' }))
    expect(text.toString()).toBe('XXabc 日本def')
    expect([el.value, el.selectionStart]).toEqual(['XXabc 日本def', 8])
  })

  it('two people typing at the start and the end at the same time converge without interleaving', () => {
    // Two pages (each person has the focus in their own), Bob's doc a copy of Alice's.
    const alice = setup('middle1')
    const bob = setup('', 'input', document.implementation.createHTMLDocument('bob'))
    Y.applyUpdate(bob.doc, Y.encodeStateAsUpdate(alice.doc), REMOTE)
    expect(bob.el.value).toBe('middle1')
    bob.el.setSelectionRange(0, 0)
    alice.el.setSelectionRange(7, 7)
    const aliceKeys = ' alice-end'
    const bobKeys = 'bob-start '
    const sync = (from: Y.Doc, to: Y.Doc): void => { Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)), REMOTE) }
    for (let i = 0; i < 10; i++) {
      // Each types one key against what their own field shows, then (every other key) the docs sync.
      const a = alice.el
      const ac = a.selectionEnd ?? 0
      type(a, a.value.slice(0, ac) + aliceKeys[i] + a.value.slice(ac), ac + 1)
      const b = bob.el
      const bc = b.selectionEnd ?? 0
      type(b, b.value.slice(0, bc) + bobKeys[i] + b.value.slice(bc), bc + 1)
      if (i % 2 === 1) { sync(alice.doc, bob.doc); sync(bob.doc, alice.doc) }
    }
    const want = 'bob-start middle1 alice-end'
    expect([alice.text.toString(), bob.text.toString(), alice.el.value, bob.el.value]).toEqual([want, want, want, want])
    expect(alice.el.selectionStart).toBe(want.length)
    expect(bob.el.selectionStart).toBe(bobKeys.length)
  })
})
