import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { ShadowApplier } from '../../client/core/shadow.js'
import { toHex } from '../../shared/bytes.js'
import { createPrng } from '../support/prng.js'

/**
 * ShadowApplier (client/core/shadow.ts) on its own: a remote update reaches the live doc only if
 * it integrated cleanly on the shadow that mirrors it (issue 7, item 2: "hello EVIL world").
 */
const REMOTE = Symbol('remote')

/** A live doc of a replica: "hello world" and a note, written by clientID 1. */
function liveDoc (): Y.Doc {
  const d = new Y.Doc()
  d.clientID = 1
  d.getText('text').insert(0, 'hello world')
  const note = new Y.Map<unknown>()
  note.set('id', 'n1')
  note.set('text', new Y.Text('note one'))
  d.getArray('items').push([note])
  return d
}

/** A doc loaded from `state`, with the roots declared so toJSON shows them. */
function loaded (state: Uint8Array, clientID?: number): Y.Doc {
  const d = new Y.Doc()
  d.getText('text')
  d.getArray('items')
  Y.applyUpdate(d, state)
  if (clientID !== undefined) d.clientID = clientID
  return d
}

/** What must not change: visible content and the state vector. */
function fingerprint (d: Y.Doc): string {
  return JSON.stringify(d.toJSON()) + '|' + toHex(Y.encodeStateVector(d))
}

/** A member's real update on top of `base`: it depends on content the live doc already has. */
function memberUpdate (base: Uint8Array, clientID: number, edit: (d: Y.Doc) => void): Uint8Array {
  const d = loaded(base, clientID)
  const sv = Y.encodeStateVector(d)
  d.transact(() => edit(d))
  const u = Y.encodeStateAsUpdate(d, sv)
  d.destroy()
  return u
}

const evil = (d: Y.Doc): void => {
  d.getText('text').insert(6, 'EVIL ')
  d.getText('text').delete(0, 1)
  const note = d.getArray('items').get(0) as Y.Map<unknown>
  ;(note.get('text') as Y.Text).insert(4, 'XX')
  note.set('done', true)
}

/**
 * A byte-mutated update that decodes, integrates on an empty doc without throwing (an empty
 * scratch doc passes it), and throws half-way on a doc holding `base`, leaving that doc changed.
 * Found by a seeded search so the test does not pin Yjs's byte layout.
 */
function halfApplyingMutant (base: Uint8Array, update: Uint8Array): Uint8Array {
  const p = createPrng(1)
  for (let i = 0; i < 200_000; i++) {
    const m = update.slice()
    for (let k = p.int(1, 2); k > 0; k--) {
      const at = p.int(0, m.length - 1)
      if (p.bool()) m[at] = p.int(0, 255)
      else m[at] = m[at]! ^ (1 << p.int(0, 7))
    }
    try { Y.decodeUpdate(m) } catch { continue }
    try { Y.applyUpdate(new Y.Doc(), m) } catch { continue }
    const probe = loaded(base)
    const before = fingerprint(probe)
    try {
      Y.applyUpdate(probe, m)
    } catch {
      if (fingerprint(probe) !== before) return m
    }
  }
  throw new Error('test setup: no half-applying mutant found')
}

describe('ShadowApplier', () => {
  const base = Y.encodeStateAsUpdate(liveDoc())
  const clean = memberUpdate(base, 2, evil)
  const mutant = halfApplyingMutant(base, clean)

  it('the mutant half-applies when applied straight to the live doc (the defence off)', () => {
    const live = loaded(base)
    const before = fingerprint(live)
    expect(() => { Y.applyUpdate(live, mutant, REMOTE) }).toThrow()
    expect(fingerprint(live)).not.toBe(before)
    expect(live.getText('text').toString()).toContain('EVIL')
  })

  it('refuses the mutant on a doc with content: the live doc is unchanged, and later valid updates still apply', () => {
    const live = loaded(base)
    const s = new ShadowApplier(live)
    const before = fingerprint(live)
    const updates: Uint8Array[] = []
    live.on('update', (u: Uint8Array) => { updates.push(u) })

    const r = s.apply([mutant], REMOTE)
    expect(r).toMatchObject({ ok: false, code: 'apply/malformed-update' })
    expect(fingerprint(live)).toBe(before)
    expect(live.getText('text').toString()).toBe('hello world')
    expect(updates).toHaveLength(0)
    expect(s.stats).toMatchObject({ applied: 0, refused: 1 })

    // The shadow was left half-changed by the mutant: it must have been rebuilt, or the clean
    // update below would find its structs already there and report no change.
    const ok = s.apply([clean], REMOTE)
    expect(ok).toEqual({ ok: true, value: { changed: true } })
    const expected = loaded(base)
    Y.applyUpdate(expected, clean)
    expect(fingerprint(live)).toBe(fingerprint(expected))
    expect(live.getText('text').toString()).toBe('ello EVIL world')

    // And another member's update after that.
    const more = memberUpdate(Y.encodeStateAsUpdate(live), 3, d => { d.getText('text').insert(0, '>') })
    expect(s.apply([more], REMOTE)).toEqual({ ok: true, value: { changed: true } })
    expect(live.getText('text').toString()).toBe('>ello EVIL world')
    s.destroy()
  })

  it('a batch whose second update is the mutant changes nothing, not even the first', () => {
    const live = loaded(base)
    const s = new ShadowApplier(live)
    const before = fingerprint(live)
    const first = memberUpdate(base, 3, d => { d.getText('text').insert(11, '!') })
    expect(s.apply([first, mutant], REMOTE)).toMatchObject({ ok: false, code: 'apply/malformed-update' })
    expect(fingerprint(live)).toBe(before)
    expect(s.apply([first], REMOTE)).toEqual({ ok: true, value: { changed: true } })
    expect(live.getText('text').toString()).toBe('hello world!')
  })

  it('an update that does not decode is refused before any doc is touched', () => {
    const live = loaded(base)
    const s = new ShadowApplier(live)
    const before = fingerprint(live)
    expect(s.apply([clean.subarray(0, 5)], REMOTE)).toMatchObject({ ok: false, code: 'apply/malformed-update' })
    expect(fingerprint(live)).toBe(before)
    expect(s.stats.rebuilds).toBe(0)
  })

  it('local edits mirrored keep the shadow in step: a remote update depending on a local edit applies and reports the change', () => {
    const run = (mirror: boolean): { changed: boolean | undefined; text: string } => {
      const live = loaded(base, 1)
      const s = new ShadowApplier(live)
      if (mirror) live.on('update', (u: Uint8Array, origin: unknown) => { if (origin !== REMOTE) s.mirror(u) })
      live.getText('text').insert(11, ' and more') // a local edit
      // A member who received the local edit types right after it.
      const dep = memberUpdate(Y.encodeStateAsUpdate(live), 2, d => { d.getText('text').insert(20, '!') })
      const r = s.apply([dep], REMOTE)
      expect(r.ok).toBe(true)
      return { changed: r.ok ? r.value.changed : undefined, text: live.getText('text').toString() }
    }
    expect(run(true)).toEqual({ changed: true, text: 'hello world and more!' })
    // Without mirroring the shadow lacks the local edit: the remote update only goes pending
    // there, so the applier cannot see that the live doc changed (shows this test can fail).
    expect(run(false).changed).toBe(false)
  })

  it('a remote struct waiting for a local edit integrates on the live doc as on the shadow (Yjs retries pending structs only on an update)', () => {
    // H's first version of its clock 0 names as parent a clock of this replica (clientID 1) that
    // it has not written yet: it waits. A local edit then writes that clock as text; the shadow
    // takes the edit as an update and retries, so the waiting struct integrates there as nothing
    // (its parent is no type). Yjs never retries after a local transaction, so the live doc still
    // holds it pending. H's second version of clock 0 then came: the shadow skipped that clock,
    // the live doc integrated it (kv.x) and dropped the waiting one. Without the live doc's retry
    // before an apply (shadow.ts), this test ends with kv {x, y} live and {y} everywhere else.
    const live = loaded(base, 1)
    const s = new ShadowApplier(live)
    live.on('update', (u: Uint8Array, origin: unknown) => { if (origin !== REMOTE) s.mirror(u) })
    const fake = loaded(base, 1)
    fake.getText('text').insert(0, 'xxxxx')
    fake.getArray('items').push([new Y.Map()])
    const first = memberUpdate(Y.encodeStateAsUpdate(fake), 7, d => { d.getArray<Y.Map<number>>('items').get(1).set('a', 1) })
    const second = memberUpdate(base, 7, d => { d.getMap('kv').set('x', 1); d.getMap('kv').set('y', 2) })
    expect(s.apply([first], REMOTE).ok).toBe(true)
    expect(live.store.pendingStructs).not.toBe(null)
    let edit: Uint8Array | undefined
    live.once('update', (u: Uint8Array) => { edit = u })
    live.getText('text').insert(0, 'abcdef')
    expect(s.apply([second], REMOTE).ok).toBe(true)
    // A replica that had the local edit before H's first version: the same updates, no waiting.
    const ref = loaded(base, 3)
    const refShadow = new ShadowApplier(ref)
    expect(refShadow.apply([edit!], REMOTE).ok).toBe(true)
    expect(refShadow.apply([first], REMOTE).ok).toBe(true)
    expect(ref.store.pendingStructs).toBe(null)
    expect(refShadow.apply([second], REMOTE).ok).toBe(true)
    expect(live.getMap('kv').toJSON()).toEqual({ y: 2 })
    expect(live.getMap('kv').toJSON()).toEqual(ref.getMap('kv').toJSON())
    expect(live.store.pendingStructs).toBe(null)
    expect(Y.equalSnapshots(Y.snapshot(live), Y.snapshot(ref))).toBe(true)
  })

  it('a local edit and a remote update interleaved many times stay in step (no rebuild needed)', () => {
    const live = loaded(base, 1)
    const s = new ShadowApplier(live)
    live.on('update', (u: Uint8Array, origin: unknown) => { if (origin !== REMOTE) s.mirror(u) })
    for (let i = 0; i < 20; i++) {
      live.getText('text').insert(0, `l${i} `)
      const dep = memberUpdate(Y.encodeStateAsUpdate(live), 2, d => { d.getText('text').insert(0, `r${i} `) })
      expect(s.apply([dep], REMOTE)).toEqual({ ok: true, value: { changed: true } })
    }
    expect(s.stats).toMatchObject({ applied: 20, refused: 0, rebuilds: 0 })
    expect(live.getText('text').toString()).toMatch(/^r19 l19 r18 l18 /)
  })

  it('local edits reach the shadow after the edit\'s own task (not on the path of its envelope), or at the next remote apply', async () => {
    const live = loaded(base, 1)
    const s = new ShadowApplier(live)
    live.on('update', (u: Uint8Array, origin: unknown) => { if (origin !== REMOTE) s.mirror(u) })
    const shadowText = (): string => (s as unknown as { shadow: Y.Doc }).shadow.getText('text').toString()
    live.getText('text').insert(0, 'one ')
    live.getText('text').insert(0, 'two ')
    expect(shadowText()).toBe('hello world')
    await new Promise(resolve => setImmediate(resolve))
    expect(shadowText()).toBe('two one hello world')
    // A refused update leaves what is queued alone: the next apply takes it first.
    live.getText('text').insert(0, 'three ')
    expect(s.apply([Uint8Array.of(9, 9, 9)], REMOTE).ok).toBe(false)
    live.getText('text').insert(0, 'four ')
    const dep = memberUpdate(Y.encodeStateAsUpdate(live), 2, d => { d.getText('text').insert(0, '> ') })
    expect(s.apply([dep], REMOTE)).toEqual({ ok: true, value: { changed: true } })
    expect(shadowText()).toBe('> four three two one hello world')
    await new Promise(resolve => setImmediate(resolve))
    expect(shadowText()).toBe(live.getText('text').toString())
  })

  it('a whole state into an empty replica (a cold join) is not decoded up front, yet an empty struct in it is refused and the replica stays empty', () => {
    const v2 = (d: Y.Doc): Uint8Array => Y.encodeStateAsUpdateV2(d)
    // The defence off: a doc takes the empty struct without a word, and is then broken for good.
    const raw = new Y.Doc()
    Y.applyUpdateV2(raw, craftState('empty at the end'))
    expect(raw.getText('text').toString()).toBe('cba')
    expect(() => v2(raw)).toThrow()
    for (const shape of ['empty at the end', 'empty in the middle', 'empty and pending'] as const) {
      const live = new Y.Doc()
      live.getText('text')
      const s = new ShadowApplier(live)
      // At the end it integrates and is found in the shadow, pending it is found in the shadow's
      // pending structs; in the middle the integration throws.
      expect(s.apply([craftState(shape)], REMOTE, true)).toMatchObject({ ok: false, code: 'apply/malformed-update', message: shape === 'empty in the middle' ? expect.stringContaining('does not integrate') : 'update holds an empty struct or deletion' })
      expect(live.store.clients.size).toBe(0)
      expect(live.store.pendingStructs).toBeNull()
      expect(() => v2(live)).not.toThrow()
      // Nothing of it stayed in the shadow either: the honest state applies, all of it.
      expect(s.apply([craftState('honest')], REMOTE, true)).toEqual({ ok: true, value: { changed: true } })
      expect(live.getText('text').toString()).toBe('cba')
      expect(() => v2(live)).not.toThrow()
    }
    // Into a replica with content the same state is refused up front, as before.
    const live = loaded(base)
    const s = new ShadowApplier(live)
    const before = fingerprint(live)
    expect(s.apply([craftState('empty at the end')], REMOTE, true)).toMatchObject({ ok: false, code: 'apply/malformed-update', message: 'update holds an empty struct or deletion' })
    expect(fingerprint(live)).toBe(before)
    expect(s.stats.rebuilds).toBe(0)
  })

  it('`changed` is false for an update already in', () => {
    const live = loaded(base)
    const s = new ShadowApplier(live)
    expect(s.apply([clean], REMOTE)).toEqual({ ok: true, value: { changed: true } })
    const after = fingerprint(live)
    expect(s.apply([clean], REMOTE)).toEqual({ ok: true, value: { changed: false } })
    // The replica's own base content, sent back to it, is no change either.
    expect(s.apply([base], REMOTE)).toEqual({ ok: true, value: { changed: false } })
    expect(fingerprint(live)).toBe(after)
  })

  it('the remote apply carries the origin given, so the outgoing listener can skip it', () => {
    const live = loaded(base)
    const s = new ShadowApplier(live)
    const origins: unknown[] = []
    live.on('update', (_u: Uint8Array, origin: unknown) => { origins.push(origin) })
    s.apply([clean], REMOTE)
    expect(origins).toEqual([REMOTE])
  })

  it('trial applies to a copy and leaves the live doc alone', () => {
    const live = loaded(base)
    const s = new ShadowApplier(live)
    const before = fingerprint(live)
    const t = s.trial([clean])
    expect(t.ok).toBe(true)
    if (t.ok) expect(t.value.getText('text').toString()).toBe('ello EVIL world')
    expect(s.trial([mutant])).toMatchObject({ ok: false, code: 'apply/malformed-update' })
    expect(fingerprint(live)).toBe(before)
  })
})

/**
 * A V2 state of "cba" (three items of clientID 7), written struct by struct so that it can hold
 * what Yjs never writes itself: a GC struct of length 0 after the last item, or one before the second.
 */
function craftState (shape: 'honest' | 'empty at the end' | 'empty in the middle' | 'empty and pending'): Uint8Array {
  const d = new Y.Doc()
  d.clientID = 7
  const t = d.getText('text')
  for (const c of 'abc') t.insert(0, c)
  const items = [...d.store.clients.get(7) ?? []] as Y.Item[]
  const empty = (clock: number): Y.GC => new Y.GC(Y.createID(7, clock), 0)
  // 'empty and pending' starts at clock 1: clock 0 never came, so all of it waits as pending.
  const structs: Array<Y.Item | Y.GC> = shape === 'honest' ? items : shape === 'empty at the end' ? [...items, empty(3)] : shape === 'empty and pending' ? [...items.slice(1), empty(3)] : [items[0]!, empty(1), ...items.slice(1)]
  const enc = new Y.UpdateEncoderV2()
  encoding.writeVarUint(enc.restEncoder, 1)
  encoding.writeVarUint(enc.restEncoder, structs.length)
  enc.writeClient(7)
  encoding.writeVarUint(enc.restEncoder, shape === 'empty and pending' ? 1 : 0)
  for (const x of structs) x.write(enc, 0)
  encoding.writeVarUint(enc.restEncoder, 0)
  return enc.toUint8Array()
}
