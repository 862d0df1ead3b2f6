/**
 * Issue 10's scenarios beyond one writer and its readers (system-agnostic, like measure.ts): many
 * concurrent typists in one text, many map writers, a relay holding thousands of idle connections,
 * a big space (a 10,000-entry checklist and a 5 MB note), and the wire bytes of one keystroke.
 * Every scenario checks that all clients end with the same document and throws otherwise.
 */
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import * as Y from 'yjs'
import * as model from '../client/core/model.js'
import { cpuMicros, rssBytes } from './proc.js'
import type { BenchClient, BenchServer, BenchSystem, IdleConnection } from './system.js'
import {
  CONVERGE_TIMEOUT_MS, SYNC_TIMEOUT_MS, connectSynced, destroyAll, fanoutOn, warmUp, withServer, withTimeout, type FanoutResult
} from './measure.js'
import { applyOp, loadTrace, type Op } from './trace.js'

// ---------------------------------------------------------------------------------------------
// helpers

/** mulberry32: a small seeded PRNG, so a run's random positions and pauses can be replayed. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Every client's own clock: what a replica must have seen to hold everything everyone wrote. */
function targetOf (clients: readonly BenchClient[]): Map<number, number> {
  const target = new Map<number, number>()
  for (const c of clients) target.set(c.doc.clientID, Y.getState(c.doc.store, c.doc.clientID))
  return target
}

function covers (doc: Y.Doc, target: ReadonlyMap<number, number>): boolean {
  for (const [client, clock] of target) if (Y.getState(doc.store, client) < clock) return false
  return true
}

/**
 * Resolves with the time (performance.now()) at which `client`'s doc first held every update in
 * `target` (now, or at the doc update that completed it).
 */
function whenCovers (client: BenchClient, target: ReadonlyMap<number, number>, what: string): Promise<number> {
  const reached = new Promise<number>(resolve => {
    if (covers(client.doc, target)) { resolve(performance.now()); return }
    const onUpdate = (): void => {
      if (!covers(client.doc, target)) return
      client.doc.off('afterTransaction', onUpdate)
      resolve(performance.now())
    }
    client.doc.on('afterTransaction', onUpdate)
  })
  return withTimeout(reached, CONVERGE_TIMEOUT_MS, what)
}

/** Throws unless every client's `view` equals the first's. */
function assertSame (clients: readonly BenchClient[], view: (c: BenchClient) => string, what: string): string {
  const first = view(clients[0] as BenchClient)
  clients.forEach((c, i) => {
    const v = view(c)
    if (v !== first) throw new Error(`${what}: client ${i} diverged (${v.length} vs ${first.length} chars)`)
  })
  return first
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)

// ---------------------------------------------------------------------------------------------
// many concurrent writers

/** Options for {@link concurrentWriters}. */
export interface WritersOptions {
  clients: number
  /** Ops (one transaction each) every client writes. */
  opsEach: number
  /** Each client waits a uniformly random [minGapMs, maxGapMs] before each op (human-ish pace). */
  minGapMs: number
  maxGapMs: number
  seed: number
}

/** Result of {@link concurrentWriters}. */
export interface WritersResult {
  clients: number
  opsEach: number
  seed: number
  /** First op of anyone → every client holds every op of everyone. */
  convergeMs: number
  /** Last op of anyone → every client holds every op (the tail the network and clients add). */
  tailMs: number
  /** Payload bytes each client received from the first op until converged (mean over clients). */
  bytesReceivedPerClient: number
  /** Payload bytes each client sent meanwhile (mean). */
  bytesSentPerClient: number
  /** Server CPU from the first op until converged, per op written. */
  relayCpuUsPerOp: number
  /**
   * CPU of this process (all clients: encoding, sealing, verifying, decrypting, applying) from the
   * first op until converged, per op per client: what one device spends on each op of the room.
   */
  clientCpuUsPerOp: number
  /** Snapshots all clients offered and the server kept, from join to converged (Cove). */
  snapshotAttempts?: number
  snapshotsStored?: number
}

type ByKind = ReturnType<NonNullable<BenchClient['wireByKind']>>

/** Sums per-kind wire counts over clients, minus a baseline taken earlier. */
function sumByKind (now: readonly ByKind[], before: readonly ByKind[]): ByKind {
  const out: ByKind = {}
  now.forEach((k, i) => {
    for (const [kind, v] of Object.entries(k)) {
      const b = before[i]?.[kind]
      const o = out[kind] ??= { sent: 0, received: 0, sentMsgs: 0, receivedMsgs: 0 }
      o.sent += v.sent - (b?.sent ?? 0); o.received += v.received - (b?.received ?? 0)
      o.sentMsgs += v.sentMsgs - (b?.sentMsgs ?? 0); o.receivedMsgs += v.receivedMsgs - (b?.receivedMsgs ?? 0)
    }
  })
  return out
}

/** One stderr line: where the clients' bytes went, per message kind, per client. */
function logByKind (what: string, k: ByKind, clients: number): void {
  const parts = Object.entries(k).sort(([, a], [, b]) => (b.sent + b.received) - (a.sent + a.received))
    .map(([kind, v]) => `${kind} sent ${Math.round(v.sent / clients)} B/${Math.round(v.sentMsgs / clients)} recv ${Math.round(v.received / clients)} B/${Math.round(v.receivedMsgs / clients)}`)
  console.error(`    ${what}, per client (bytes/messages): ${parts.join('; ')}`)
}

/**
 * `clients` clients join one room and each writes `opsEach` ops at a random human-ish pace at the
 * same time. Measures the time until every client holds every op and the bytes each received;
 * throws unless all end with the same `view` of the document.
 */
async function concurrentWriters (
  system: BenchSystem,
  opts: WritersOptions,
  write: (client: BenchClient, index: number, op: number, random: () => number) => void,
  view: (client: BenchClient) => string,
  check: (view: string) => void
): Promise<WritersResult> {
  return withServer(system, async server => {
    await warmUp(system, server)
    const room = await system.createRoom(server)
    const clients = await connectSynced(system, server, room, opts.clients)
    try {
      // Let join-time traffic (member records, snapshots of an empty space...) settle first.
      await sleep(500)
      const kinds0 = clients.map(c => c.wireByKind?.() ?? {})
      const received0 = clients.map(c => c.wire().received)
      const sent0 = clients.map(c => c.wire().sent)
      const cpu0 = cpuMicros(server.pid)
      const own0 = process.cpuUsage()
      const start = performance.now()
      let lastOpAt = start
      await Promise.all(clients.map(async (client, index) => {
        const random = prng(opts.seed + index)
        for (let op = 0; op < opts.opsEach; op++) {
          await sleep(opts.minGapMs + random() * (opts.maxGapMs - opts.minGapMs))
          write(client, index, op, random)
          lastOpAt = Math.max(lastOpAt, performance.now())
        }
      }))
      // No I/O callback can run between the last op and here (only promise jobs), so no client
      // can have reached the target unseen.
      const target = targetOf(clients)
      const reached = await Promise.all(clients.map((c, i) => whenCovers(c, target, `client ${i} receiving every op`)))
      const done = Math.max(...reached)
      const cpu1 = cpuMicros(server.pid)
      const own = process.cpuUsage(own0)
      check(assertSame(clients, view, 'concurrent writers'))
      if (clients[0]?.wireByKind !== undefined) logByKind(`${system.name} ${opts.clients} writers`, sumByKind(clients.map(c => c.wireByKind?.() ?? {}), kinds0), clients.length)
      const snaps = clients.map(c => c.snapshotStats?.()).filter(x => x !== undefined)
      return {
        clients: opts.clients,
        opsEach: opts.opsEach,
        seed: opts.seed,
        convergeMs: done - start,
        tailMs: done - lastOpAt,
        bytesReceivedPerClient: mean(clients.map((c, i) => c.wire().received - (received0[i] ?? 0))),
        bytesSentPerClient: mean(clients.map((c, i) => c.wire().sent - (sent0[i] ?? 0))),
        relayCpuUsPerOp: (cpu1 - cpu0) / (opts.clients * opts.opsEach),
        clientCpuUsPerOp: (own.user + own.system) / (opts.clients * opts.clients * opts.opsEach),
        ...(snaps.length === 0 ? {} : { snapshotAttempts: snaps.reduce((n, x) => n + x.attempts, 0), snapshotsStored: snaps.reduce((n, x) => n + x.stored, 0) })
      }
    } finally {
      await destroyAll(clients)
    }
  })
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz     '

/**
 * Issue 10's "50 users typing concurrently": each client types `opsEach` keystrokes into the shared
 * 'text' at random positions of its current copy (one character inserted; every fifth keystroke
 * also deletes a random character, as a correction), one transaction per keystroke.
 */
export async function typists (system: BenchSystem, opts: WritersOptions): Promise<WritersResult> {
  return concurrentWriters(system, opts, (client, _index, op, random) => {
    client.doc.transact(() => {
      const t = client.text
      t.insert(Math.floor(random() * (t.length + 1)), LETTERS[Math.floor(random() * LETTERS.length)] as string)
      if (op % 5 === 4 && t.length > 1) t.delete(Math.floor(random() * t.length), 1)
    })
  }, c => c.text.toString(), text => {
    const inserted = opts.clients * opts.opsEach
    const deletedAtMost = opts.clients * Math.floor(opts.opsEach / 5)
    if (text.length > inserted || text.length < inserted - deletedAtMost) throw new Error(`typists: ${text.length} chars, expected ${inserted - deletedAtMost}..${inserted}`)
  })
}

/** Keys contended by every map writer (last writer wins), besides each writer's own keys. */
const SHARED_KEYS = 20

/**
 * Issue 10's "100 users setting map keys": each client sets `opsEach` keys of the shared Y.Map
 * 'map', alternately one of its own and one of 20 keys every writer sets (concurrent overwrites).
 */
export async function mapWriters (system: BenchSystem, opts: WritersOptions): Promise<WritersResult> {
  const map = (c: BenchClient): Y.Map<unknown> => c.doc.getMap('map')
  return concurrentWriters(system, opts, (client, index, op, random) => {
    const key = op % 2 === 0 ? `w${index}-${op}` : `shared-${Math.floor(random() * SHARED_KEYS)}`
    map(client).set(key, { by: index, op, at: Math.floor(random() * 1e9) })
  }, c => JSON.stringify(Object.entries(map(c).toJSON()).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)), json => {
    const keys = (JSON.parse(json) as unknown[]).length
    const own = opts.clients * Math.ceil(opts.opsEach / 2)
    if (keys < own || keys > own + SHARED_KEYS) throw new Error(`map writers: ${keys} keys, expected ${own}..${own + SHARED_KEYS}`)
  })
}

// ---------------------------------------------------------------------------------------------
// idle connections, then a paced fan-out

/** Options for {@link idleFanout}. */
export interface IdleFanoutOptions {
  conns: number
  /** Rooms the idle connections are spread over, none of them the fan-out's. */
  rooms: number
  /** Ops and pace of the 2-reader fan-out run while they are open. */
  ops: number
  paceMs: number
}

/** Result of {@link idleFanout}. */
export type IdleFanoutResult = FanoutResult & { conns: number, rooms: number, idleRssBytesPerConn: number }

/**
 * Opens `conns` idle connections (each completed the join handshake) spread over `rooms` other
 * rooms, reports the server's RSS growth per connection, then runs the paced 2-reader fan-out in a
 * room of its own while they stay open: does a busy relay's delivery suffer from idle members?
 */
export async function idleFanout (system: BenchSystem, opts: IdleFanoutOptions): Promise<IdleFanoutResult> {
  return withServer(system, async server => {
    await warmUp(system, server)
    const rooms: string[] = []
    for (let i = 0; i < opts.rooms; i++) rooms.push(await system.createRoom(server))
    await sleep(500)
    const rss0 = rssBytes(server.pid)
    const conns = await openIdle(system, server, rooms, opts.conns)
    try {
      await sleep(1000)
      const rss1 = rssBytes(server.pid)
      const run = await fanoutOn(system, server, { readers: 2, ops: opts.ops, paceMs: opts.paceMs })
      return { ...run, conns: opts.conns, rooms: opts.rooms, idleRssBytesPerConn: (rss1 - rss0) / opts.conns }
    } finally {
      conns.forEach(c => c.close())
    }
  })
}

async function openIdle (system: BenchSystem, server: BenchServer, rooms: readonly string[], count: number): Promise<IdleConnection[]> {
  const conns: IdleConnection[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      conns.push(await system.connectIdle(server, rooms[i % rooms.length] as string))
    }
  }
  try {
    await withTimeout(Promise.all(Array.from({ length: 50 }, worker)), CONVERGE_TIMEOUT_MS, `${count} idle connections`)
    return conns
  } catch (err) {
    conns.forEach(c => c.close())
    throw err
  }
}

// ---------------------------------------------------------------------------------------------
// a big space

/** Options for {@link bigSpace}. */
export interface BigSpaceOptions {
  /** Checklist entries, each added by its own `model.addTodo` (one transaction each). */
  entries: number
  /** Characters of the one note (`model.addNote`, one transaction). */
  noteChars: number
  /** Wait after the writer left before the cold join. */
  settleMs: number
  seed: number
}

/** Result of {@link bigSpace}. */
export interface BigSpaceResult {
  entries: number
  noteChars: number
  /** Connect start → the joiner's space (model.toJSON) equals the writer's. */
  bigSpaceJoinMs: number
  bigSpaceJoinBytes: number
}

/** Seeded words, so the note is text-like (not a run of one letter that compresses to nothing). */
function noteText (chars: number, seed: number): string {
  const random = prng(seed)
  const parts: string[] = []
  let n = 0
  while (n < chars) {
    const len = 1 + Math.floor(random() * 9)
    let w = ''
    for (let i = 0; i < len; i++) w += String.fromCharCode(97 + Math.floor(random() * 26))
    w += random() < 0.1 ? '.\n' : ' '
    parts.push(w)
    n += w.length
  }
  return parts.join('').slice(0, chars)
}

/**
 * Issue 10's big space: a writer makes a checklist of `entries` entries and a note of `noteChars`
 * characters through Cove's content model (client/core/model.ts, the same Yjs structure for every
 * system), an observer confirms the server holds it all, both leave; after `settleMs` a new client
 * joins. Time and bytes until its space equals the writer's.
 */
export async function bigSpace (system: BenchSystem, opts: BigSpaceOptions): Promise<BigSpaceResult> {
  return withServer(system, async server => {
    const room = await system.createRoom(server)
    const [writer, observer] = await connectSynced(system, server, room, 2) as [BenchClient, BenchClient]
    let target: Map<number, number>
    let expected: string
    try {
      const doc = writer.doc
      const list = model.findItem(doc, model.addChecklist(doc, 'Big list')) as Y.Map<unknown>
      for (let i = 0; i < opts.entries; i++) {
        model.addTodo(doc, `entry ${i}: ${noteText(20, opts.seed + i)}`, list, 'bench')
        if ((i + 1) % 100 === 0) await yieldToLoop()
      }
      model.addNote(doc, noteText(opts.noteChars, opts.seed))
      target = targetOf([writer, observer])
      expected = JSON.stringify(model.toJSON(doc))
      await whenCovers(observer, target, 'observer receiving the big space')
    } finally {
      await destroyAll([writer, observer])
    }
    if (opts.settleMs > 0) await sleep(opts.settleMs)
    const t0 = performance.now()
    const joiner = await system.connect(server, room)
    try {
      const at = await whenCovers(joiner, target, 'cold joiner receiving the big space')
      const bytes = joiner.wire().received
      const got = JSON.stringify(model.toJSON(joiner.doc))
      if (got !== expected) throw new Error(`big space: joiner diverged (${got.length} vs ${expected.length} chars of JSON)`)
      return { entries: opts.entries, noteChars: opts.noteChars, bigSpaceJoinMs: at - t0, bigSpaceJoinBytes: bytes }
    } finally {
      await joiner.destroy()
    }
  })
}

// ---------------------------------------------------------------------------------------------
// one keystroke on the wire

/** Result of {@link keystroke}. */
export interface KeystrokeResult {
  ops: number
  /** Writer's payload bytes sent per keystroke (its envelope/update and anything else it sends). */
  keystrokeSentBytes: number
  /** Payload bytes the reader received per keystroke. */
  keystrokeReceivedBytes: number
  /** Payload bytes the writer received per keystroke (acknowledgements, echoes). */
  keystrokeWriterReceivedBytes: number
  /** Median time from the keystroke to the reader having it, one keystroke in flight at a time. */
  keystrokeRoundMs: number
}

/**
 * The first `ops` trace ops typed one at a time, each only after the reader has the previous one,
 * so each keystroke travels alone (no batching): its wire bytes both ways, for every system.
 */
export async function keystroke (system: BenchSystem, opsCount: number): Promise<KeystrokeResult> {
  const ops = loadTrace().slice(0, opsCount)
  return withServer(system, async server => {
    await warmUp(system, server)
    const room = await system.createRoom(server)
    const [writer, reader] = await connectSynced(system, server, room, 2) as [BenchClient, BenchClient]
    try {
      await sleep(500)
      const w0 = writer.wire()
      const r0 = reader.wire().received
      const rounds: number[] = []
      for (const op of ops as Op[]) {
        const t0 = performance.now()
        writer.doc.transact(() => applyOp(writer.text, op))
        // Deletions do not move a clock: wait for the reader's text to equal the writer's.
        const want = writer.text.toString()
        await withTimeout(new Promise<void>(resolve => {
          if (reader.text.toString() === want) { resolve(); return }
          const onUpdate = (): void => {
            if (reader.text.toString() !== want) return
            reader.doc.off('afterTransaction', onUpdate)
            resolve()
          }
          reader.doc.on('afterTransaction', onUpdate)
        }), SYNC_TIMEOUT_MS, 'reader receiving a keystroke')
        rounds.push(performance.now() - t0)
      }
      // Acknowledgements of the last keystrokes may still be on the way.
      await sleep(300)
      const w1 = writer.wire()
      assertSame([writer, reader], c => c.text.toString(), 'keystroke')
      rounds.sort((a, b) => a - b)
      return {
        ops: ops.length,
        keystrokeSentBytes: (w1.sent - w0.sent) / ops.length,
        keystrokeReceivedBytes: (reader.wire().received - r0) / ops.length,
        keystrokeWriterReceivedBytes: (w1.received - w0.received) / ops.length,
        keystrokeRoundMs: rounds[Math.floor(rounds.length / 2)] ?? Number.NaN
      }
    } finally {
      await destroyAll([writer, reader])
    }
  })
}
