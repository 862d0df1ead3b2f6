import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../client/core/client.js'
import type { Space } from '../../client/core/space.js'
import { createMemorySpaceStore, type SpaceStore } from '../../client/core/store.js'
import { toHex } from '../../shared/bytes.js'
import { parseEnvelope } from '../../shared/header.js'
import { hash } from '../../shared/sign.js'
import { getSodium } from '../../shared/sodium.js'
import * as wire from '../../shared/wire.js'
import { parseLink } from '../../shared/keys.js'
import type { Connection, Transport } from '../../client/core/transport.js'
import { createPrng, testSeed } from '../support/prng.js'
import { freePort, spawnRelay, type RelayProcess } from '../support/proc.js'
import { tempDir, waitFor, wsTransport } from '../support/relay.js'

/**
 * "Acked means durable" (DESIGN.md §4) against a real crash: the relay runs as a child process on a
 * SQLite file and is killed with SIGKILL at seeded random moments while several clients write.
 *
 * A write counts as acknowledged once the writer's session reported `unsynced === 0` after it (the
 * relay's `ok` for the envelope carrying it arrived). Envelope-level acks are read from the client's
 * own store: the outbox entries it removed on `ok` are the envelopes the relay acknowledged.
 *
 * Checked: after every kill, every envelope acknowledged so far is in the SQLite file (read from a
 * copy, so the restarted relay still recovers the WAL itself); after the last restart, a fresh
 * client joining from the link alone holds every acknowledged write exactly once, all writers
 * converge to one state holding every write (unacked envelopes were kept and resent), and each
 * writer's stream in the file is exactly the envelopes it sealed, in order.
 *
 * The test can fail: run once against a copy of the tree whose SQLite store acknowledged appends
 * inside an open transaction and committed 50 ms later, it failed at the first or second kill
 * ("kill 0: 10 acknowledged envelopes are not in the SQLite file"). And before the fix in
 * Space.onAck (an ack did not refill the in-flight window), the offline bursts below left the tail
 * of every writer's outbox unsent for good and `whenStored` timed out.
 *
 * Durable before forward (PROTOCOL.md "Exchanges", issue 10): a reader that only reads records
 * every envelope the relay delivered to it, live or in a catch-up, straight off its socket. After
 * every kill (and a moment for bytes already in the socket to arrive) each of them must be in the
 * SQLite file: a reader never holds what the relay's log can lose. Shown failing once against a
 * copy of the tree whose relay forwarded an append to the space's readers as it arrived and
 * committed its group 50 ms later ("kill 0: the reader got 3 envelopes that are not in the SQLite
 * file").
 *
 * Replay a failure with the seed it printed: SEED=<n> npx vitest run test/relay/durability.test.ts
 */

const WRITERS = 3
const KILLS = 6

interface Recorder {
  readonly store: SpaceStore
  /** Every envelope this client sealed, in seq order (the outbox as it was filled). */
  readonly sealed: Uint8Array[]
  /** How many from the front of `sealed` the relay acknowledged (removed from the outbox on `ok`). */
  done: number
}

/** A memory store that also records what went into and out of the outbox. */
function recordingStore (): Recorder {
  const inner = createMemorySpaceStore()
  const rec: Recorder = {
    sealed: [],
    done: 0,
    store: {
      load: () => inner.load(),
      async write (b) {
        await inner.write(b)
        if (b.outboxAdd !== undefined) for (const e of b.outboxAdd) rec.sealed.push(e.slice())
        if (b.outboxDrop !== undefined) rec.done += b.outboxDrop.length
      },
      compact: (s, m) => inner.compact(s, m),
      close: () => inner.close()
    }
  }
  return rec
}

interface Row { author: Buffer; stream: Buffer; seq: number; env: Buffer }

/**
 * The log as a restarted relay would find it: the database and its WAL are copied (no -shm, so
 * SQLite runs WAL recovery on the copy) and read there, leaving the originals to the relay.
 */
function readLogFile (dir: string): { rows: Row[]; integrity: unknown } {
  const copy = tempDir('cove-durability-copy-')
  try {
    for (const f of ['relay.sqlite', 'relay.sqlite-wal']) {
      if (fs.existsSync(path.join(dir, f))) fs.copyFileSync(path.join(dir, f), path.join(copy, f))
    }
    const db = new Database(path.join(copy, 'relay.sqlite'), { fileMustExist: true })
    try {
      const integrity = db.pragma('integrity_check', { simple: true })
      const rows = db.prepare<[], Row>('SELECT author, stream, seq, env FROM log ORDER BY cursor').all()
      return { rows, integrity }
    } finally {
      db.close()
    }
  } finally {
    fs.rmSync(copy, { recursive: true, force: true })
  }
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')
/** Session internals for a failure message only (private fields: best effort, never throws). */
function peek (s: Space): string {
  try {
    const x = s as unknown as Record<string, unknown>
    return JSON.stringify({
      joined: x.joined,
      inflight: [...(x.inflight as Map<number, number>).values()],
      sentUpTo: x.sentUpTo,
      outbox: (x.outbox as Array<{ seq: number }>).map(o => o.seq),
      pendingLocal: (x.pendingLocal as unknown[]).length,
      linkConnected: (x.link as { connected: boolean }).connected
    })
  } catch (e) {
    return `(internals unavailable: ${String(e)})`
  }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const entries = (s: Space): string[] => s.doc.getArray<string>('log').toArray()

let relay: RelayProcess | undefined
const clients: Client[] = []
const dirs: string[] = []
afterAll(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {})
  await relay?.kill('SIGKILL')
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

describe('relay durability under kill -9', () => {
  it('every acknowledged write survives SIGKILL of the relay process; unacked ones are resent', async () => {
    const seed = testSeed('relay durability under kill -9')
    const failWithSeed = (msg: string): Error => new Error(`${msg} (replay with SEED=${seed})`)
    const killRng = createPrng(seed)
    const dir = tempDir('cove-durability-')
    dirs.push(dir)
    const port = await freePort()
    relay = await spawnRelay({ port, dir })
    const url = `ws://127.0.0.1:${port}`
    const t0 = Date.now()

    const newClient = (storeFor: () => SpaceStore): Promise<Client> => createClient({
      transport: wsTransport,
      storeFor,
      link: { backoffBaseMs: 20, backoffMaxMs: 200 },
      space: { ackTimeoutMs: 5000 }
    })

    // Writers: one creates the space, the others join from its link.
    const recorders: Recorder[] = []
    const spaces: Space[] = []
    let editLink = ''
    for (let i = 0; i < WRITERS; i++) {
      const rec = recordingStore()
      const c = await newClient(() => rec.store)
      clients.push(c)
      recorders.push(rec)
      if (i === 0) {
        const made = await c.createSpace(url, 'durable')
        editLink = made.editLink
        spaces.push(made.space)
        await made.space.whenStored(10_000)
      } else {
        const inv = parseLink(c.sodium, editLink)
        if (!inv.ok) throw new Error(inv.message)
        const s = await c.openSpace(inv.value, url)
        await s.whenCaughtUp(10_000)
        spaces.push(s)
      }
    }

    // A reader that records every envelope the relay hands it, off the wire.
    const delivered = new Set<string>()
    const sodium = await getSodium()
    const recording: Transport = {
      connect (u, h): Connection {
        // The relay speaks compact frames to this client (wire.ts): read them as the link does, with
        // a stream table of this connection's own.
        const session = wire.createSession(env => hash(sodium, env))
        return wsTransport.connect(u, {
          ...h,
          onMessage (data) {
            const f = wire.readWire(session, data)
            if (f.ok && f.value.type === 'entries') for (const e of f.value.entries) delivered.add(b64(e.envelope))
            h.onMessage(data)
          }
        })
      }
    }
    const readerClient = await createClient({ transport: recording, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 } })
    clients.push(readerClient)
    {
      const inv = parseLink(readerClient.sodium, editLink)
      if (!inv.ok) throw new Error(inv.message)
      await (await readerClient.openSpace(inv.value, url)).whenCaughtUp(10_000)
    }

    // Write load: each writer appends w{i}-{n} to one Y.Array at its own seeded pace.
    const written = spaces.map(() => 0)
    const acked = spaces.map(() => 0)
    spaces.forEach((s, i) => {
      s.events.on('status', st => { if (st.unsynced === 0) acked[i] = written[i]! })
    })
    let stop = false
    const loops = spaces.map(async (s, i) => {
      const rng = createPrng((seed + 1000 * (i + 1)) | 0)
      while (!stop) {
        s.doc.getArray<string>('log').push([`w${i}-${written[i]!}`])
        written[i]!++
        await sleep(rng.int(1, 12))
      }
    })

    // Kill cycles: SIGKILL at a seeded moment, check the file, restart on the same port and data.
    const ackedAtKill: number[] = spaces.map(() => 0)
    const cycleLog: string[] = []
    for (let k = 0; k < KILLS; k++) {
      await sleep(killRng.int(200, 1500))
      const ackedEnvs = recorders.map(r => r.sealed.slice(0, r.done))
      const unacked = recorders.reduce((n, r) => n + r.sealed.length - r.done, 0)
      for (let i = 0; i < WRITERS; i++) ackedAtKill[i] = acked[i]!
      const before = relay
      await before.kill('SIGKILL')
      const how = await before.exited
      expect(how.signal).toBe('SIGKILL')

      const { rows, integrity } = readLogFile(dir)
      expect(integrity).toBe('ok')
      const stored = new Set(rows.map(r => b64(r.env)))
      const lost = ackedEnvs.flat().filter(e => !stored.has(b64(e)))
      if (lost.length > 0) throw failWithSeed(`kill ${k}: ${lost.length} acknowledged envelopes are not in the SQLite file`)
      // Bytes the relay wrote before it died may still be on their way to the reader.
      await sleep(100)
      const readerOnly = [...delivered].filter(e => !stored.has(e))
      if (readerOnly.length > 0) throw failWithSeed(`kill ${k}: the reader got ${readerOnly.length} envelopes that are not in the SQLite file`)
      if (delivered.size === 0) throw failWithSeed(`kill ${k}: the reader got nothing (the check above proves nothing)`)
      cycleLog.push(`kill ${k}: ${ackedEnvs.flat().length} acked and ${delivered.size} delivered envelopes all on disk, ${unacked} unacked in client outboxes, ${rows.length} rows`)

      // Sometimes (and always before the last restart) the writers pile up more envelopes while the
      // relay is down than the in-flight window holds, as after a spell offline: all must go out.
      if (k === KILLS - 1 || killRng.bool(0.3)) {
        spaces.forEach((s, i) => {
          for (let j = 0; j < 24; j++) {
            s.doc.getArray<string>('log').push([`w${i}-${written[i]!}`])
            written[i]!++
            void s.flush()
          }
        })
      }
      await sleep(killRng.int(0, 400))
      relay = await spawnRelay({ port, dir })
    }

    stop = true
    await Promise.all(loops)
    // Everything the writers made is acknowledged in the end (what was unacked at a kill was resent).
    try {
      await Promise.all(spaces.map(s => s.whenStored(20_000)))
    } catch (e) {
      const state = spaces.map((s, i) => `writer ${i}: ${JSON.stringify(s.status)} sealed ${recorders[i]!.sealed.length} acked ${recorders[i]!.done} alerts ${JSON.stringify(s.alerts.slice(-5))} ${peek(s)}`)
      throw failWithSeed(`writes not all acknowledged after the last restart: ${String(e)}\n${state.join('\n')}\nrelay stderr:\n${relay.stderrTail()}`)
    }
    for (let i = 0; i < WRITERS; i++) expect(acked[i]).toBe(written[i])

    // A fresh client catches up from the relay alone.
    const fresh = await newClient(() => createMemorySpaceStore())
    clients.push(fresh)
    const inv = parseLink(fresh.sodium, editLink)
    if (!inv.ok) throw new Error(inv.message)
    const fs0 = await fresh.openSpace(inv.value, url)
    await fs0.whenCaughtUp(15_000)
    const got = entries(fs0)
    const counts = new Map<string, number>()
    for (const e of got) counts.set(e, (counts.get(e) ?? 0) + 1)
    const missingAcked: string[] = []
    const missing: string[] = []
    for (let i = 0; i < WRITERS; i++) {
      for (let n = 0; n < written[i]!; n++) {
        const c = counts.get(`w${i}-${n}`) ?? 0
        if (c === 0) (n < ackedAtKill[i]! ? missingAcked : missing).push(`w${i}-${n}`)
        expect(c).toBeLessThanOrEqual(1)
      }
    }
    if (missingAcked.length > 0) throw failWithSeed(`fresh client lacks acknowledged writes: ${missingAcked.slice(0, 20).join(', ')}`)
    if (missing.length > 0) throw failWithSeed(`fresh client lacks writes that were resent and acked: ${missing.slice(0, 20).join(', ')}`)
    expect(got.length).toBe(written.reduce((a, b) => a + b, 0))

    // All writers converge on the same state (same order too: one Y.Array).
    try {
      await waitFor(() => spaces.every(s => entries(s).length === got.length), 20_000, 'writers to converge')
    } catch {
      throw failWithSeed(`writers did not converge: lengths ${spaces.map(s => entries(s).length).join('/')} vs fresh ${got.length}`)
    }
    for (const s of spaces) expect(entries(s)).toEqual(got)

    // Every envelope leaves its outbox once another member is seen holding it (keep-until-seen):
    // a snapshot now, checked by the others, covers theirs, and their receipts after it name its
    // maker's; without it that waits for the receipt period.
    await spaces[0]!.snapshot()
    try {
      await waitFor(() => recorders.every(r => r.done === r.sealed.length), 20_000, 'every outbox emptied')
    } catch {
      throw failWithSeed(`outboxes not emptied: ${recorders.map(r => `${r.done}/${r.sealed.length}`).join(', ')}`)
    }

    // The file itself: each writer's stream is exactly what it sealed, every seq once, in order.
    await relay.kill('SIGKILL')
    const { rows, integrity } = readLogFile(dir)
    expect(integrity).toBe('ok')
    for (let i = 0; i < WRITERS; i++) {
      const sealed = recorders[i]!.sealed
      expect(recorders[i]!.done).toBe(sealed.length)
      const first = parseEnvelope(sealed[0]!)
      if (!first.ok) throw new Error(first.message)
      const author = toHex(first.value.header.author)
      const mine = rows.filter(r => toHex(r.author) === author).sort((a, b) => a.seq - b.seq)
      expect(mine.map(r => r.seq)).toEqual(sealed.map((_, n) => n))
      expect(mine.map(r => b64(r.env))).toEqual(sealed.map(b64))
    }

    // Alerts a crash may legitimately cause: a write whose ack died with the relay times out.
    const alerts = spaces.flatMap((s, i) => s.alerts.filter(a => a.code !== 'sync/ack-timeout').map(a => `writer ${i}: ${a.code}: ${a.message}`))
    expect(alerts).toEqual([])
    console.log(`[durability] seed ${seed}: ${written.join('+')} writes, ${KILLS} kills in ${Date.now() - t0} ms\n  ${cycleLog.join('\n  ')}`)
  })
})
