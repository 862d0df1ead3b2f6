import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { checkContent, readSnapshotBody, writeSnapshotBody, type SnapshotBody } from '../../client/core/snapshot.js'
import { toHex } from '../../shared/bytes.js'

/**
 * client/core/snapshot.ts on its own: `checkContent` (the check only a member holding the log can
 * make, issue 7 item 3) and the snapshot body format (v2: parts and bindings grouped per device;
 * v1 bodies still read).
 */

/** A replica's doc: "hello world" by clientID 1, " (and more)" by clientID 2. */
function replica (): Y.Doc {
  const d = new Y.Doc()
  d.clientID = 1
  d.getText('text').insert(0, 'hello world')
  const other = new Y.Doc()
  other.clientID = 2
  Y.applyUpdate(other, Y.encodeStateAsUpdate(d))
  other.getText('text').insert(11, ' (and more)')
  Y.applyUpdate(d, Y.encodeStateAsUpdate(other, Y.encodeStateVector(d)))
  return d
}

function copy (d: Y.Doc, clientID: number): Y.Doc {
  const c = new Y.Doc()
  Y.applyUpdate(c, Y.encodeStateAsUpdate(d))
  c.clientID = clientID
  return c
}

const stateOf = (d: Y.Doc): Uint8Array => Y.encodeStateAsUpdateV2(d)

describe('checkContent', () => {
  it('identical content: ok', () => {
    const mine = replica()
    expect(checkContent(stateOf(mine), mine)).toEqual({ ok: true, value: undefined })
    expect(checkContent(stateOf(copy(mine, 9)), mine)).toEqual({ ok: true, value: undefined })
    expect(mine.getText('text').toString()).toBe('hello world (and more)')
  })

  it('an honest snapshot older than the replica (the replica has more since): ok', () => {
    const mine = replica()
    const older = stateOf(mine)
    const later = copy(mine, 3)
    later.getText('text').insert(0, '> ')
    Y.applyUpdate(mine, Y.encodeStateAsUpdate(later, Y.encodeStateVector(mine)))
    expect(checkContent(older, mine)).toEqual({ ok: true, value: undefined })
  })

  it('content under another member\'s clientID (same clocks, different text): content-mismatch', () => {
    const mine = new Y.Doc()
    mine.clientID = 1
    mine.getText('text').insert(0, 'hello world')
    // The forger writes 11 characters under clientID 1: the state vectors agree ({1: 11}).
    const forged = new Y.Doc()
    forged.clientID = 1
    forged.getText('text').insert(0, 'helloEVIL!d')
    expect(Y.decodeStateVector(Y.encodeStateVector(forged))).toEqual(Y.decodeStateVector(Y.encodeStateVector(mine)))
    const r = checkContent(stateOf(forged), mine)
    expect(r).toMatchObject({ ok: false, code: 'snapshot/content-mismatch' })
    expect(mine.getText('text').toString()).toBe('hello world')
  })

  it('the same forgery alongside honest content of other members: content-mismatch', () => {
    const mine = replica()
    // Rebuild the doc with clientID 1's content, and clientID 2's clocks filled with other text.
    const f = new Y.Doc()
    f.clientID = 1
    f.getText('text').insert(0, 'hello world')
    const g = copy(f, 2)
    g.getText('text').insert(11, ' (and EVIL)')
    expect(Y.decodeStateVector(Y.encodeStateVector(g))).toEqual(Y.decodeStateVector(Y.encodeStateVector(mine)))
    expect(checkContent(stateOf(g), mine)).toMatchObject({ ok: false, code: 'snapshot/content-mismatch' })
  })

  it('a snapshot missing a deletion: content-mismatch', () => {
    const mine = replica()
    const beforeDelete = stateOf(mine)
    // Member 3 deletes " (and more)": a deletion adds no clock, only a delete-set entry.
    const deleter = copy(mine, 3)
    deleter.getText('text').delete(11, 11)
    Y.applyUpdate(mine, Y.encodeStateAsUpdate(deleter, Y.encodeStateVector(mine)))
    expect(mine.getText('text').toString()).toBe('hello world')
    // A snapshot that covers the deleter's stream but leaves the deletion out: seen when this
    // replica holds exactly the snapshot's heads (exact)…
    expect(checkContent(beforeDelete, mine, true)).toMatchObject({ ok: false, code: 'snapshot/content-mismatch' })
    // …and not when it holds more (a deletion has no clock to tell whose it is): the documented limit.
    expect(checkContent(beforeDelete, mine, false).ok).toBe(true)
  })

  it('a snapshot with a deletion nobody made: content-mismatch', () => {
    const mine = replica()
    const forged = copy(mine, 4)
    forged.getText('text').delete(0, 6)
    expect(checkContent(stateOf(forged), mine)).toMatchObject({ ok: false, code: 'snapshot/content-mismatch' })
  })

  it('a snapshot with content the replica does not have: content-mismatch', () => {
    const mine = replica()
    const forged = copy(mine, 5)
    forged.getText('text').insert(0, 'extra ')
    expect(checkContent(stateOf(forged), mine)).toMatchObject({ ok: false, code: 'snapshot/content-mismatch' })
    // Also in a root the replica never declared.
    const other = copy(mine, 6)
    other.getMap('secret').set('k', 'v')
    expect(checkContent(stateOf(other), mine)).toMatchObject({ ok: false, code: 'snapshot/content-mismatch' })
  })

  it('a state that does not decode: malformed, and the replica is untouched', () => {
    const mine = replica()
    const before = toHex(Y.encodeStateAsUpdateV2(mine))
    expect(checkContent(new Uint8Array([1, 2, 3]), mine)).toMatchObject({ ok: false })
    expect(toHex(Y.encodeStateAsUpdateV2(mine))).toBe(before)
  })
})

const bytes = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v)

describe('snapshot body', () => {
  const devA = bytes(32, 0xa1)
  const devB = bytes(32, 0xb2)
  const heads = [
    { author: devA, stream: bytes(8, 1), seq: 0, hash: bytes(32, 0x11) },
    { author: devB, stream: bytes(8, 2), seq: 0xffffffff, hash: bytes(32, 0x22) }
  ]

  /** Bindings as a comparable set of `clientID:deviceHex`. */
  const bindingSet = (b: SnapshotBody['bindings']): string[] => b.map(([c, a]) => `${c}:${toHex(a)}`).sort()

  it('v2 round-trips with parts and bindings grouped per device', () => {
    const body: SnapshotBody = {
      createdAt: 1_700_000_000_000,
      covers: 12345,
      heads,
      bindings: [[1, devA], [400, devB], [2, devA], [2 ** 32 - 1, devA]],
      parts: [bytes(32, 0xe1), bytes(32, 0xe2), bytes(32, 0xe3)],
      state: new Uint8Array(0)
    }
    const w = writeSnapshotBody(body)
    expect(w[0]).toBe(2)
    const r = readSnapshotBody(w)
    if (!r.ok) throw new Error(r.message)
    expect(r.value.createdAt).toBe(body.createdAt)
    expect(r.value.covers).toBe(body.covers)
    expect(r.value.heads).toEqual(body.heads)
    expect(r.value.parts).toEqual(body.parts)
    expect(r.value.state).toEqual(new Uint8Array(0))
    expect(bindingSet(r.value.bindings)).toEqual(bindingSet(body.bindings))
  })

  it('v2 round-trips an inline state', () => {
    const doc = replica()
    const state = Y.encodeStateAsUpdateV2(doc)
    const body: SnapshotBody = { createdAt: 5, covers: 6, heads, bindings: [[1, devA], [2, devB]], parts: [], state }
    const r = readSnapshotBody(writeSnapshotBody(body))
    if (!r.ok) throw new Error(r.message)
    expect(r.value).toMatchObject({ createdAt: 5, covers: 6, parts: [] })
    expect(r.value.state).toEqual(state)
    expect(bindingSet(r.value.bindings)).toEqual(bindingSet(body.bindings))
  })

  it('grouping bindings per device: many clientIDs of one device cost a few bytes each, not 36', () => {
    const many: Array<readonly [number, Uint8Array]> = []
    for (let i = 0; i < 1000; i++) many.push([100_000 + i, devA])
    const base = { createdAt: 1, covers: 1, heads: [], parts: [], state: new Uint8Array(0) }
    const one = writeSnapshotBody({ ...base, bindings: [[1, devA]] }).length
    const thousand = writeSnapshotBody({ ...base, bindings: many }).length
    expect(thousand - one).toBeLessThan(1000 * 5)
    const r = readSnapshotBody(writeSnapshotBody({ ...base, bindings: many }))
    expect(r.ok && r.value.bindings.length).toBe(1000)
  })

  it('a body in parts that also carries inline state is malformed', () => {
    const w = writeSnapshotBody({ createdAt: 1, covers: 1, heads: [], bindings: [], parts: [bytes(32, 1)], state: new Uint8Array([1]) })
    expect(readSnapshotBody(w)).toMatchObject({ ok: false, code: 'snapshot/malformed' })
  })

  it('unknown versions, truncation and trailing bytes are malformed', () => {
    const w = writeSnapshotBody({ createdAt: 1, covers: 1, heads, bindings: [[1, devA]], parts: [bytes(32, 1)], state: new Uint8Array(0) })
    const v3 = w.slice(); v3[0] = 3
    expect(readSnapshotBody(v3)).toMatchObject({ ok: false, code: 'snapshot/malformed' })
    for (let n = 0; n < w.length; n++) expect(readSnapshotBody(w.subarray(0, n)).ok, `truncated to ${n}`).toBe(false)
    const trailing = new Uint8Array(w.length + 1); trailing.set(w)
    expect(readSnapshotBody(trailing)).toMatchObject({ ok: false, code: 'snapshot/malformed' })
  })

  it('a v1 body (flat bindings, no parts) written by hand still reads', () => {
    // v1, as `git show HEAD:client/core/snapshot.ts` documents it:
    //   body := varUint(1) • varUint(createdAtMs) • varUint(coversCursor)
    //           • varUint(nHeads) • nHeads × (author(32) • stream(8) • varUint(seq) • hash(32))
    //           • varUint(nBindings) • nBindings × (varUint(clientID) • author(32))
    //           • varBytes(Y.encodeStateAsUpdateV2(doc))
    const doc = replica()
    const state = Y.encodeStateAsUpdateV2(doc)
    const bindings: Array<readonly [number, Uint8Array]> = [[1, devA], [2, devB], [3, devA]]
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 1)
    encoding.writeVarUint(e, 1_650_000_000_000)
    encoding.writeVarUint(e, 777)
    encoding.writeVarUint(e, heads.length)
    for (const h of heads) {
      encoding.writeUint8Array(e, h.author); encoding.writeUint8Array(e, h.stream)
      encoding.writeVarUint(e, h.seq); encoding.writeUint8Array(e, h.hash)
    }
    encoding.writeVarUint(e, bindings.length)
    for (const [c, a] of bindings) { encoding.writeVarUint(e, c); encoding.writeUint8Array(e, a) }
    encoding.writeVarUint8Array(e, state)
    const r = readSnapshotBody(encoding.toUint8Array(e))
    if (!r.ok) throw new Error(`${r.code}: ${r.message}`)
    expect(r.value.createdAt).toBe(1_650_000_000_000)
    expect(r.value.covers).toBe(777)
    expect(r.value.heads).toEqual(heads)
    expect(r.value.bindings.map(([c, a]) => [c, toHex(a)])).toEqual(bindings.map(([c, a]) => [c, toHex(a)]))
    expect(r.value.parts).toEqual([])
    expect(r.value.state).toEqual(state)
    const back = new Y.Doc()
    Y.applyUpdateV2(back, r.value.state)
    expect(back.getText('text').toString()).toBe('hello world (and more)')
  })
})
