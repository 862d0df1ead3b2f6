/**
 * Benchmark entry point: runs every measurement for every system, repeats each and keeps medians,
 * prints a comparison table (cove / plaintext), then Cove's receipt overhead (receipt-overhead.ts),
 * and optionally writes JSON.
 *
 *   npx tsx bench/main.ts [--quick] [--json FILE] [--only PARTS] [--systems NAMES] [--reps N]
 *
 * --quick: smoke sizes and one repetition (issue 10: under a minute on a quiet 2-core machine), for
 *   smoke tests and CI; N=50, receipts and pg-fanout only when --only names them.
 * --only: comma-separated parts, each the start of a measurement id (fanout-full, fanout-paced,
 *   fanout-human, cold-join, cold-join-settled, warm-join, storage, idle, typists, map-writers,
 *   big-space, keystroke) or `receipts` or `pg-fanout` (several relays on one
 *   PostgreSQL, bench/pg-fanout.ts; skipped without PostgreSQL binaries); e.g. `--only fanout,cold-join` to compare
 *   two checkouts on the numbers issue 7 and 8 ask for without the 10-minute whole.
 * --systems: e.g. `cove` alone for a before/after of Cove. --reps: repetitions instead of the mode's.
 * --seed: seed of the typists' and map writers' PRNG (printed in the header; default 10).
 */
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { coldJoin, fanout, setWarmupOps, storage, warmJoin } from './measure.js'
import { uploadGrowth } from './growth.js'
import { bigSpace, idleFanout, keystroke, mapWriters, typists, type WritersOptions } from './scenarios.js'
import { plaintextSystem } from './plaintext.js'
import type { BenchSystem } from './system.js'
import { checkTrace, TRACE_OPS } from './trace.js'
import { coveSystem } from './cove.js'
import { receiptOverhead, receiptTable, type ReceiptOverheadOptions } from './receipt-overhead.js'
import { pgFanout, pgFanoutTable } from './pg-fanout.js'

/** Systems to measure, baseline first. */
const SYSTEMS: readonly BenchSystem[] = [plaintextSystem, coveSystem]

const BASELINE = 'plaintext'
const CANDIDATE = 'cove'

/** Sizes for one benchmark mode. */
interface Config {
  mode: 'quick' | 'full'
  reps: number
  readers: readonly number[]
  /** Ops per full-speed fan-out run. */
  fanoutOps: number
  /** Ops per paced fan-out run (pace × ops = wall time of one run). */
  pacedOps: number
  paceMs: number
  /** Ops in the room for cold/warm join and storage. */
  joinOps: number
  idleConns: number
  idleRooms: number
  /** Wall time of one human-pace run (ops = this / pace). */
  humanRunMs: number
  /** Issue 10: clients typing into one text at once, and clients setting keys of one map at once. */
  typists: Omit<WritersOptions, 'seed'>
  mapWriters: Omit<WritersOptions, 'seed'>
  /** Ops of the 2-reader fan-out (at `paceMs`) run while the idle connections are open. */
  idleFanoutOps: number
  /** Cold joins of trace prefixes this long, `coldJoinSettleMs` after the writer left. */
  coldJoinSizes: readonly number[]
  coldJoinSettleMs: number
  /** A checklist of this many entries and a note of this many characters; cold join. */
  bigSpace: { entries: number, noteChars: number }
  /** Keystrokes typed one at a time for the per-keystroke wire bytes. */
  keystrokeOps: number
  /** Writer upload per keystroke (snapshots included) once the room holds each of `sizes` ops (growth.ts). */
  growth: { sizes: readonly number[], keystrokes: number, paceMs: number }
  /** Trace ops typed through a throw-away room before each fan-out-like run (JIT warm-up). */
  warmupOps: number
  /** Seed of the PRNG for random positions and pauses (`--seed`). */
  seed: number
  receipts: ReceiptOverheadOptions
}

const FULL: Config = {
  mode: 'full',
  reps: 3,
  readers: [2, 10, 50],
  fanoutOps: 20_000,
  // 20,000 ops at 2 ms would take 40 s per run; 5,000 ops (10 s) give plenty of latency samples.
  pacedOps: 5_000,
  paceMs: 2,
  joinOps: TRACE_OPS,
  idleConns: 2_000,
  idleRooms: 200,
  humanRunMs: 20_000,
  typists: { clients: 50, opsEach: 100, minGapMs: 100, maxGapMs: 200 },
  mapWriters: { clients: 100, opsEach: 10, minGapMs: 100, maxGapMs: 200 },
  idleFanoutOps: 5_000,
  coldJoinSizes: [10_000, 100_000, TRACE_OPS],
  coldJoinSettleMs: 5_000,
  bigSpace: { entries: 10_000, noteChars: 5_000_000 },
  keystrokeOps: 300,
  growth: { sizes: [0, 100_000, 250_000], keystrokes: 1_000, paceMs: 5 },
  warmupOps: 2_000,
  seed: 10,
  receipts: { members: 5, idleMs: 20_000, typingMs: 30_000, paceMs: 200, speedup: 30 }
}

// Issue 10: the whole --quick run stays under a minute on the 2-core machine. Every part runs once
// per system at smoke sizes; receipts and pg-fanout (Cove-only sections of a minute each) run only
// when `--only` names them.
const QUICK: Config = {
  mode: 'quick',
  reps: 1,
  // N=10 and N=50 (8 s a run for Cove, mostly 50 joins) only in full runs: each part costs a
  // fresh server per system (~1 s plaintext, ~1.5 s Cove on the loaded machine) before any work.
  readers: [2],
  fanoutOps: 400,
  pacedOps: 250,
  paceMs: 2,
  joinOps: 5_000,
  idleConns: 200,
  idleRooms: 20,
  humanRunMs: 1_000,
  typists: { clients: 6, opsEach: 10, minGapMs: 100, maxGapMs: 200 },
  mapWriters: { clients: 10, opsEach: 4, minGapMs: 100, maxGapMs: 200 },
  idleFanoutOps: 250,
  coldJoinSizes: [10_000],
  coldJoinSettleMs: 1_000,
  bigSpace: { entries: 500, noteChars: 200_000 },
  keystrokeOps: 30,
  // Upload growth fills rooms of 100k+ ops: full runs only.
  growth: { sizes: [], keystrokes: 100, paceMs: 5 },
  warmupOps: 300,
  seed: 10,
  receipts: { members: 5, idleMs: 10_000, typingMs: 10_000, paceMs: 200, speedup: 30 }
}

type Numbers = Record<string, number>

/** One measurement: an id and how to run it once against a system. */
interface Measurement {
  id: string
  run: (system: BenchSystem) => Promise<Numbers>
}

function measurements (c: Config): Measurement[] {
  const asNumbers = async (p: Promise<object>): Promise<Numbers> => (await p) as Numbers
  const fanouts = (paceMs: number, ops: number, prefix: string): Measurement[] => c.readers.map(readers => ({
    id: `${prefix}-N${readers}`,
    run: system => asNumbers(fanout(system, { readers, ops, paceMs }))
  }))
  return [
    ...fanouts(0, c.fanoutOps, 'fanout-full'),
    ...fanouts(c.paceMs, c.pacedOps, 'fanout-paced'),
    // Human pace (issue 10): a key every 20 and 100 ms, one op per envelope, two readers.
    ...HUMAN_PACES.map(paceMs => ({
      id: `fanout-human${paceMs}`,
      run: (system: BenchSystem) => asNumbers(fanout(system, { readers: 2, ops: Math.round(c.humanRunMs / paceMs), paceMs }))
    })),
    { id: 'cold-join', run: system => asNumbers(coldJoin(system, c.joinOps)) },
    // Issue 10: some time after the writer left (Cove: after its closing snapshot), at three sizes.
    ...c.coldJoinSizes.map(ops => ({
      id: `cold-join-settled-${sizeName(ops)}`,
      run: (system: BenchSystem) => asNumbers(coldJoin(system, ops, c.coldJoinSettleMs))
    })),
    { id: 'warm-join', run: system => asNumbers(warmJoin(system, c.joinOps)) },
    { id: 'warm-join-pruned', run: system => asNumbers(warmJoin(system, c.joinOps, WARM_JOIN_PRUNED_SETTLE_MS)) },
    { id: 'storage', run: system => asNumbers(storage(system, c.joinOps)) },
    // Idle connections in other rooms: RSS per connection, then the paced 2-reader fan-out beside them.
    { id: 'idle', run: system => asNumbers(idleFanout(system, { conns: c.idleConns, rooms: c.idleRooms, ops: c.idleFanoutOps, paceMs: c.paceMs })) },
    { id: 'typists', run: system => asNumbers(typists(system, { ...c.typists, seed: c.seed })) },
    { id: 'map-writers', run: system => asNumbers(mapWriters(system, { ...c.mapWriters, seed: c.seed })) },
    { id: 'big-space', run: system => asNumbers(bigSpace(system, { ...c.bigSpace, settleMs: c.coldJoinSettleMs, seed: c.seed })) },
    { id: 'keystroke', run: system => asNumbers(keystroke(system, c.keystrokeOps)) },
    ...c.growth.sizes.map(size => ({
      id: `upload-growth-${sizeName(size)}`,
      run: (system: BenchSystem) => asNumbers(uploadGrowth(system, [size], c.growth.keystrokes, c.growth.paceMs).then(r => r[0] as object))
    }))
  ]
}

/** 10000 → '10k', 259778 → '260k': the stable suffix of a trace-prefix size. */
export function sizeName (ops: number): string {
  return ops >= 1000 ? `${Math.round(ops / 1000)}k` : String(ops)
}

/** A row of the report: where its value comes from in one system's medians. */
interface Metric {
  key: string
  label: string
  measurement: string
  field: string
  /** False for JSON-only aliases that would repeat a table row. */
  inTable?: boolean
}

function metrics (c: Config): Metric[] {
  const perReaders = (key: string, label: string, measurement: string, field: string): Metric[] =>
    c.readers.map(n => ({ key: `${key}_N${n}`, label: `${label}, N=${n}`, measurement: `${measurement}-N${n}`, field }))
  return [
    { key: 'coldJoinMs', label: `cold join ms (${c.joinOps} ops)`, measurement: 'cold-join', field: 'coldJoinMs' },
    { key: 'coldJoinBytes', label: 'cold join bytes received', measurement: 'cold-join', field: 'coldJoinBytes' },
    { key: 'warmJoinMs', label: 'warm join ms (last 5% missed)', measurement: 'warm-join', field: 'warmJoinMs' },
    { key: 'warmJoinBytes', label: 'warm join bytes received', measurement: 'warm-join', field: 'warmJoinBytes' },
    { key: 'warmJoinMsAfterPrune', label: `warm join ms, ${WARM_JOIN_PRUNED_SETTLE_MS / 1000} s after the writer left (pruned)`, measurement: 'warm-join-pruned', field: 'warmJoinMs' },
    { key: 'warmJoinBytesAfterPrune', label: 'warm join bytes received, after the prune', measurement: 'warm-join-pruned', field: 'warmJoinBytes' },
    ...perReaders('fanoutP50Ms', `fan-out p50 ms @${c.paceMs}ms pace`, 'fanout-paced', 'p50Ms'),
    ...perReaders('fanoutP99Ms', `fan-out p99 ms @${c.paceMs}ms pace`, 'fanout-paced', 'p99Ms'),
    ...perReaders('fanoutFullP50Ms', 'fan-out p50 ms, full speed', 'fanout-full', 'p50Ms'),
    ...perReaders('fanoutFullP99Ms', 'fan-out p99 ms, full speed', 'fanout-full', 'p99Ms'),
    ...perReaders('fanoutFullConvergenceMs', `fan-out converge ms, full speed (${c.fanoutOps} ops)`, 'fanout-full', 'convergenceMs'),
    ...perReaders('relayCpuUsPerOp', 'relay CPU µs/op, full speed', 'fanout-full', 'relayCpuUsPerOp'),
    ...perReaders('relayCpuUsPerOpPaced', `relay CPU µs/op @${c.paceMs}ms pace`, 'fanout-paced', 'relayCpuUsPerOp'),
    ...HUMAN_PACES.flatMap(ms => [
      { key: `humanP50Ms_${ms}`, label: `keystroke p50 ms @${ms}ms pace, N=2`, measurement: `fanout-human${ms}`, field: 'p50Ms' },
      { key: `humanP99Ms_${ms}`, label: `keystroke p99 ms @${ms}ms pace, N=2`, measurement: `fanout-human${ms}`, field: 'p99Ms' },
      { key: `humanRelayCpuUsPerOp_${ms}`, label: `relay CPU µs/op @${ms}ms pace`, measurement: `fanout-human${ms}`, field: 'relayCpuUsPerOp' },
      { key: `humanWriterBytesPerOp_${ms}`, label: `writer bytes/op @${ms}ms pace`, measurement: `fanout-human${ms}`, field: 'writerBytesPerOp' }
    ]),
    ...perReaders('snapshotAttempts', `snapshot attempts @${c.paceMs}ms pace (all readers edit-capable)`, 'fanout-paced', 'snapshotAttempts'),
    ...perReaders('snapshotsStored', `snapshots stored @${c.paceMs}ms pace`, 'fanout-paced', 'snapshotsStored'),
    { key: 'relayCpuUsPerOp', label: 'relay CPU µs/op (full speed, N=10)', measurement: 'fanout-full-N10', field: 'relayCpuUsPerOp', inTable: false },
    { key: 'wireBytesPerOp', label: 'writer wire bytes/op', measurement: 'storage', field: 'wireBytesPerOp' },
    { key: 'storageBytesAfterPrune', label: 'server storage bytes after prune', measurement: 'storage', field: 'storageBytesAfterPrune' },
    { key: 'storageDiskBytesLive', label: 'server data dir bytes on disk, running, after prune', measurement: 'storage', field: 'storageDiskBytesLive' },
    { key: 'storageDiskBytes', label: 'server data dir bytes on disk, stopped + compacted', measurement: 'storage', field: 'storageDiskBytes' },
    { key: 'idleRssBytesPerConn', label: `server RSS bytes/idle conn (${c.idleConns} conns)`, measurement: 'idle', field: 'idleRssBytesPerConn' },
    ...c.coldJoinSizes.flatMap(ops => [
      { key: `coldJoinMs_${sizeName(ops)}`, label: `cold join ms, ${ops} ops, ${c.coldJoinSettleMs / 1000} s after the writer left`, measurement: `cold-join-settled-${sizeName(ops)}`, field: 'coldJoinMs' },
      { key: `coldJoinBytes_${sizeName(ops)}`, label: `cold join bytes received, ${ops} ops, settled`, measurement: `cold-join-settled-${sizeName(ops)}`, field: 'coldJoinBytes' }
    ]),
    { key: 'idleFanoutP50Ms', label: `fan-out p50 ms @${c.paceMs}ms pace, N=2, ${c.idleConns} idle conns open`, measurement: 'idle', field: 'p50Ms' },
    { key: 'idleFanoutP99Ms', label: `fan-out p99 ms @${c.paceMs}ms pace, N=2, ${c.idleConns} idle conns open`, measurement: 'idle', field: 'p99Ms' },
    { key: 'idleFanoutRelayCpuUsPerOp', label: `relay CPU µs/op, N=2, ${c.idleConns} idle conns open`, measurement: 'idle', field: 'relayCpuUsPerOp' },
    { key: 'typistsConvergeMs', label: `${c.typists.clients} typists × ${c.typists.opsEach} ops: converge ms`, measurement: 'typists', field: 'convergeMs' },
    { key: 'typistsTailMs', label: `${c.typists.clients} typists: last op → converged ms`, measurement: 'typists', field: 'tailMs' },
    { key: 'typistsBytesPerClient', label: `${c.typists.clients} typists: bytes received per client`, measurement: 'typists', field: 'bytesReceivedPerClient' },
    { key: 'typistsSentBytesPerClient', label: `${c.typists.clients} typists: bytes sent per client`, measurement: 'typists', field: 'bytesSentPerClient' },
    { key: 'typistsRelayCpuUsPerOp', label: `${c.typists.clients} typists: relay CPU µs/op`, measurement: 'typists', field: 'relayCpuUsPerOp' },
    { key: 'typistsClientCpuUsPerOp', label: `${c.typists.clients} typists: client CPU µs per op per client`, measurement: 'typists', field: 'clientCpuUsPerOp' },
    { key: 'typistsSnapshotAttempts', label: `${c.typists.clients} typists: snapshot attempts (all clients)`, measurement: 'typists', field: 'snapshotAttempts' },
    { key: 'typistsSnapshotsStored', label: `${c.typists.clients} typists: snapshots stored`, measurement: 'typists', field: 'snapshotsStored' },
    { key: 'mapWritersConvergeMs', label: `${c.mapWriters.clients} map writers × ${c.mapWriters.opsEach} keys: converge ms`, measurement: 'map-writers', field: 'convergeMs' },
    { key: 'mapWritersTailMs', label: `${c.mapWriters.clients} map writers: last set → converged ms`, measurement: 'map-writers', field: 'tailMs' },
    { key: 'mapWritersBytesPerClient', label: `${c.mapWriters.clients} map writers: bytes received per client`, measurement: 'map-writers', field: 'bytesReceivedPerClient' },
    { key: 'mapWritersSentBytesPerClient', label: `${c.mapWriters.clients} map writers: bytes sent per client`, measurement: 'map-writers', field: 'bytesSentPerClient' },
    { key: 'mapWritersClientCpuUsPerOp', label: `${c.mapWriters.clients} map writers: client CPU µs per op per client`, measurement: 'map-writers', field: 'clientCpuUsPerOp' },
    { key: 'mapWritersSnapshotAttempts', label: `${c.mapWriters.clients} map writers: snapshot attempts (all clients)`, measurement: 'map-writers', field: 'snapshotAttempts' },
    { key: 'mapWritersSnapshotsStored', label: `${c.mapWriters.clients} map writers: snapshots stored`, measurement: 'map-writers', field: 'snapshotsStored' },
    { key: 'mapWritersRelayCpuUsPerOp', label: `${c.mapWriters.clients} map writers: relay CPU µs/op`, measurement: 'map-writers', field: 'relayCpuUsPerOp' },
    { key: 'bigSpaceJoinMs', label: `cold join ms, ${c.bigSpace.entries} entries + ${c.bigSpace.noteChars} char note`, measurement: 'big-space', field: 'bigSpaceJoinMs' },
    { key: 'bigSpaceJoinBytes', label: 'cold join bytes received, big space', measurement: 'big-space', field: 'bigSpaceJoinBytes' },
    { key: 'keystrokeSentBytes', label: 'one keystroke alone: writer bytes sent', measurement: 'keystroke', field: 'keystrokeSentBytes' },
    { key: 'keystrokeReceivedBytes', label: 'one keystroke alone: reader bytes received', measurement: 'keystroke', field: 'keystrokeReceivedBytes' },
    { key: 'keystrokeWriterReceivedBytes', label: 'one keystroke alone: writer bytes received', measurement: 'keystroke', field: 'keystrokeWriterReceivedBytes' },
    { key: 'keystrokeRoundMs', label: 'one keystroke alone: writer → reader ms (median)', measurement: 'keystroke', field: 'keystrokeRoundMs' },
    ...c.growth.sizes.map(size => ({ key: `uploadBytesPerKeystroke_${sizeName(size)}`, label: `writer upload bytes/keystroke @${c.growth.paceMs}ms, room of ${size} ops (snapshots incl.)`, measurement: `upload-growth-${sizeName(size)}`, field: 'uploadBytesPerKeystroke' }))
  ]
}

/** Keys of the top-level `ratios` object in the JSON output (cove / plaintext). */
const RATIO_KEYS = [
  'coldJoinMs', 'warmJoinMs', 'fanoutP99Ms_N2', 'fanoutP99Ms_N10', 'fanoutP99Ms_N50',
  'relayCpuUsPerOp', 'wireBytesPerOp', 'storageBytesAfterPrune', 'idleRssBytesPerConn',
  'fanoutP50Ms_N2', 'relayCpuUsPerOpPaced_N2',
  'humanP50Ms_20', 'humanP99Ms_20', 'humanRelayCpuUsPerOp_20', 'humanWriterBytesPerOp_20',
  'humanP50Ms_100', 'humanP99Ms_100', 'humanRelayCpuUsPerOp_100', 'humanWriterBytesPerOp_100',
  // Issue 10's table.
  'coldJoinMs_10k', 'coldJoinMs_100k', 'coldJoinMs_260k', 'coldJoinBytes_10k', 'coldJoinBytes_100k', 'coldJoinBytes_260k',
  'idleFanoutP50Ms', 'idleFanoutP99Ms', 'idleFanoutRelayCpuUsPerOp',
  'typistsConvergeMs', 'typistsTailMs', 'typistsBytesPerClient', 'typistsSentBytesPerClient', 'typistsRelayCpuUsPerOp', 'typistsClientCpuUsPerOp',
  'mapWritersConvergeMs', 'mapWritersTailMs', 'mapWritersBytesPerClient', 'mapWritersSentBytesPerClient', 'mapWritersRelayCpuUsPerOp', 'mapWritersClientCpuUsPerOp',
  'bigSpaceJoinMs', 'bigSpaceJoinBytes',
  'storageDiskBytes', 'storageDiskBytesLive',
  'keystrokeSentBytes', 'keystrokeReceivedBytes', 'keystrokeWriterReceivedBytes', 'keystrokeRoundMs',
  'warmJoinBytes', 'coldJoinBytes', 'warmJoinMsAfterPrune', 'warmJoinBytesAfterPrune',
  'uploadBytesPerKeystroke_0', 'uploadBytesPerKeystroke_100k', 'uploadBytesPerKeystroke_250k'
] as const

/** Wait after the writer left before the "warm join just after a prune" (3 × Cove's bench prune grace and more). */
const WARM_JOIN_PRUNED_SETTLE_MS = 1_000

/** Paces (ms per op) of the human-pace fan-out runs. */
const HUMAN_PACES = [20, 100] as const

interface MeasurementResult { median: Numbers, runs: Numbers[] }
type SystemResults = Record<string, MeasurementResult>

function median (values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  if (sorted.length % 2 === 1) return sorted[mid] ?? Number.NaN
  return ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2
}

/** Field-wise median of repeated runs. */
function medianOf (runs: readonly Numbers[]): Numbers {
  const out: Numbers = {}
  for (const key of Object.keys(runs[0] ?? {})) out[key] = median(runs.map(r => r[key] ?? Number.NaN))
  return out
}

/** Runs all measurements; repetitions are interleaved across systems so machine drift hits all alike. */
async function runAll (c: Config, systems: readonly BenchSystem[], only: readonly string[] | undefined): Promise<Record<string, SystemResults>> {
  const runs = new Map<string, Map<string, Numbers[]>>(systems.map(s => [s.name, new Map()]))
  for (const m of measurements(c).filter(m => wanted(only, m.id))) {
    for (let rep = 0; rep < c.reps; rep++) {
      for (const system of systems) {
        const t0 = performance.now()
        const result = await m.run(system)
        const perSystem = runs.get(system.name) as Map<string, Numbers[]>
        perSystem.set(m.id, [...(perSystem.get(m.id) ?? []), result])
        console.error(`  ${m.id} [${system.name}] rep ${rep + 1}/${c.reps}: ${((performance.now() - t0) / 1000).toFixed(1)} s ${brief(result)}`)
      }
    }
  }
  const out: Record<string, SystemResults> = {}
  for (const [name, perSystem] of runs) {
    const results: SystemResults = {}
    for (const [id, list] of perSystem) results[id] = { median: medianOf(list), runs: list }
    out[name] = results
  }
  return out
}

function brief (n: Numbers): string {
  return Object.entries(n).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')
}

function fmt (v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '—'
  const abs = Math.abs(v)
  if (abs >= 1000) return Math.round(v).toLocaleString('en-US')
  if (abs >= 100) return v.toFixed(0)
  if (abs >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

function valueOf (results: Record<string, SystemResults>, system: string, metric: Metric): number | null {
  const v = results[system]?.[metric.measurement]?.median[metric.field]
  return v === undefined || Number.isNaN(v) ? null : v
}

function ratio (candidate: number | null, baseline: number | null): number | null {
  return candidate === null || baseline === null || baseline === 0 ? null : candidate / baseline
}

function table (results: Record<string, SystemResults>, c: Config): string {
  const measured = metrics(c).filter(m => m.inTable !== false && (valueOf(results, BASELINE, m) ?? valueOf(results, CANDIDATE, m)) !== null)
  const rows = measured.map(m => {
    const base = valueOf(results, BASELINE, m)
    const cand = valueOf(results, CANDIDATE, m)
    const r = ratio(cand, base)
    return [m.label, fmt(base), fmt(cand), r === null ? '—' : `${r.toFixed(2)}×`]
  })
  const header = ['metric', BASELINE, CANDIDATE, `ratio ${CANDIDATE}/${BASELINE}`]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)).join(' | ')
  return [line(header), widths.map(w => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n')
}

function machine (): Record<string, string | number> {
  const cpus = os.cpus()
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    totalMemBytes: os.totalmem(),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`
  }
}

interface Args { quick: boolean, jsonFile: string | undefined, only: string[] | undefined, systems: string[] | undefined, reps: number | undefined, seed: number | undefined }

function parseArgs (argv: readonly string[]): Args {
  const a: Args = { quick: false, jsonFile: undefined, only: undefined, systems: undefined, reps: undefined, seed: undefined }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const v = argv[i + 1]
    if (arg === '--quick') a.quick = true
    else if (arg === '--json' && v !== undefined) { a.jsonFile = v; i++ } else if (arg === '--only' && v !== undefined) { a.only = v.split(','); i++ } else if (arg === '--systems' && v !== undefined) { a.systems = v.split(','); i++ } else if (arg === '--reps' && v !== undefined) { a.reps = Number(v); i++ } else if (arg === '--seed' && v !== undefined) { a.seed = Number(v); i++ } else throw new Error(`unknown argument ${arg ?? ''}; usage: tsx bench/main.ts [--quick] [--json FILE] [--only PARTS] [--systems NAMES] [--reps N] [--seed N]`)
  }
  return a
}

/** Whether part `id` was asked for (`--only` names the start of ids; none: everything). */
const wanted = (only: readonly string[] | undefined, id: string): boolean => only === undefined || only.some(p => id.startsWith(p))

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const mode = args.quick ? QUICK : FULL
  const config = { ...mode, ...(args.reps === undefined ? {} : { reps: args.reps }), ...(args.seed === undefined ? {} : { seed: args.seed }) }
  const systems = SYSTEMS.filter(s => args.systems === undefined || args.systems.includes(s.name))
  const started = performance.now()
  const info = machine()
  console.log(`machine: ${info.cpuModel} × ${info.cpuCount}, ${fmt(Number(info.totalMemBytes) / 2 ** 30)} GiB, node ${info.node}, ${info.os}; load average ${os.loadavg().map(l => l.toFixed(2)).join(' ')}`)
  console.log(`mode: ${config.mode}, systems: ${systems.map(s => s.name).join(', ')}, ${config.reps} rep(s), medians reported, seed ${config.seed}${args.only === undefined ? '' : `; only ${args.only.join(', ')}`}`)
  checkTrace()
  setWarmupOps(config.warmupOps)
  // Quick runs leave out the Cove-only sections of a minute each unless --only names them.
  const section = (name: string): boolean => config.mode === 'quick' ? args.only?.some(p => name.startsWith(p)) === true : wanted(args.only, name)
  const results = await runAll(config, systems, args.only)
  if (Object.values(results).some(r => Object.keys(r).length > 0)) console.log('\n' + table(results, config))
  // Receipts are Cove's alone (plaintext has nothing like them): a section of their own.
  const receipts = systems.includes(coveSystem) && section('receipts')
    ? await receiptOverhead(config.receipts, config.reps, line => console.error(line))
    : undefined
  if (receipts !== undefined) console.log('\n' + receiptTable(receipts))
  const pg = systems.includes(coveSystem) && section('pg-fanout')
    ? await pgFanout(config.mode === 'quick'
      ? [{ readers: 4, ops: 500, paceMs: 2 }, { readers: 4, ops: 1000, paceMs: 0 }]
      : [{ readers: 10, ops: 2000, paceMs: 2 }, { readers: 10, ops: 4000, paceMs: 0 }], line => console.error(line))
    : undefined
  if (pg !== undefined) console.log(`\nseveral relays on one PostgreSQL (load average ${os.loadavg().map(l => l.toFixed(2)).join(' ')})\n` + pgFanoutTable(pg))
  console.log(`load average at the end ${os.loadavg().map(l => l.toFixed(2)).join(' ')}`)
  const durationS = (performance.now() - started) / 1000
  console.log(`\ntotal ${durationS.toFixed(0)} s`)
  if (args.jsonFile !== undefined) {
    const all = metrics(config)
    const ratios = Object.fromEntries(RATIO_KEYS.map(key => {
      const m = all.find(x => x.key === key)
      return [key, m === undefined ? null : ratio(valueOf(results, CANDIDATE, m), valueOf(results, BASELINE, m))]
    }))
    const metricValues = Object.fromEntries(systems.map(s => [s.name,
      Object.fromEntries(all.map(m => [m.key, valueOf(results, s.name, m)]))]))
    writeFileSync(args.jsonFile, JSON.stringify({
      machine: info,
      config,
      durationS,
      notes: [
        `ratios are ${CANDIDATE}/${BASELINE} of medians; null when a system is missing`,
        `fanoutP99Ms_N* are paced runs (one op every ${config.paceMs} ms, realistic typing); full-speed runs are fanoutFull*`,
        'relayCpuUsPerOp is from the full-speed fan-out run with N=10 readers',
        'bytes are WebSocket message payload bytes (no framing/TCP)'
      ],
      ratios,
      metrics: metricValues,
      results,
      receipts: receipts ?? null,
      pgFanout: pg ?? null
    }, null, 2) + '\n')
    console.log(`wrote ${args.jsonFile}`)
  }
}

main().catch((err: unknown) => {
  console.error(err)
  // Clients of a failed measurement may still hold sockets; servers are killed on exit.
  process.exit(1)
})
