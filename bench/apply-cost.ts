/**
 * Apply cost per envelope on the editing trace, before and after all-or-nothing apply (issue 7,
 * "Numbers for the closing note"). Each path integrates the trace's updates, batched into
 * envelopes as a writer's flush does (the updates gathered for one envelope merged into one), into
 * a fresh receiving doc:
 *
 *   old     6a34187's space.ts: scratchApply (decode, then integrate into an empty scratch doc), then
 *           Y.applyUpdate on the live doc in one transaction
 *   shadow  ShadowApplier.apply: integrate into a shadow doc that mirrors the live one, then the live doc
 *   live    Y.applyUpdate on the live doc only (no protection; the floor both are compared with)
 *
 * The envelope's crypto, batch decoding and clientID binding check are the same in both versions
 * and not timed here. Heap is measured after a forced GC with the docs still referenced.
 *
 *   npx tsx bench/apply-cost.ts [--reps 3] [--ops N] [--batch 1,32] [--json FILE]
 */
import { writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import * as Y from 'yjs'
import { scratchApply } from '../client/core/apply.js'
import { ShadowApplier } from '../client/core/shadow.js'
import { applyOp, finalText, loadTrace, type Op } from './trace.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

type Path = 'old' | 'shadow' | 'live'
const PATHS: readonly Path[] = ['old', 'shadow', 'live']
const ORIGIN = { remote: true }

function parseArgs (argv: readonly string[]): { reps: number, ops: number | undefined, batches: number[], json: string | undefined } {
  let reps = 3
  let ops: number | undefined
  let batches = [1, 32]
  let json: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = argv[i + 1]
    if (a === '--reps' && v !== undefined) { reps = Number(v); i++ } else if (a === '--ops' && v !== undefined) { ops = Number(v); i++ } else if (a === '--batch' && v !== undefined) { batches = v.split(',').map(Number); i++ } else if (a === '--json' && v !== undefined) { json = v; i++ } else throw new Error(`unknown argument ${a ?? ''}; usage: tsx bench/apply-cost.ts [--reps N] [--ops N] [--batch 1,32] [--json FILE]`)
  }
  return { reps, ops, batches, json }
}

/** The writer's updates, one per trace op (one keystroke = one transaction = one update). */
function traceUpdates (ops: readonly Op[]): Uint8Array[] {
  const doc = new Y.Doc()
  const text = doc.getText('text')
  const out: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => { out.push(u) })
  for (const op of ops) doc.transact(() => applyOp(text, op))
  doc.destroy()
  return out
}

/** Envelopes of `per` updates each, merged into one update as the writer's flush does. */
function envelopes (updates: readonly Uint8Array[], per: number): Uint8Array[][] {
  const out: Uint8Array[][] = []
  for (let i = 0; i < updates.length; i += per) {
    const chunk = updates.slice(i, i + per)
    out.push(chunk.length === 1 ? chunk : [Y.mergeUpdates(chunk)])
  }
  return out
}

interface Receiver { doc: Y.Doc, apply: (env: Uint8Array[]) => void, shadow?: ShadowApplier }

function receiver (path: Path): Receiver {
  const doc = new Y.Doc()
  if (path === 'live') {
    return { doc, apply: env => Y.transact(doc, () => { for (const u of env) Y.applyUpdate(doc, u, ORIGIN) }, ORIGIN) }
  }
  if (path === 'old') {
    return {
      doc,
      apply: env => {
        const s = scratchApply(env)
        if (!s.ok) throw new Error(s.message)
        Y.transact(doc, () => { for (const u of env) Y.applyUpdate(doc, u, ORIGIN) }, ORIGIN)
      }
    }
  }
  const shadow = new ShadowApplier(doc)
  return {
    doc,
    shadow,
    apply: env => {
      const r = shadow.apply(env, ORIGIN)
      if (!r.ok) throw new Error(r.message)
    }
  }
}

/** Wall time per envelope, and process CPU time per envelope (less sensitive to other load on the machine). */
interface RunResult { usPerEnv: number, cpuUsPerEnv: number, p50Us: number, p99Us: number, maxUs: number, totalMs: number }

function run (path: Path, envs: readonly Uint8Array[][], expected: string): { result: RunResult, r: Receiver } {
  const r = receiver(path)
  const each = new Float64Array(envs.length)
  gc()
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < envs.length; i++) {
    const a = performance.now()
    r.apply(envs[i] as Uint8Array[])
    each[i] = performance.now() - a
  }
  const totalMs = performance.now() - t0
  const cpu = process.cpuUsage(c0)
  if (r.doc.getText('text').toString() !== expected) throw new Error(`${path}: the receiving doc diverged from the trace`)
  each.sort()
  const pct = (p: number): number => (each[Math.min(each.length - 1, Math.ceil(p / 100 * each.length) - 1)] ?? Number.NaN) * 1000
  return { result: { usPerEnv: totalMs * 1000 / envs.length, cpuUsPerEnv: (cpu.user + cpu.system) / envs.length, p50Us: pct(50), p99Us: pct(99), maxUs: (each[each.length - 1] ?? 0) * 1000, totalMs }, r }
}

/**
 * The writer's side: since issue 7 every local update is also mirrored into the shadow doc
 * (space.ts onDocUpdate → ShadowApplier.mirror). Typing the trace one op per transaction, with the
 * session's `update` listener gathering updates, with and without the mirror.
 */
function localTyping (ops: readonly Op[], mirror: boolean): { usPerOp: number, cpuUsPerOp: number } {
  const doc = new Y.Doc()
  const text = doc.getText('text')
  const shadow = mirror ? new ShadowApplier(doc) : undefined
  let pending: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => {
    shadow?.mirror(u)
    pending.push(u)
    if (pending.length >= 32) pending = []
  })
  gc()
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (const op of ops) doc.transact(() => applyOp(text, op))
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(c0)
  shadow?.destroy()
  doc.destroy()
  return { usPerOp: ms * 1000 / ops.length, cpuUsPerOp: (cpu.user + cpu.system) / ops.length }
}

function heapUsed (): number {
  gc(); gc()
  return process.memoryUsage().heapUsed
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2
}

const fmt = (v: number): string => Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)

/** Heap held by the live doc alone, and by live + shadow, after the whole trace was applied. */
function memory (envs: readonly Uint8Array[][], expected: string): Record<string, number> {
  const base = heapUsed()
  const live = run('live', envs, expected).r
  const liveBytes = heapUsed() - base
  live.doc.destroy()
  const base2 = heapUsed()
  const withShadow = run('shadow', envs, expected).r
  const bothBytes = heapUsed() - base2
  // A session that opens a stored doc builds its shadow from the live state (ShadowApplier.rebuild).
  const t0 = performance.now()
  withShadow.shadow?.resync()
  const rebuildMs = performance.now() - t0
  const rebuiltBytes = heapUsed() - base2 - liveBytes
  const stateV2Bytes = Y.encodeStateAsUpdateV2(withShadow.doc).length
  withShadow.shadow?.destroy()
  withShadow.doc.destroy()
  return { liveDocHeapBytes: liveBytes, shadowHeapBytes: bothBytes - liveBytes, shadowRebuiltHeapBytes: rebuiltBytes, shadowRebuildMs: rebuildMs, stateV2Bytes }
}

function main (): void {
  const args = parseArgs(process.argv.slice(2))
  const all = loadTrace()
  const ops = args.ops === undefined ? all : all.slice(0, args.ops)
  const expected = finalText(ops)
  const updates = traceUpdates(ops)
  console.log(`trace: ${ops.length} ops → ${updates.length} updates; ${args.reps} reps, medians; node ${process.version}`)
  const out: Record<string, unknown> = { ops: ops.length, reps: args.reps }
  const rows: string[][] = []
  for (const per of args.batches) {
    const envs = envelopes(updates, per)
    // Warm-up: JIT every path on a slice first.
    for (const p of PATHS) run(p, envs.slice(0, Math.min(envs.length, 2000)), finalText(ops.slice(0, Math.min(ops.length, 2000 * per))))
    const runs = new Map<Path, RunResult[]>(PATHS.map(p => [p, []]))
    for (let rep = 0; rep < args.reps; rep++) {
      for (const p of PATHS) {
        const { result, r } = run(p, envs, expected)
        r.shadow?.destroy()
        r.doc.destroy()
        runs.get(p)?.push(result)
        console.error(`  ${per}/env ${p} rep ${rep + 1}: ${fmt(result.usPerEnv)} µs/env wall, ${fmt(result.cpuUsPerEnv)} CPU (p50 ${fmt(result.p50Us)}, p99 ${fmt(result.p99Us)}, total ${fmt(result.totalMs)} ms)`)
      }
    }
    const med: Record<string, Record<string, number>> = {}
    for (const p of PATHS) {
      const list = runs.get(p) ?? []
      med[p] = Object.fromEntries((['usPerEnv', 'cpuUsPerEnv', 'p50Us', 'p99Us', 'maxUs', 'totalMs'] as const).map(k => [k, median(list.map(x => x[k]))]))
    }
    out[`batch${per}`] = { envelopes: envs.length, median: med, runs: Object.fromEntries(runs) }
    const live = med.live?.usPerEnv ?? Number.NaN
    for (const p of PATHS) {
      const m = med[p] ?? {}
      rows.push([`${per} upd/env (${envs.length} envs)`, p, fmt(m.usPerEnv ?? Number.NaN), fmt(m.cpuUsPerEnv ?? Number.NaN), fmt(m.p50Us ?? Number.NaN), fmt(m.p99Us ?? Number.NaN), `${((m.usPerEnv ?? 0) / live).toFixed(2)}×`])
    }
  }
  const local: Record<string, Array<{ usPerOp: number, cpuUsPerOp: number }>> = { plain: [], mirror: [] }
  localTyping(ops.slice(0, 5000), false); localTyping(ops.slice(0, 5000), true)
  for (let rep = 0; rep < args.reps; rep++) {
    local.plain?.push(localTyping(ops, false))
    local.mirror?.push(localTyping(ops, true))
  }
  const localMed = Object.fromEntries(Object.entries(local).map(([k, v]) => [k, { usPerOp: median(v.map(x => x.usPerOp)), cpuUsPerOp: median(v.map(x => x.cpuUsPerOp)) }]))
  out.localTyping = { median: localMed, runs: local }
  const mem = memory(envelopes(updates, 1), expected)
  out.memory = mem
  const header = ['envelopes', 'path', 'µs/env (wall)', 'µs/env (CPU)', 'p50 µs', 'p99 µs', 'wall vs live']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (c: readonly string[]): string => c.map((x, i) => i < 2 ? x.padEnd(widths[i] ?? 0) : x.padStart(widths[i] ?? 0)).join(' | ')
  console.log([line(header), widths.map(w => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n'))
  console.log(`local typing (writer, per op): ${fmt(localMed.plain?.usPerOp ?? Number.NaN)} µs wall / ${fmt(localMed.plain?.cpuUsPerOp ?? Number.NaN)} µs CPU without the shadow mirror, ${fmt(localMed.mirror?.usPerOp ?? Number.NaN)} / ${fmt(localMed.mirror?.cpuUsPerOp ?? Number.NaN)} µs with it`)
  console.log(`heap after the trace: live doc ${(mem.liveDocHeapBytes! / 2 ** 20).toFixed(1)} MiB, shadow (built by applying) ${(mem.shadowHeapBytes! / 2 ** 20).toFixed(1)} MiB, shadow rebuilt from the state ${(mem.shadowRebuiltHeapBytes! / 2 ** 20).toFixed(1)} MiB (rebuild ${fmt(mem.shadowRebuildMs!)} ms; V2 state ${mem.stateV2Bytes} B)`)
  if (args.json !== undefined) writeFileSync(args.json, JSON.stringify(out, null, 2) + '\n')
}

main()
