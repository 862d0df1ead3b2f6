/**
 * System-agnostic measurements. Each takes a BenchSystem, starts its own fresh server, and checks
 * the result against the plain-string replay of the trace, so a fast but wrong system fails
 * instead of scoring.
 *
 * All clients run in this process; latencies therefore include the clients' own work (decoding,
 * decrypting, applying), which is part of what a user waits for.
 */
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import * as Y from 'yjs'
import { cpuMicros, rssBytes } from './proc.js'
import type { BenchClient, BenchServer, BenchSystem, IdleConnection, ServerOptions } from './system.js'
import { applyOp, finalText, loadTrace, type Op } from './trace.js'

export const SYNC_TIMEOUT_MS = 30_000
/** Generous: a system that cannot converge within this is broken, not slow. */
export const CONVERGE_TIMEOUT_MS = 600_000
/** Ops written between yields when populating a room as fast as possible. */
const POPULATE_YIELD_EVERY = 100
/** Ops typed into a throw-away room before a fan-out run, so JIT warm-up is not measured. */
let WARMUP_OPS = 2_000

/** Fewer warm-up ops (`--quick`: a smoke run, where a minute matters more than JIT noise). */
export function setWarmupOps (ops: number): void { WARMUP_OPS = ops }

// ---------------------------------------------------------------------------------------------
// helpers

export async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Runs `fn` against a fresh server and always stops the server afterwards. */
export async function withServer<T> (system: BenchSystem, fn: (server: BenchServer) => Promise<T>, opts?: ServerOptions): Promise<T> {
  const server = await system.startServer(opts)
  try {
    return await fn(server)
  } finally {
    await server.stop()
  }
}

/** Connects `count` clients to `room` and waits until all completed their initial sync. */
export async function connectSynced (system: BenchSystem, server: BenchServer, room: string, count: number): Promise<BenchClient[]> {
  const clients: BenchClient[] = []
  try {
    for (let i = 0; i < count; i++) clients.push(await system.connect(server, room))
    await withTimeout(Promise.all(clients.map(c => c.synced())), SYNC_TIMEOUT_MS, `${count} clients syncing`)
    return clients
  } catch (err) {
    await destroyAll(clients)
    throw err
  }
}

export async function destroyAll (clients: readonly BenchClient[]): Promise<void> {
  await Promise.all(clients.map(c => c.destroy()))
}

/** Resolves once `client`'s text equals `expected` (checked now and after every doc update). */
export function untilText (client: BenchClient, expected: string, what: string): Promise<void> {
  const matches = (): boolean => client.text.length === expected.length && client.text.toString() === expected
  const reached = new Promise<void>(resolve => {
    if (matches()) { resolve(); return }
    const onUpdate = (): void => {
      if (!matches()) return
      client.doc.off('afterTransaction', onUpdate)
      resolve()
    }
    client.doc.on('afterTransaction', onUpdate)
  })
  return withTimeout(reached, CONVERGE_TIMEOUT_MS, `${what} (has ${client.text.length} of ${expected.length} chars)`)
}

/** Applies each op in its own transaction (one keystroke = one update), yielding every `yieldEvery` ops. */
export async function writeOps (client: BenchClient, ops: readonly Op[], yieldEvery: number): Promise<void> {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as Op
    client.doc.transact(() => applyOp(client.text, op))
    if ((i + 1) % yieldEvery === 0) await yieldToLoop()
  }
}

/** Nearest-rank percentile of an ascending-sorted array. */
export function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))
  return sorted[rank] ?? Number.NaN
}

// ---------------------------------------------------------------------------------------------
// fan-out

/** Options for {@link fanout}. */
export interface FanoutOptions {
  /** Number of reader clients. */
  readers: number
  /** Number of trace ops (from the start of the trace) the writer replays. */
  ops: number
  /** 0 = as fast as possible (yield to the event loop after every op); else one op every `paceMs`. */
  paceMs: number
}

/** Result of {@link fanout}; times in ms. */
export interface FanoutResult {
  readers: number
  ops: number
  paceMs: number
  /** Latency percentiles over all (op, reader) pairs: writer starts applying op i → reader r has it. */
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** Writer's first op → every reader has every op. */
  convergenceMs: number
  /** Writer's last op → every reader has every op. */
  tailMs: number
  /** Server CPU (user+system) during the run, per op. */
  relayCpuUsPerOp: number
  /** Writer's payload bytes sent during the run, per op. */
  writerBytesPerOp: number
  /** Snapshots offered to the server by all clients of the run, and how many it kept (Cove). */
  snapshotAttempts?: number
  snapshotsStored?: number
}

/**
 * What a reader must have seen to include writer op i. The trace only inserts/deletes characters
 * of the writer's own Y.Text, so after op i the writer's clock (characters ever inserted) is
 * `clock[i]` and the characters it deleted so far are `clock[i] - length[i]`. A reader includes op
 * i iff its copy of the writer's clock and its deleted count (clock - text length, readers never
 * write) have both reached those values. Both are monotone, unlike the text length alone.
 */
class OpTargets {
  readonly clock: Float64Array
  readonly deleted: Float64Array
  readonly sentAt: Float64Array
  written = 0

  constructor (readonly ops: number) {
    this.clock = new Float64Array(ops)
    this.deleted = new Float64Array(ops)
    this.sentAt = new Float64Array(ops)
  }

  record (i: number, writer: BenchClient, sentAt: number): void {
    const clock = Y.getState(writer.doc.store, writer.doc.clientID)
    this.clock[i] = clock
    this.deleted[i] = clock - writer.text.length
    this.sentAt[i] = sentAt
    this.written = i + 1
  }
}

/**
 * Records, for one reader, when each writer op became visible in its document.
 *
 * Every watcher in the bench listens to `afterTransaction`, never to `'update'`: an `'update'`
 * listener makes Yjs encode each transaction's update, work the client under test would not do
 * (a Cove space encodes only its own edits, client/core/local-updates.ts; the plaintext provider
 * encodes every transaction anyway, for its own listener), so the bench would charge it.
 */
class DeliveryTracker {
  readonly deliveredAt: Float64Array
  private next = 0
  readonly done: Promise<void>
  private resolveDone!: () => void
  private readonly onUpdate = (): void => this.check()

  constructor (private readonly reader: BenchClient, private readonly writerId: number, private readonly targets: OpTargets) {
    this.deliveredAt = new Float64Array(targets.ops)
    this.done = new Promise(resolve => { this.resolveDone = resolve })
    reader.doc.on('afterTransaction', this.onUpdate)
  }

  private check (): void {
    const now = performance.now()
    const clock = Y.getState(this.reader.doc.store, this.writerId)
    const deleted = clock - this.reader.text.length
    const t = this.targets
    while (this.next < t.written && (t.clock[this.next] ?? Infinity) <= clock && (t.deleted[this.next] ?? Infinity) <= deleted) {
      this.deliveredAt[this.next++] = now
    }
    if (this.next === t.ops) {
      this.reader.doc.off('afterTransaction', this.onUpdate)
      this.resolveDone()
    }
  }
}

/** Replays ops on the writer at full speed or on a drift-free schedule of one op per `paceMs`. */
async function replay (writer: BenchClient, ops: readonly Op[], paceMs: number, targets: OpTargets): Promise<void> {
  const start = performance.now()
  for (let i = 0; i < ops.length; i++) {
    if (paceMs > 0) {
      const wait = start + i * paceMs - performance.now()
      if (wait > 0) await sleep(wait)
    }
    const op = ops[i] as Op
    const sentAt = performance.now()
    writer.doc.transact(() => applyOp(writer.text, op))
    targets.record(i, writer, sentAt)
    if (paceMs === 0) await yieldToLoop()
  }
}

function latencyStats (targets: OpTargets, trackers: readonly DeliveryTracker[]): Pick<FanoutResult, 'p50Ms' | 'p99Ms' | 'maxMs' | 'convergenceMs' | 'tailMs'> {
  const n = targets.ops
  const all = new Float64Array(n * trackers.length)
  let convergedAt = 0
  trackers.forEach((tracker, r) => {
    for (let i = 0; i < n; i++) all[r * n + i] = (tracker.deliveredAt[i] ?? 0) - (targets.sentAt[i] ?? 0)
    convergedAt = Math.max(convergedAt, tracker.deliveredAt[n - 1] ?? 0)
  })
  all.sort()
  return {
    p50Ms: percentile(all, 50),
    p99Ms: percentile(all, 99),
    maxMs: all[all.length - 1] ?? Number.NaN,
    convergenceMs: convergedAt - (targets.sentAt[0] ?? 0),
    tailMs: convergedAt - (targets.sentAt[n - 1] ?? 0)
  }
}

function assertConverged (expected: string, clients: readonly BenchClient[]): void {
  clients.forEach((c, i) => {
    const actual = c.text.toString()
    if (actual !== expected) {
      throw new Error(`client ${i} diverged: ${actual.length} chars, expected ${expected.length}`)
    }
  })
}

/**
 * One writer replays the first `ops` trace ops while `readers` clients in this process observe.
 * Measures per-(op, reader) delivery latency, convergence, server CPU per op and writer bytes per
 * op; throws unless every reader ends with exactly the replayed text.
 */
export async function fanout (system: BenchSystem, opts: FanoutOptions): Promise<FanoutResult> {
  return withServer(system, async server => {
    await warmUp(system, server)
    return fanoutOn(system, server, opts)
  })
}

/** {@link fanout} on a running (warmed-up) server, e.g. one that also holds idle connections. */
export async function fanoutOn (system: BenchSystem, server: BenchServer, opts: FanoutOptions): Promise<FanoutResult> {
  const ops = loadTrace().slice(0, opts.ops)
  if (ops.length === 0) throw new Error('fanout needs at least one op')
  const expected = finalText(ops)
  {
    const room = await system.createRoom(server)
    const clients = await connectSynced(system, server, room, opts.readers + 1)
    try {
      const [writer, ...readers] = clients as [BenchClient, ...BenchClient[]]
      const targets = new OpTargets(ops.length)
      const trackers = readers.map(r => new DeliveryTracker(r, writer.doc.clientID, targets))
      const sent0 = writer.wire().sent
      const cpu0 = cpuMicros(server.pid)
      await replay(writer, ops, opts.paceMs, targets)
      await withTimeout(Promise.all(trackers.map(t => t.done)), CONVERGE_TIMEOUT_MS, 'readers receiving all ops')
      const cpu1 = cpuMicros(server.pid)
      const sent1 = writer.wire().sent
      assertConverged(expected, clients)
      const snaps = clients.map(c => c.snapshotStats?.()).filter(x => x !== undefined)
      return {
        readers: opts.readers,
        ops: ops.length,
        paceMs: opts.paceMs,
        ...latencyStats(targets, trackers),
        relayCpuUsPerOp: (cpu1 - cpu0) / ops.length,
        writerBytesPerOp: (sent1 - sent0) / ops.length,
        // Every reader holds the edit link: all of them may snapshot (issue 10's storm figure).
        ...(snaps.length === 0 ? {} : { snapshotAttempts: snaps.reduce((n, x) => n + x.attempts, 0), snapshotsStored: snaps.reduce((n, x) => n + x.stored, 0) })
      }
    } finally {
      await destroyAll(clients)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// joins and storage

/**
 * Writes `ops` into a fresh room and returns once the server demonstrably holds all of them: an
 * observer that only hears from the server has converged to the expected text.
 */
export async function populate (system: BenchSystem, server: BenchServer, ops: readonly Op[], expected: string): Promise<{ room: string, writerBytes: number, observer: BenchClient, writer: BenchClient }> {
  const room = await system.createRoom(server)
  const [writer, observer] = await connectSynced(system, server, room, 2) as [BenchClient, BenchClient]
  try {
    const sent0 = writer.wire().sent
    await writeOps(writer, ops, POPULATE_YIELD_EVERY)
    await untilText(observer, expected, 'observer receiving the populated room')
    return { room, writerBytes: writer.wire().sent - sent0, observer, writer }
  } catch (err) {
    await destroyAll([writer, observer])
    throw err
  }
}

/**
 * Types a few thousand ops through a throw-away room: a real relay is a long-running, JIT-warmed
 * process, and a fresh one would otherwise charge its compilation to the first measured ops.
 */
export async function warmUp (system: BenchSystem, server: BenchServer): Promise<void> {
  const ops = loadTrace().slice(0, WARMUP_OPS)
  const { writer, observer } = await populate(system, server, ops, finalText(ops))
  await destroyAll([writer, observer])
}

/** Result of {@link coldJoin}. */
export interface ColdJoinResult {
  ops: number
  /** Connect start → the new client's text equals the final text. */
  coldJoinMs: number
  /** Payload bytes the joining client received until then. */
  coldJoinBytes: number
}

/**
 * A room holding the first `ops` trace ops (writer gone, and `settleMs` more passed); a new client
 * with empty local state joins. Measures the time and bytes until its text equals the replayed text.
 */
export async function coldJoin (system: BenchSystem, opsCount: number, settleMs = 0): Promise<ColdJoinResult> {
  const ops = loadTrace().slice(0, opsCount)
  const expected = finalText(ops)
  return withServer(system, async server => {
    const { room, writer, observer } = await populate(system, server, ops, expected)
    // Resolves once each has left (Cove: after the closing snapshot a writer seals on its way out).
    await destroyAll([writer, observer])
    // Issue 10: not only right after the writer left; the server may compact or prune meanwhile.
    if (settleMs > 0) await sleep(settleMs)
    const t0 = performance.now()
    const joiner = await system.connect(server, room)
    try {
      await untilText(joiner, expected, 'cold joiner catching up')
      return { ops: ops.length, coldJoinMs: performance.now() - t0, coldJoinBytes: joiner.wire().received }
    } finally {
      await joiner.destroy()
    }
  })
}

/** Result of {@link warmJoin}. */
export interface WarmJoinResult {
  ops: number
  /** Ops the returning client missed while offline (the last 5%). */
  missedOps: number
  /** `online()` → its text equals the final text. */
  warmJoinMs: number
  /** Payload bytes it received while catching up. */
  warmJoinBytes: number
}

/**
 * A client that saw the first 95% of `ops` goes offline, the writer types the last 5%, then the
 * client comes back with its local state (right after the writer left, or `settleMs` later). Measures the time and bytes until it has caught up.
 */
export async function warmJoin (system: BenchSystem, opsCount: number, settleMs = 0): Promise<WarmJoinResult> {
  const ops = loadTrace().slice(0, opsCount)
  const cut = Math.floor(ops.length * 0.95)
  const before = ops.slice(0, cut)
  const expectedBefore = finalText(before)
  const expected = finalText(ops)
  return withServer(system, async server => {
    const { room, writer, observer } = await populate(system, server, before, expectedBefore)
    let returning: BenchClient | undefined
    let peersGone = false
    try {
      // The returning client joins (cold) while the room holds 95%, then drops off.
      returning = (await connectSynced(system, server, room, 1))[0] as BenchClient
      await untilText(returning, expectedBefore, 'returning client receiving the first 95%')
      await returning.offline()
      await writeOps(writer, ops.slice(cut), POPULATE_YIELD_EVERY)
      await untilText(observer, expected, 'observer receiving the last 5%')
      peersGone = true
      await destroyAll([writer, observer])
      // Issue 10's "warm join just after a prune": long enough for the server to have pruned what
      // the writer's closing snapshot covers (Cove's bench relay prunes 200 ms after a snapshot).
      if (settleMs > 0) await sleep(settleMs)
      const received0 = returning.wire().received
      const t0 = performance.now()
      await returning.online()
      await untilText(returning, expected, 'returning client catching up')
      return {
        ops: ops.length,
        missedOps: ops.length - cut,
        warmJoinMs: performance.now() - t0,
        warmJoinBytes: returning.wire().received - received0
      }
    } finally {
      await destroyAll([...(peersGone ? [] : [writer, observer]), ...(returning === undefined ? [] : [returning])])
    }
  })
}

/** Result of {@link storage}. */
export interface StorageResult {
  ops: number
  /** What the server keeps for the room after compaction (see BenchSystem.storageBytes). */
  storageBytesAfterPrune: number
  /** The server's data directory, counted alike for every system (BenchSystem.diskBytes): running, after its own pruning. */
  storageDiskBytesLive: number
  /** The same after the server stopped and its store was compacted (SQLite VACUUM; y-leveldb flush + LevelDB compaction). */
  storageDiskBytes: number
  /** Writer's payload bytes sent while typing, per op. */
  wireBytesPerOp: number
}

/** Types the first `ops` trace ops into a room; reports server storage and writer bytes per op. */
export async function storage (system: BenchSystem, opsCount: number): Promise<StorageResult> {
  const ops = loadTrace().slice(0, opsCount)
  const expected = finalText(ops)
  return withServer(system, async server => {
    const { room, writerBytes, writer, observer } = await populate(system, server, ops, expected)
    let left = false
    try {
      const storageBytesAfterPrune = await system.storageBytes(server, room, observer.doc)
      // Both leave first (a Cove writer seals its closing snapshot), as before a cold join.
      const copy = new Y.Doc()
      Y.applyUpdate(copy, Y.encodeStateAsUpdate(observer.doc))
      await destroyAll([writer, observer])
      left = true
      const disk = await system.diskBytes(server, room, copy)
      return {
        ops: ops.length,
        storageBytesAfterPrune,
        storageDiskBytesLive: disk.live,
        storageDiskBytes: disk.compacted,
        wireBytesPerOp: writerBytes / ops.length
      }
    } finally {
      if (!left) await destroyAll([writer, observer])
    }
  }, { persist: true })
}

// ---------------------------------------------------------------------------------------------
// idle connections

/** Options for {@link idleRss}. */
export interface IdleOptions {
  conns: number
  rooms: number
  /** Handshakes in flight at once (keeps the accept backlog from overflowing). */
  concurrency?: number
}

/** Result of {@link idleRss}. */
export interface IdleResult {
  conns: number
  rooms: number
  rssBeforeBytes: number
  rssAfterBytes: number
  /** (RSS after − RSS before) / conns: server memory per idle, synced connection (incl. its room's share). */
  idleRssBytesPerConn: number
}

async function openIdle (system: BenchSystem, server: BenchServer, rooms: readonly string[], opts: IdleOptions): Promise<IdleConnection[]> {
  const conns: IdleConnection[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < opts.conns) {
      const i = next++
      conns.push(await system.connectIdle(server, rooms[i % rooms.length] as string))
    }
  }
  try {
    await Promise.all(Array.from({ length: opts.concurrency ?? 50 }, worker))
    return conns
  } catch (err) {
    conns.forEach(c => c.close())
    throw err
  }
}

/**
 * Opens `conns` idle connections spread over `rooms` empty rooms and reports how much the server's
 * RSS grew per connection. RSS is noisy (GC timing, allocator arenas): compare like with like.
 */
export async function idleRss (system: BenchSystem, opts: IdleOptions): Promise<IdleResult> {
  return withServer(system, async server => {
    const rooms: string[] = []
    for (let i = 0; i < opts.rooms; i++) rooms.push(await system.createRoom(server))
    await sleep(500)
    const rssBeforeBytes = rssBytes(server.pid)
    const conns = await openIdle(system, server, rooms, opts)
    try {
      await sleep(1000)
      const rssAfterBytes = rssBytes(server.pid)
      return {
        conns: opts.conns,
        rooms: opts.rooms,
        rssBeforeBytes,
        rssAfterBytes,
        idleRssBytesPerConn: (rssAfterBytes - rssBeforeBytes) / opts.conns
      }
    } finally {
      conns.forEach(c => c.close())
    }
  })
}
