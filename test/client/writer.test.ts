import { beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { readBatch } from '../../client/core/apply.js'
import { StreamWriter } from '../../client/core/writer.js'
import { equalBytes, toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, open, type Device } from '../../shared/envelope.js'
import { MsgType } from '../../shared/header.js'
import type { SpaceKeys } from '../../shared/keys.js'
import { hash } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'
import { editMember } from '../support/member.js'

/**
 * StreamWriter (client/core/writer.ts) on its own: every session seals in a fresh stream, and an
 * envelope the relay refused for good has its content re-sealed in this session's stream
 * (issue 7, item 1: two processes of one device must never seal one position twice).
 */
let sodium: Sodium
let keys: SpaceKeys
let device: Device

beforeAll(async () => { ({ sodium, keys, device } = await editMember()) })

/** One real Yjs update per call, each inserting `text` at the end of a shared doc. */
function editor (clientID: number): (text: string) => Uint8Array {
  const d = new Y.Doc()
  d.clientID = clientID
  let last: Uint8Array | undefined
  d.on('update', (u: Uint8Array) => { last = u })
  return text => {
    d.getText('t').insert(d.getText('t').length, text)
    return last!
  }
}

function opened (env: Uint8Array): { stream: string; seq: number; prevHash: Uint8Array; updates: Uint8Array[] } {
  const o = open(sodium, keys, env, { types: [MsgType.update] })
  if (!o.ok) throw new Error(`${o.code}: ${o.message}`)
  const b = readBatch(o.value.plaintext)
  if (!b.ok) throw new Error(b.message)
  const h = o.value.header
  return { stream: toHex(h.stream), seq: h.seq, prevHash: h.prevHash, updates: b.value }
}

/** The content a list of updates makes, as text and state vector. */
function content (updates: readonly Uint8Array[]): string {
  const d = new Y.Doc()
  for (const u of updates) Y.applyUpdate(d, u)
  return d.getText('t').toString() + '|' + toHex(Y.encodeStateVector(d))
}

describe('StreamWriter', () => {
  it('two writers of the same device and keys (two processes of one device) use different stream ids', () => {
    const a = new StreamWriter(sodium, keys, device)
    const b = new StreamWriter(sodium, keys, device)
    expect(a.stream).not.toBe(b.stream)
    const edit = editor(1)
    const ea = opened(a.seal([edit('a')]).env)
    const eb = opened(b.seal([edit('b')]).env)
    expect(ea.seq).toBe(0)
    expect(eb.seq).toBe(0)
    expect(ea.stream).not.toBe(eb.stream)
    expect(ea.stream).toBe(a.stream)
    expect(eb.stream).toBe(b.stream)
  })

  it('seq starts at 0 in each session and chains by hash', () => {
    const w = new StreamWriter(sodium, keys, device)
    expect(w.head).toBeUndefined()
    const edit = editor(1)
    const e0 = w.seal([edit('x')])
    const e1 = w.seal([edit('y')])
    const e2 = w.seal([edit('z')])
    expect([e0.seq, e1.seq, e2.seq]).toEqual([0, 1, 2])
    const o0 = opened(e0.env); const o1 = opened(e1.env); const o2 = opened(e2.env)
    expect(equalBytes(o0.prevHash, GENESIS_HASH)).toBe(true)
    expect(equalBytes(o1.prevHash, hash(sodium, e0.env))).toBe(true)
    expect(equalBytes(o2.prevHash, hash(sodium, e1.env))).toBe(true)
    expect(w.head?.seq).toBe(2)
    expect(equalBytes(w.head!.hash, hash(sodium, e2.env))).toBe(true)
    expect(w.outbox.map(e => e.seq)).toEqual([0, 1, 2])

    // A later session of the same device starts again at 0, in another stream.
    const next = new StreamWriter(sodium, keys, device)
    const n0 = next.seal([edit('w')])
    expect(n0.seq).toBe(0)
    expect(n0.stream).not.toBe(w.stream)
  })

  it('stored() marks by identity (or equal bytes) and keeps the envelope until seen(); a contradicting hash drops nothing', () => {
    const w = new StreamWriter(sodium, keys, device)
    const edit = editor(1)
    const e0 = w.seal([edit('a')])
    const e1 = w.seal([edit('b')])
    const e2 = w.seal([edit('c')])
    expect(w.stored(e1.env)).toBe(true)
    // An ack is the relay's word only: the envelope stays (not sent again) until a member is seen holding it.
    expect(w.outbox.map(e => e.env)).toEqual([e0.env, e1.env, e2.env])
    expect(w.outbox.map(e => w.isAcked(e))).toEqual([false, true, false])
    expect(w.unacked).toBe(2)
    expect(w.stored(e1.env)).toBe(false)
    expect(w.stored(e2.env.slice())).toBe(true)
    expect(w.unacked).toBe(1)
    expect(w.seen(w.stream, 1, new Uint8Array(32).fill(9))).toEqual({ dropped: [], contradicts: true })
    // A member naming a seq this session never sealed (hash or not) empties nothing: another key signed it.
    // (Without that check, seen(stream, 99) dropped all three.)
    expect(w.seen(w.stream, 99, new Uint8Array(32).fill(9))).toEqual({ dropped: [], contradicts: true })
    expect(w.seen(w.stream, 3)).toEqual({ dropped: [], contradicts: true })
    expect(w.outbox.map(e => e.seq)).toEqual([0, 1, 2])
    expect(w.seen(w.stream, 1, hash(sodium, e1.env))).toEqual({ dropped: [e0.env, e1.env], contradicts: false })
    expect(w.outbox.map(e => e.seq)).toEqual([2])
    // The relay turned out not to hold e2 (a read-back lacked it): it is sent again.
    expect(w.resend([e2.env])).toBe(1)
    expect(w.unacked).toBe(1)
    // An envelope never queued is not "stored" by accident.
    const other = new StreamWriter(sodium, keys, device).seal([edit('d')]).env
    expect(w.stored(other)).toBe(false)
    expect(w.outbox).toHaveLength(1)
  })

  it('restore() keeps an earlier session\'s envelopes as they are, once each, update envelopes only', () => {
    const old = new StreamWriter(sodium, keys, device)
    const edit = editor(1)
    const o0 = old.seal([edit('a')]).env
    const o1 = old.seal([edit('b')]).env
    const w = new StreamWriter(sodium, keys, device)
    w.restore([o0, o1, o0.slice(), new Uint8Array(10)])
    expect(w.outbox.map(e => [e.stream, e.seq])).toEqual([[old.stream, 0], [old.stream, 1]])
    expect(w.outbox[0]!.env).toBe(o0)
  })

  it('refused() of an old session\'s envelope re-seals its content, and that of its stream\'s later envelopes, into the current stream', () => {
    const edit = editor(7)
    const old = new StreamWriter(sodium, keys, device)
    const u0 = edit('hello ')
    const u1 = edit('world')
    const o0 = old.seal([u0]).env
    const o1 = old.seal([u1]).env

    const w = new StreamWriter(sodium, keys, device)
    w.restore([o0, o1])
    const own = w.seal([edit('!')])
    const r = w.refused(o0)
    expect(r.dropped).toEqual([o0, o1])
    expect(r.added).toBeDefined()
    const added = opened(r.added!)
    // Into this session's stream, as its next seq, chained to its head; no rotation.
    expect(added.stream).toBe(w.stream)
    expect(added.seq).toBe(1)
    expect(equalBytes(added.prevHash, hash(sodium, own.env))).toBe(true)
    expect(w.rotations).toBe(0)
    // The same content as the refused envelopes.
    expect(content(added.updates)).toBe(content([u0, u1]))
    expect(content(added.updates)).toMatch(/^hello world\|/)
    // The outbox holds this session's envelopes only: the refused ones are not resent nor "stored".
    expect(w.outbox.map(e => e.env)).toEqual([own.env, r.added])
    expect(w.stored(o0)).toBe(false)
  })

  it('refused() of an old envelope leaves an earlier, still queued envelope of that stream alone', () => {
    const edit = editor(7)
    const old = new StreamWriter(sodium, keys, device)
    const o0 = old.seal([edit('a')]).env
    const o1 = old.seal([edit('b')]).env
    const w = new StreamWriter(sodium, keys, device)
    w.restore([o0, o1])
    const r = w.refused(o1)
    expect(r.dropped).toEqual([o1])
    expect(w.outbox.map(e => e.env)).toEqual([o0, r.added])
  })

  it('refused() of the current stream\'s envelope rotates to a new stream and re-seals it with the later queued envelopes', () => {
    const edit = editor(9)
    const w = new StreamWriter(sodium, keys, device)
    const first = w.stream
    const e0 = w.seal([edit('one ')])
    const u1 = edit('two ')
    const u2 = edit('three')
    const e1 = w.seal([u1])
    const e2 = w.seal([u2])
    expect(w.stored(e0.env)).toBe(true)

    const r = w.refused(e1.env)
    expect(w.rotations).toBe(1)
    expect(w.stream).not.toBe(first)
    expect(r.dropped).toEqual([e1.env, e2.env])
    const added = opened(r.added!)
    expect(added.stream).toBe(w.stream)
    expect(added.seq).toBe(0)
    expect(equalBytes(added.prevHash, GENESIS_HASH)).toBe(true)
    expect(content(added.updates)).toBe(content([u1, u2]))
    // e0 was acknowledged: it waits to be seen; the re-sealed content follows it.
    expect(w.outbox.map(e => e.env)).toEqual([e0.env, r.added])

    // The new stream goes on from there.
    const e3 = w.seal([edit('!')])
    expect(e3.stream).toBe(w.stream)
    expect(e3.seq).toBe(1)
    expect(equalBytes(opened(e3.env).prevHash, hash(sodium, r.added!))).toBe(true)
  })

  it('refused() of an envelope not in the outbox changes nothing', () => {
    const edit = editor(3)
    const w = new StreamWriter(sodium, keys, device)
    const e0 = w.seal([edit('a')])
    const stranger = new StreamWriter(sodium, keys, device).seal([edit('b')]).env
    expect(w.refused(stranger)).toEqual({ dropped: [], added: undefined })
    expect(w.outbox.map(e => e.env)).toEqual([e0.env])
    expect(w.rotations).toBe(0)
  })
  it('what is pending (unacknowledged, in outbox order) stays what a pass over the outbox says, through every change', () => {
    // The writer keeps the unacknowledged entries beside the outbox (acknowledged ones wait there to
    // be seen); a seeded run of seals, acks, sightings, refusals, read-back misses and restores.
    let seed = 7
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n }
    const edit = editor(9)
    const w = new StreamWriter(sodium, keys, device)
    const earlier = new StreamWriter(sodium, keys, device)
    const old = [earlier.seal([edit('o')]), earlier.seal([edit('p')])]
    w.restore(old.map(e => e.env), new Map([[old[0]!.stream, 0]]))
    for (let step = 0; step < 400; step++) {
      const box = w.outbox
      const any = box[rand(Math.max(1, box.length))]
      switch (rand(7)) {
        case 0: case 1: w.seal([edit('x')]); break
        case 2: if (any !== undefined) w.stored(any.env, step); break
        case 3: if (any !== undefined) w.seen(any.stream, any.seq); break
        case 4: if (any !== undefined) w.unack(any.stream, any.seq + 1); break
        case 5: if (any !== undefined) w.resend([any.env]); break
        case 6: if (any !== undefined && rand(4) === 0) w.refused(any.env); break
      }
      const expected = w.outbox.filter(e => !w.isAcked(e))
      expect([...w.pending]).toEqual(expected)
      expect(w.unacked).toBe(expected.length)
    }
    // And a restore of what is already there adds nothing.
    const before = w.outbox.length
    w.restore(w.outbox.map(e => e.env))
    expect(w.outbox.length).toBe(before)
  })
})
