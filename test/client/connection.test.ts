import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { Connection, type ConnectionHost } from '../../client/core/connection.js'
import { Emitter } from '../../client/core/events.js'
import type { Outcome } from '../../client/core/reader.js'
import { Requests } from '../../client/core/requests.js'
import type { SpaceEvents } from '../../client/core/space-types.js'
import type { Entry, Frame, FrameOf } from '../../shared/frame.js'
import { deriveKeys, newSpaceSecrets, type SpaceKeys } from '../../shared/keys.js'
import { checkCreate } from '../../shared/create-proof.js'
import { authMessage } from '../../shared/sign.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'

/**
 * The join protocol (client/core/connection.ts) and request bookkeeping (requests.ts) on their own,
 * against a scripted host: what the relay's answers do to the resume point, the retry backoff and
 * the handshake deadline, without a relay or a document.
 */
let sodium: Sodium
let keys: SpaceKeys

beforeAll(async () => {
  sodium = await getSodium()
  keys = deriveKeys(sodium, newSpaceSecrets(sodium))
})

afterEach(() => { vi.useRealTimers() })

interface Harness {
  conn: Connection
  host: ConnectionHost
  sent: Frame[]
  /** Host calls and alerts, in order. */
  log: string[]
  /** What the reader makes of each entry (by cursor); 'applied' when absent. */
  outcomes: Map<number, Outcome>
}

function harness (init: { cursor?: number; registered?: boolean; ackTimeoutMs?: number; keys?: SpaceKeys } = {}): Harness {
  const sent: Frame[] = []
  const log: string[] = []
  const outcomes = new Map<number, Outcome>()
  let nextId = 100
  const stats = { applied: 0, duplicates: 0, rejected: 0 }
  const host: ConnectionHost = {
    sodium,
    keys: init.keys ?? keys,
    events: new Emitter<SpaceEvents>(),
    reader: {
      stats,
      receive: (e: Entry) => {
        const o = outcomes.get(e.cursor) ?? 'applied'
        if (o === 'applied') stats.applied++
        return o
      }
    },
    fetch: { floor: undefined, take: () => false, answered: () => {}, failed: () => false },
    out: undefined,
    snapsync: { hold: () => false, onJoinSnapshot: () => {}, onAnnounced: () => {}, recheckSnapshots: () => {} },
    requests: { answer: () => false, failAll: code => { log.push(`failAll ${code}`) } },
    cursor: init.cursor ?? 0,
    registered: init.registered ?? true,
    closed: () => false,
    send: f => { sent.push(f); return true },
    reconnect: () => { log.push('reconnect') },
    nextReqId: () => ++nextId,
    alert: code => { log.push(code) },
    scheduleMeta: () => {},
    emitStatus: () => {},
    register: () => { log.push('register') },
    online: () => { log.push('online') },
    offline: () => { log.push('offline') },
    syncStats: () => {},
    rejected: () => { log.push('rejected') },
    receipts: () => { log.push('receipts') },
    caughtUp: () => { log.push('caughtUp') },
    keyChanges: () => { log.push('keyChanges') },
    replaced: () => { log.push('replaced') }
  }
  const conn = new Connection(host, { ackTimeoutMs: init.ackTimeoutMs ?? 1000 })
  return { conn, host, sent, log, outcomes }
}

const spaceId = (): Uint8Array => keys.spaceId
const entry = (cursor: number): Entry => ({ cursor, envelope: new Uint8Array([cursor]) })
const entries = (reqId: number, list: Entry[], more = false): FrameOf<'entries'> =>
  ({ type: 'entries', reqId, spaceId: spaceId(), entries: list, head: list.at(-1)?.cursor ?? 0, more })

/** Opens, answers the challenge and the auth: returns the auth frame the connection sent. */
function join (h: Harness, head: number): FrameOf<'auth'> {
  h.conn.onOpen()
  h.conn.onFrame({ type: 'challenge', reqId: 1, spaceId: spaceId(), challenge: new Uint8Array(32).fill(7) })
  const auth = h.sent.at(-1)
  if (auth?.type !== 'auth') throw new Error('no auth sent')
  h.conn.onFrame({ type: 'ok', reqId: auth.reqId, spaceId: spaceId(), cursor: head })
  return auth
}

describe('Connection', () => {
  it('while unregistered, answers the challenge with a signed create before the auth; signs the challenge and resumes from the cursor', () => {
    const h = harness({ cursor: 5, registered: false })
    h.conn.onOpen()
    expect(h.sent.map(f => f.type)).toEqual(['hello'])
    const challenge = new Uint8Array(32).fill(7)
    h.conn.onFrame({ type: 'challenge', reqId: 1, spaceId: spaceId(), challenge })
    expect(h.sent.map(f => f.type)).toEqual(['hello', 'create', 'auth'])
    const create = h.sent[1]
    if (create?.type !== 'create') return
    // The relay's check: the id is the keys', both keys signed this connection's challenge.
    expect(checkCreate(sodium, create.spaceId, create.accessPk, create.writePk, challenge, create)).toBeUndefined()
    expect(checkCreate(sodium, create.spaceId, create.accessPk, create.writePk, new Uint8Array(32), create)).toBe('relay/bad-create-proof')
    const auth = h.sent.at(-1)
    expect(auth?.type).toBe('auth')
    if (auth?.type !== 'auth') return
    expect(auth.after).toBe(5)
    expect(sodium.crypto_sign_verify_detached(auth.signature, authMessage(spaceId(), challenge), keys.access.publicKey)).toBe(true)
    expect(h.conn.authReq).toBe(auth.reqId)
    // The create's own ok registers the space; so does being admitted to it.
    h.conn.onFrame({ type: 'ok', reqId: create.reqId, spaceId: spaceId(), cursor: 0 })
    expect(h.log).toEqual(['register'])
    h.conn.onFrame({ type: 'ok', reqId: auth.reqId, spaceId: spaceId(), cursor: 9 })
    expect(h.conn.joined).toBe(true)
    expect(h.conn.state).toBe('online')
    expect(h.log).toEqual(['register', 'register', 'online'])
    // Any other ok says nothing about the space.
    h.conn.onFrame({ type: 'ok', reqId: 12345, spaceId: spaceId(), cursor: 0 })
    expect(h.log).toEqual(['register', 'register', 'online'])
  })

  it('a registered or view-only session sends no create; a refused create or an unknown space alerts once and retries', () => {
    vi.useFakeTimers()
    const view = deriveKeys(sodium, { ...newSpaceSecrets(sodium), writeSeed: undefined })
    const h = harness({ registered: false, keys: view })
    h.conn.onOpen()
    h.conn.onFrame({ type: 'challenge', reqId: 1, spaceId: view.spaceId, challenge: new Uint8Array(32) })
    expect(h.sent.map(f => f.type)).toEqual(['hello', 'auth'])
    const w = harness({ registered: false })
    for (let i = 0; i < 2; i++) {
      w.conn.onOpen()
      w.conn.onFrame({ type: 'challenge', reqId: 1, spaceId: spaceId(), challenge: new Uint8Array(32) })
      const [create, auth] = w.sent.slice(-2)
      w.conn.onFrame({ type: 'error', reqId: create!.type === 'create' ? create.reqId : -1, spaceId: spaceId(), code: 'relay/create-limit', message: 'slow down' })
      w.conn.onFrame({ type: 'error', reqId: auth!.type === 'auth' ? auth.reqId : -1, spaceId: spaceId(), code: 'relay/no-space', message: 'none' })
      vi.advanceTimersByTime(60_000)
      w.conn.onClose()
    }
    expect(w.log.filter(x => x.startsWith('sync/'))).toEqual(['sync/create-refused'])
    expect(w.log.filter(x => x === 'reconnect').length).toBe(2)
  })

  it('a relay head behind the resume point reads again from the start', () => {
    const h = harness({ cursor: 50 })
    join(h, 10)
    expect(h.conn.joined).toBe(false)
    expect(h.host.cursor).toBe(0)
    expect(h.log).toEqual(['sync/cursor-ahead', 'reconnect'])
  })

  it('a handshake not completed in time reconnects; a completed one does not', () => {
    vi.useFakeTimers()
    const h = harness({ ackTimeoutMs: 1000 })
    h.conn.onOpen()
    vi.advanceTimersByTime(999)
    expect(h.log).toEqual([])
    vi.advanceTimersByTime(1)
    expect(h.log).toEqual(['sync/join-timeout', 'reconnect'])
    h.conn.onClose()
    h.log.length = 0
    join(h, 0)
    vi.advanceTimersByTime(5000)
    expect(h.log).toEqual(['online'])
  })

  it('catch-up ends on an empty final page of the auth answer', () => {
    const h = harness()
    const auth = join(h, 3)
    h.conn.onFrame(entries(auth.reqId, [entry(1), entry(2), entry(3)]))
    expect(h.conn.caughtUp).toBe(false)
    expect(h.host.cursor).toBe(3)
    h.conn.onFrame(entries(auth.reqId, []))
    expect(h.conn.caughtUp).toBe(true)
    expect(h.conn.ready()).toBe(true)
    expect(h.conn.lastSyncedAt).toBeTypeOf('number')
  })

  it('a live cursor at or below the last one is reported and still read', () => {
    const h = harness()
    const auth = join(h, 0)
    h.conn.onFrame(entries(auth.reqId, []))
    h.conn.onFrame(entries(0, [entry(4)]))
    h.conn.onFrame(entries(0, [entry(3)]))
    expect(h.log).toContain('sync/replay-or-reorder')
    expect(h.host.reader.stats.applied).toBe(2)
    expect(h.host.cursor).toBe(4)
  })

  it('an entry that fails to verify holds the resume point below it and retries with a growing delay until a clean catch-up', () => {
    vi.useFakeTimers()
    const h = harness()
    let auth = join(h, 4)
    h.outcomes.set(2, 'retry')
    h.conn.onFrame(entries(auth.reqId, [entry(1), entry(2), entry(3), entry(4)]))
    h.conn.onFrame(entries(auth.reqId, []))
    // The cursor moved on, the resume point did not; that catch-up had a failure, so the floor stays.
    expect(h.host.cursor).toBe(4)
    expect(h.conn.resumeCursor()).toBe(1)
    expect(h.conn.ready()).toBe(false)
    vi.advanceTimersByTime(499)
    expect(h.log.filter(l => l === 'reconnect')).toHaveLength(0)
    vi.advanceTimersByTime(1)
    expect(h.log.filter(l => l === 'reconnect')).toHaveLength(1)

    // Tampered again on the next connection: the delay doubles.
    h.conn.onClose()
    auth = join(h, 4)
    expect(auth.after).toBe(1)
    h.conn.onFrame(entries(auth.reqId, [entry(2)]))
    vi.advanceTimersByTime(999)
    expect(h.log.filter(l => l === 'reconnect')).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(h.log.filter(l => l === 'reconnect')).toHaveLength(2)

    // Read intact: the catch-up lifts the floor.
    h.conn.onClose()
    h.outcomes.clear()
    auth = join(h, 4)
    h.conn.onFrame(entries(auth.reqId, [entry(2), entry(3), entry(4)]))
    h.conn.onFrame(entries(auth.reqId, []))
    expect(h.conn.resumeCursor()).toBe(4)
    expect(h.conn.ready()).toBe(true)
  })

  it('an ack moves the resume point only once caught up', () => {
    const h = harness()
    const auth = join(h, 0)
    h.conn.acked(7)
    expect(h.host.cursor).toBe(0)
    h.conn.onFrame(entries(auth.reqId, []))
    h.conn.acked(7)
    expect(h.host.cursor).toBe(7)
  })

  it('closing answers waiting requests, forgets the join and tells the parts', () => {
    const h = harness()
    join(h, 0)
    h.log.length = 0
    h.conn.onClose()
    expect(h.log).toEqual(['failAll sync/offline', 'offline'])
    expect(h.conn.joined).toBe(false)
    expect(h.conn.state).toBe('offline')
  })
})

describe('Requests', () => {
  it('matches answers by reqId, answers offline at once, times out, and fails what is pending', async () => {
    vi.useFakeTimers()
    const sent: Frame[] = []
    let online = true
    const r = new Requests(keys.spaceId, { send: f => { if (online) sent.push(f); return online }, taken: id => id % 2 === 0 })
    for (let i = 0; i < 100; i++) expect(r.nextId() % 2).toBe(1)

    const answered = r.request(reqId => ({ type: 'listSnapshots', reqId, spaceId: keys.spaceId, limit: 1 }))
    const req = sent.at(-1)
    if (req === undefined || !('reqId' in req)) throw new Error('nothing sent')
    expect(r.answer({ type: 'ok', reqId: req.reqId + 2, spaceId: keys.spaceId, cursor: 0 })).toBe(false)
    expect(r.answer({ type: 'ok', reqId: req.reqId, spaceId: keys.spaceId, cursor: 3 })).toBe(true)
    expect(await answered).toMatchObject({ type: 'ok', cursor: 3 })
    expect(r.answer({ type: 'ok', reqId: req.reqId, spaceId: keys.spaceId, cursor: 3 })).toBe(false)

    online = false
    expect(await r.request(reqId => ({ type: 'listSnapshots', reqId, spaceId: keys.spaceId, limit: 1 }))).toMatchObject({ type: 'error', code: 'sync/offline' })

    online = true
    const late = r.request(reqId => ({ type: 'listSnapshots', reqId, spaceId: keys.spaceId, limit: 1 }), 100)
    vi.advanceTimersByTime(100)
    expect(await late).toMatchObject({ type: 'error', code: 'sync/timeout' })

    const pending = r.request(reqId => ({ type: 'listSnapshots', reqId, spaceId: keys.spaceId, limit: 1 }))
    r.failAll('sync/closed', 'the space was closed')
    expect(await pending).toMatchObject({ type: 'error', code: 'sync/closed' })
  })
})
