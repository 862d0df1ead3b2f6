import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { ShadowApplier } from '../../client/core/shadow.js'
import { createPrng, testSeed } from '../support/prng.js'

/**
 * One Yjs item sealed twice with different content (client/core/overlap.ts): a member who writes
 * two versions of (clientID, clock) in two of its streams would otherwise leave each replica with
 * whichever came first, a fork nothing heals. The second version is refused; an honest
 * re-delivery of the same item (a resend, a merged update, an item split or deleted since) is not.
 */
const REMOTE = Symbol('remote')

function editBy (clientID: number, base: Uint8Array | undefined, edit: (d: Y.Doc) => void): Uint8Array {
  const d = new Y.Doc()
  if (base !== undefined) Y.applyUpdate(d, base)
  d.clientID = clientID
  const sv = Y.encodeStateVector(d)
  edit(d)
  return Y.encodeStateAsUpdate(d, sv)
}

function replica (): { doc: Y.Doc; shadow: ShadowApplier } {
  const doc = new Y.Doc()
  doc.clientID = 99
  return { doc, shadow: new ShadowApplier(doc) }
}

describe('two versions of one item', () => {
  const base = editBy(1, undefined, d => d.getText('text').insert(0, 'base '))

  it('another text under the same ids is refused, nothing changes, the author can be named', () => {
    const { doc, shadow } = replica()
    expect(shadow.apply([base], REMOTE).ok).toBe(true)
    const v1 = editBy(7, base, d => d.getText('text').insert(5, 'hello'))
    const v2 = editBy(7, base, d => d.getText('text').insert(5, 'HELLO'))
    expect(shadow.apply([v1], REMOTE).ok).toBe(true)
    const r = shadow.apply([v2], REMOTE)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.code).toBe('apply/conflicting-item')
    expect(doc.getText('text').toString()).toBe('base hello')
    // Control: plain Yjs takes the second version silently (skips it here, keeps it where it came first).
    const other = new Y.Doc()
    Y.applyUpdate(other, base)
    Y.applyUpdate(other, v2)
    Y.applyUpdate(other, v1)
    expect(other.getText('text').toString()).toBe('base HELLO')
  })

  it('the same text at another position, another map value or key, another type: refused', () => {
    const cases: [(d: Y.Doc) => void, (d: Y.Doc) => void][] = [
      [d => d.getText('text').insert(0, 'xy'), d => d.getText('text').insert(5, 'xy')],
      [d => d.getMap('kv').set('a', 1), d => d.getMap('kv').set('a', 2)],
      [d => d.getMap('kv').set('a', 1), d => d.getMap('kv').set('b', 1)],
      [d => d.getArray('items').push([new Y.Map()]), d => d.getArray('items').push([new Y.Text()])],
      [d => d.getArray('items').push([1]), d => d.getMap('kv').set('x', 1)]
    ]
    for (const [a, b] of cases) {
      const { shadow } = replica()
      shadow.apply([base], REMOTE)
      expect(shadow.apply([editBy(7, base, a)], REMOTE).ok).toBe(true)
      expect(shadow.apply([editBy(7, base, b)], REMOTE).ok).toBe(false)
    }
  })

  it('another version of an item still pending (waiting for a dependency) is refused too', () => {
    const { doc, shadow } = replica()
    shadow.apply([base], REMOTE)
    const p5 = editBy(5, base, d => d.getText('text').insert(5, 'zz'))
    // v1 depends on p5, which has not arrived: it waits in the doc's pending structs.
    const v1 = editBy(7, Y.mergeUpdates([base, p5]), d => d.getText('text').insert(7, 'hello'))
    expect(shadow.apply([v1], REMOTE).ok).toBe(true)
    expect(doc.store.pendingStructs).not.toBe(null)
    const v2 = editBy(7, base, d => d.getText('text').insert(5, 'HELLO'))
    const r = shadow.apply([v2], REMOTE)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.code).toBe('apply/conflicting-item')
    // The dependency arrives: the first version integrates, as at every replica that got it first.
    expect(shadow.apply([p5], REMOTE).ok).toBe(true)
    expect(doc.getText('text').toString()).toBe('base zzhello')
  })

  it('two versions in one batch (one left waiting for a dependency) are refused, nothing changes', () => {
    const { doc, shadow } = replica()
    shadow.apply([base], REMOTE)
    const p5 = editBy(5, base, d => d.getText('text').insert(5, 'zz'))
    const v1 = editBy(7, Y.mergeUpdates([base, p5]), d => d.getText('text').insert(7, 'hello'))
    const v2 = editBy(7, base, d => d.getText('text').insert(5, 'HELLO'))
    const r = shadow.apply([v1, v2], REMOTE)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.code).toBe('apply/conflicting-item')
    expect(doc.getText('text').toString()).toBe('base ')
    expect(doc.store.pendingStructs).toBe(null)
  })

  it('honest re-deliveries pass: the same update again, merged with later ones, after its items were split or deleted', () => {
    const { doc, shadow } = replica()
    shadow.apply([base], REMOTE)
    const v1 = editBy(7, base, d => d.getText('text').insert(5, 'hello world'))
    expect(shadow.apply([v1], REMOTE).ok).toBe(true)
    // Another member types inside it (splits the item) and deletes part of it.
    const s1 = Y.encodeStateAsUpdate(doc)
    expect(shadow.apply([editBy(8, s1, d => { d.getText('text').insert(8, '--'); d.getText('text').delete(12, 3) })], REMOTE).ok).toBe(true)
    const later = editBy(7, Y.mergeUpdates([base, v1]), d => d.getText('text').insert(0, '>'))
    const again = shadow.apply([Y.mergeUpdates([v1, later])], REMOTE)
    expect(again.ok).toBe(true)
    expect(shadow.apply([v1], REMOTE)).toEqual({ ok: true, value: { changed: false } })
    expect(shadow.apply([Y.encodeStateAsUpdate(doc)], REMOTE).ok).toBe(true)
  })

  it('random honest histories re-delivered in any order and grouping never conflict', () => {
    const seed = testSeed('overlap')
    const p = createPrng(seed)
    for (let run = 0; run < 30; run++) {
      const docs = [1, 2, 3].map(id => { const d = new Y.Doc(); d.clientID = id; return d })
      const sent: Uint8Array[] = []
      for (const d of docs) d.on('update', (u: Uint8Array) => sent.push(u))
      for (let step = 0; step < 40; step++) {
        const d = docs[p.int(0, 2)]!
        const t = d.getText('text')
        const r = p.int(0, 3)
        if (r === 0 || t.length === 0) t.insert(p.int(0, t.length), p.pick(['a', 'bc', '😀', 'déf ']))
        else if (r === 1) t.delete(p.int(0, t.length - 1), 1)
        else if (r === 2) d.getMap('kv').set(p.pick(['a', 'b']), p.int(0, 9))
        else {
          const other = docs[p.int(0, 2)]!
          if (other !== d) Y.applyUpdate(d, Y.encodeStateAsUpdate(other, Y.encodeStateVector(d)))
        }
      }
      const { doc, shadow } = replica()
      for (let k = 0; k < 3; k++) {
        const order = [...sent].sort(() => p.int(0, 2) - 1)
        for (let i = 0; i < order.length;) {
          const n = p.int(1, 4)
          const group = order.slice(i, i + n)
          i += n
          const r = shadow.apply([group.length === 1 ? group[0]! : Y.mergeUpdates(group)], REMOTE)
          expect(r.ok, `seed ${seed} run ${run}: ${r.ok ? '' : r.message}`).toBe(true)
        }
      }
      for (const d of docs) Y.applyUpdate(d, Y.mergeUpdates(sent))
      expect(doc.getText('text').toString(), `seed ${seed}`).toBe(docs[0]!.getText('text').toString())
    }
  })
})
