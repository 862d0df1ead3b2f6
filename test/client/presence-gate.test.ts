import { describe, expect, it } from 'vitest'
import { createPresenceGate, type Incoming, type PresenceGate } from '../../client/core/presence-gate.js'
import { encodeMessage, MAX_ECHOES, parseMessage, type Echo, type PresenceMessage } from '../../client/core/presence-format.js'

/**
 * The presence rules on their own (client/core/presence-gate.ts): plain inputs, the receiver's
 * clock passed in. Issue 8 item 8: a state is attributed to the device that signed it, and a device
 * that left is never shown again from a replay.
 */
const ME = 'aa'.repeat(32)
const MY_STREAM = '0101010101010101'
const ANN = 'bb'.repeat(32)
const ANN_S1 = '0202020202020202'
const ANN_S2 = '0303030303030303'
const EXPIRE = 20_000

const gate = (stream = MY_STREAM): PresenceGate => createPresenceGate({ device: ME, stream, expireMs: EXPIRE, promptMs: 1000 })

function state (opts: { n: number; s?: number; stream?: string; device?: string; name?: string; seen?: Echo[]; bye?: boolean; certified?: boolean; cursor?: boolean }): Incoming {
  const message: PresenceMessage = {
    n: opts.n,
    s: opts.s ?? 1000,
    state: { name: opts.name ?? 'Ann', color: 2, cursor: opts.cursor === true ? { item: 'n1', anchor: 1, head: 2 } : null },
    seen: opts.seen ?? [],
    bye: opts.bye ?? false
  }
  return { device: opts.device ?? ANN, certified: opts.certified ?? true, stream: opts.stream ?? ANN_S1, seq: opts.n, message }
}
const echo = (n: number, stream = MY_STREAM): Echo[] => [{ stream, n }]
const names = (g: PresenceGate): string[] => g.peers().map(p => `${p.device.slice(0, 4)}:${p.state.name}`)

describe('presence gate', () => {
  it('shows a device only once it echoes a counter this session sent lately, keyed by its device key', () => {
    const g = gate()
    g.connected()
    // Ann speaks first: she has not heard us, so nothing proves her state is not a recording.
    const first = g.receive(state({ n: 1 }), 100)
    expect(first).toMatchObject({ ok: false, code: 'presence/unconfirmed', prompt: true })
    expect(g.peers()).toEqual([])
    // We send (prompted), echoing her; she answers echoing our counter 1.
    g.sent(1, 150)
    expect(g.echoes(150)).toEqual([{ stream: ANN_S1, n: 1 }])
    const second = g.receive(state({ n: 2, seen: echo(1) }), 200)
    expect(second).toMatchObject({ ok: true, outcome: 'shown' })
    expect(g.peers()).toEqual([{ key: ANN, device: ANN, certified: true, state: { name: 'Ann', color: 2, cursor: null }, seenAt: 200 }])
  })

  it('drops a replayed counter and an older session of the same device', () => {
    const g = gate()
    g.connected()
    g.sent(1, 0)
    expect(g.receive(state({ n: 5, seen: echo(1), name: 'Ann 5' }), 10).ok).toBe(true)
    expect(g.receive(state({ n: 5, seen: echo(1), name: 'forged' }), 20)).toMatchObject({ ok: false, code: 'presence/replayed' })
    expect(g.receive(state({ n: 4, seen: echo(1), name: 'old' }), 20)).toMatchObject({ ok: false, code: 'presence/replayed' })
    // A new session (later start) supersedes; the old one is never taken again.
    expect(g.receive(state({ n: 1, s: 2000, stream: ANN_S2, seen: echo(1), name: 'Ann again' }), 30).ok).toBe(true)
    expect(g.receive(state({ n: 6, s: 1000, stream: ANN_S1, seen: echo(1), name: 'zombie' }), 40)).toMatchObject({ ok: false, code: 'presence/superseded' })
    expect(names(g)).toEqual(['bbbb:Ann again'])
  })

  it('a goodbye is a tombstone: nothing of that session is shown again, a newer session is', () => {
    const g = gate()
    g.connected()
    g.sent(1, 0)
    g.receive(state({ n: 1, seen: echo(1) }), 10)
    g.sent(2, 11)
    expect(g.receive(state({ n: 2, seen: echo(2), bye: true }), 20)).toMatchObject({ ok: true, outcome: 'left' })
    expect(g.peers()).toEqual([])
    expect(g.echoes(20)).toEqual([])
    // The relay replays her earlier states, and even invents nothing new: all refused.
    expect(g.receive(state({ n: 1, seen: echo(1) }), 30)).toMatchObject({ ok: false, code: 'presence/left' })
    expect(g.receive(state({ n: 3, seen: echo(2) }), 30)).toMatchObject({ ok: false, code: 'presence/left' })
    expect(g.peers()).toEqual([])
    g.sent(3, 40)
    expect(g.receive(state({ n: 1, s: 5000, stream: ANN_S2, seen: echo(3) }), 50).ok).toBe(true)
    expect(names(g)).toEqual(['bbbb:Ann'])
  })

  it('a restarted peer never shows a recorded state, however recent (the ghost of issue 8)', () => {
    // Before the restart: Ann was shown, every state of hers echoing our old session.
    const before = gate(MY_STREAM)
    before.connected()
    before.sent(1, 0)
    const recorded = state({ n: 7, seen: [{ stream: MY_STREAM, n: 1 }, { stream: '0909090909090909', n: 3 }] })
    expect(before.receive(recorded, 10).ok).toBe(true)
    // Ann leaves; we restart with no memory and a new presence session; the relay replays her
    // last state at once (well inside any clock window).
    const after = gate('0404040404040404')
    after.connected()
    after.sent(1, 20)
    expect(after.receive(recorded, 21)).toMatchObject({ ok: false, code: 'presence/unconfirmed' })
    // Even a state echoing a counter of ours with the same number, but of the old session.
    expect(after.receive(state({ n: 8, seen: echo(1, MY_STREAM) }), 22)).toMatchObject({ ok: false, code: 'presence/unconfirmed' })
    expect(after.peers()).toEqual([])
  })

  it('after the relay says a device left, only states echoing a later counter show it', () => {
    const g = gate()
    g.connected()
    g.sent(1, 0)
    g.receive(state({ n: 1, seen: echo(1) }), 10)
    g.sent(2, 20)
    // Her last real state before her socket closed echoed our counter 2; the relay holds it back.
    const held = state({ n: 2, seen: echo(2) })
    expect(g.peerLeft(ANN, 30)).toBe(true)
    expect(g.peers()).toEqual([])
    expect(g.receive(held, 40)).toMatchObject({ ok: false, code: 'presence/unconfirmed' })
    expect(g.peers()).toEqual([])
    // She really comes back (same session, new connection) and hears our next state.
    g.sent(3, 50)
    expect(g.receive(state({ n: 3, seen: echo(3) }), 60).ok).toBe(true)
    expect(names(g)).toEqual(['bbbb:Ann'])
  })

  it('after our own reconnection, only echoes of counters sent since count', () => {
    const g = gate()
    g.connected()
    g.sent(1, 0)
    g.receive(state({ n: 1, seen: echo(1) }), 10)
    expect(g.disconnected()).toBe(true)
    expect(g.peers()).toEqual([])
    g.connected()
    expect(g.receive(state({ n: 2, seen: echo(1) }), 20)).toMatchObject({ ok: false, code: 'presence/unconfirmed' })
    g.sent(2, 30)
    expect(g.receive(state({ n: 3, seen: echo(2) }), 40).ok).toBe(true)
  })

  it('a peer is shown at most expireMs after the counter of ours it last echoed was sent', () => {
    const g = gate()
    g.connected()
    g.sent(1, 0)
    expect(g.receive(state({ n: 1, seen: echo(1) }), 1000).ok).toBe(true)
    expect(g.expire(EXPIRE)).toBe(false)
    // Held back by the relay and delivered late: the echo is too old to count.
    expect(g.receive(state({ n: 2, seen: echo(1) }), EXPIRE + 5)).toMatchObject({ ok: false, code: 'presence/stale' })
    expect(g.expire(EXPIRE + 5)).toBe(true)
    expect(g.peers()).toEqual([])
    // An echo of a counter we never sent proves nothing either.
    expect(g.receive(state({ n: 3, seen: echo(99) }), EXPIRE + 6)).toMatchObject({ ok: false, code: 'presence/stale' })
    // A newer echo while shown extends the time; an older one does not shorten it.
    g.sent(2, EXPIRE + 10)
    expect(g.receive(state({ n: 4, seen: echo(2) }), EXPIRE + 20).ok).toBe(true)
    g.sent(3, EXPIRE + 5000)
    expect(g.receive(state({ n: 5, seen: echo(3) }), EXPIRE + 5010).ok).toBe(true)
    expect(g.receive(state({ n: 6, seen: echo(2), name: 'Ann moved' }), EXPIRE + 5020).ok).toBe(true)
    expect(g.expire(2 * EXPIRE + 4999)).toBe(false)
    expect(names(g)).toEqual(['bbbb:Ann moved'])
    expect(g.expire(2 * EXPIRE + 5001)).toBe(true)
  })

  it('forgets old records without letting a tombstoned session back in', () => {
    const g = gate()
    g.connected()
    g.sent(1, 0)
    const live = state({ n: 1, seen: echo(1) })
    g.receive(live, 10)
    g.receive(state({ n: 2, seen: echo(1), bye: true }), 20)
    // Long after, the record is gone; a replay of her live state echoes a counter too old to count.
    g.sent(2, 3 * EXPIRE)
    g.expire(3 * EXPIRE)
    expect(g.receive(live, 3 * EXPIRE + 1)).toMatchObject({ ok: false })
    expect(g.peers()).toEqual([])
  })

  it('never shows its own device, refuses a seq that differs from the sealed counter', () => {
    const g = gate()
    g.connected()
    g.sent(1, 0)
    expect(g.receive(state({ n: 1, device: ME, seen: echo(1) }), 1)).toMatchObject({ ok: false, code: 'presence/own' })
    expect(g.receive({ ...state({ n: 2, seen: echo(1) }), seq: 3 }, 1)).toMatchObject({ ok: false, code: 'presence/seq-mismatch' })
  })

  it('two devices with one name are two peers; a viewer is uncertified and has no cursor', () => {
    const g = gate()
    g.connected()
    g.sent(1, 0)
    const MALLORY = 'cc'.repeat(32)
    const VIC = 'dd'.repeat(32)
    g.receive(state({ n: 1, seen: echo(1), cursor: true }), 10)
    g.receive(state({ n: 1, device: MALLORY, stream: '0505050505050505', seen: echo(1) }), 10)
    g.receive(state({ n: 1, device: VIC, stream: '0606060606060606', seen: echo(1), certified: false, cursor: true }), 10)
    const peers = g.peers()
    expect(peers.map(p => [p.device, p.state.name, p.certified])).toEqual([[ANN, 'Ann', true], [MALLORY, 'Ann', true], [VIC, 'Ann', false]])
    expect(peers[0]!.state.cursor).not.toBeNull()
    expect(peers[2]!.state.cursor).toBeNull()
  })

  it('prompts at most once per device per promptMs, so replays cannot make it chatter', () => {
    const g = gate()
    g.connected()
    let prompts = 0
    for (let i = 1; i <= 50; i++) if (g.receive(state({ n: i }), i * 10).prompt) prompts++
    expect(prompts).toBe(1)
    expect(g.receive(state({ n: 51 }), 1500).prompt).toBe(true)
  })

  it('echoes the sessions heard lately, newest first, at most MAX_ECHOES', () => {
    const g = gate()
    for (let i = 0; i < MAX_ECHOES + 5; i++) {
      g.receive(state({ n: 1, device: i.toString(16).padStart(64, '0'), stream: i.toString(16).padStart(16, '0') }), i)
    }
    const e = g.echoes(MAX_ECHOES + 5)
    expect(e).toHaveLength(MAX_ECHOES)
    expect(e[0]).toEqual({ stream: (MAX_ECHOES + 4).toString(16).padStart(16, '0'), n: 1 })
    g.expire(EXPIRE + MAX_ECHOES + 10)
    expect(g.echoes(EXPIRE + MAX_ECHOES + 10)).toEqual([])
  })
})

describe('presence format', () => {
  const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
  const good = { v: 2, n: 1, s: 5, name: 'x', color: 0, cursor: null, seen: [['0011223344556677', 3]] }

  it('round-trips a state', () => {
    const m: PresenceMessage = { n: 3, s: 17, state: { name: 'Ann', color: 4, cursor: { item: 'n1', anchor: { a: 1 }, head: { b: 2 } } }, seen: [{ stream: '0011223344556677', n: 9 }], bye: true }
    expect(parseMessage(encodeMessage(m))).toEqual({ ok: true, value: m })
    expect(parseMessage(enc(good)).ok).toBe(true)
  })

  it('refuses malformed states whole', () => {
    const bad: unknown[] = [
      { ...good, v: 1 }, { ...good, n: 0 }, { ...good, n: 2 ** 32 }, { ...good, s: -1 }, { ...good, name: 5 }, { ...good, name: 'x'.repeat(65) },
      { ...good, color: 99 }, { ...good, cursor: { item: 3 } }, { ...good, seen: undefined }, { ...good, seen: [['zz', 1]] },
      { ...good, seen: [['0011223344556677', 0]] }, { ...good, seen: Array.from({ length: MAX_ECHOES + 1 }, () => ['0011223344556677', 1]) },
      { ...good, bye: false }, [good], null
    ]
    for (const b of bad) expect(parseMessage(enc(b))).toMatchObject({ ok: false, code: 'presence/malformed' })
    expect(parseMessage(new Uint8Array([0xff, 0xfe])).ok).toBe(false)
    expect(parseMessage(new Uint8Array(9000)).ok).toBe(false)
  })
})
