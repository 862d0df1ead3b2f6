import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { onLocalUpdates } from '../../client/core/local-updates.js'

const REMOTE = Symbol('remote')
const skip = (o: unknown): boolean => o === REMOTE

/** For each transaction, by origin: would Yjs encode its update (is an 'update' listener attached at its check)? */
function encodes (doc: Y.Doc): Array<[unknown, boolean]> {
  const seen: Array<[unknown, boolean]> = []
  // Registered after onLocalUpdates' own handler: runs right before Yjs's check, as Yjs's is next.
  doc.on('afterTransactionCleanup', (tr: Y.Transaction) => {
    seen.push([tr.origin, (doc as unknown as { _observers: Map<string, unknown> })._observers.has('update')])
  })
  return seen
}

/** An update from another replica. */
function remoteUpdate (f: (d: Y.Doc) => void): Uint8Array {
  const other = new Y.Doc()
  f(other)
  return Y.encodeStateAsUpdate(other)
}

describe('onLocalUpdates (client/core/local-updates.ts)', () => {
  it('passes every local update on, and Yjs encodes none of the skipped ones', () => {
    const doc = new Y.Doc()
    const got: Uint8Array[] = []
    onLocalUpdates(doc, skip, u => got.push(u))
    const seen = encodes(doc)
    doc.getText('t').insert(0, 'mine')
    Y.applyUpdate(doc, remoteUpdate(d => d.getText('r').insert(0, 'theirs')), REMOTE)
    doc.getText('t').insert(doc.getText('t').length, '!')
    expect(seen.map(([o, e]) => [o === REMOTE ? 'remote' : 'local', e])).toEqual([['local', true], ['remote', false], ['local', true]])
    // The two local updates rebuild the local edits exactly.
    const copy = new Y.Doc()
    for (const u of got) Y.applyUpdate(copy, u)
    expect(got).toHaveLength(2)
    expect(copy.getText('t').toString()).toBe('mine!')
    expect(copy.getText('r').toString()).toBe('')
  })

  it('without it, a plain listener makes Yjs encode the remote transaction too (what it saves)', () => {
    const doc = new Y.Doc()
    doc.on('update', (_u: Uint8Array, o: unknown) => { if (skip(o)) return })
    const seen = encodes(doc)
    Y.applyUpdate(doc, remoteUpdate(d => d.getMap('m').set('k', 'v')), REMOTE)
    expect(seen.map(([, e]) => e)).toEqual([true])
  })

  it('a local edit made inside a remote transaction\'s observer is its own transaction and is passed on', () => {
    const doc = new Y.Doc()
    const got: Array<[Uint8Array, unknown]> = []
    onLocalUpdates(doc, skip, (u, o) => got.push([u, o]))
    const seen = encodes(doc)
    const m = doc.getMap('m')
    m.observe(e => {
      if (e.transaction.origin === REMOTE && !m.has('seen')) doc.transact(() => m.set('seen', true), 'observer')
    })
    Y.applyUpdate(doc, remoteUpdate(d => d.getMap('m').set('k', 'v')), REMOTE)
    expect(seen.map(([o, e]) => [o === REMOTE ? 'remote' : o, e])).toEqual([['remote', false], ['observer', true]])
    expect(got.map(([, o]) => o)).toEqual(['observer'])
    const copy = new Y.Doc()
    Y.applyUpdate(copy, got[0]![0])
    expect(copy.getMap('m').get('seen')).toBe(true)
    expect(copy.getMap('m').has('k')).toBe(false)
  })

  it('Yjs\'s own formatting cleanup after a remote change is judged by its own origin (null): its update would be passed on', () => {
    const doc = new Y.Doc()
    const got: unknown[] = []
    onLocalUpdates(doc, skip, (_u, o) => got.push(o))
    doc.getText('t').insert(0, 'abc', { bold: true })
    got.length = 0
    // Another replica removes and sets the formatting again: applying that here makes Yjs run a
    // cleanup transaction of its own after the remote one.
    const other = new Y.Doc()
    Y.applyUpdate(other, Y.encodeStateAsUpdate(doc))
    other.getText('t').format(0, 3, { bold: null })
    other.getText('t').format(0, 3, { bold: true })
    const seen = encodes(doc)
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(other, Y.encodeStateVector(doc)), REMOTE)
    expect(seen).toEqual([[REMOTE, false], [null, true]])
    expect(got).not.toContain(REMOTE)
  })

  it('stays first in line: an app listener that throws on a local edit does not cost that edit', () => {
    const doc = new Y.Doc()
    const got: unknown[] = []
    onLocalUpdates(doc, skip, (_u, o) => got.push(o))
    // Taken off for a remote transaction (it is alone), then an app listener is added after it.
    Y.applyUpdate(doc, remoteUpdate(d => d.getMap('m').set('a', 1)), REMOTE)
    doc.on('update', () => { throw new Error('app bug') })
    // Back on for the local edit, ahead of the app's listener, so it is called before the throw.
    expect(() => doc.getMap('m').set('b', 2)).toThrow('app bug')
    expect(got).toEqual([null])
  })

  it('another update listener does not change what it passes on; unsubscribing stops it', () => {
    const doc = new Y.Doc()
    const others: unknown[] = []
    doc.on('update', (_u: Uint8Array, o: unknown) => others.push(o))
    const got: unknown[] = []
    const stop = onLocalUpdates(doc, skip, (_u, o) => got.push(o))
    Y.applyUpdate(doc, remoteUpdate(d => d.getMap('m').set('a', 1)), REMOTE)
    doc.getMap('m').set('b', 2)
    expect(others).toEqual([REMOTE, null])
    expect(got).toEqual([null])
    stop()
    doc.getMap('m').set('c', 3)
    expect(got).toEqual([null])
    expect(others).toEqual([REMOTE, null, null])
  })
})
