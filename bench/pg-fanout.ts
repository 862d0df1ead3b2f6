/**
 * Scale-out fan-out (issue 12), `npm run bench -- --only pg-fanout`: one writer, R readers, the
 * same op sequence and pacing against three set-ups in one run:
 *   sqlite-1  one relay on its SQLite file (the embedded default);
 *   pg-1      one relay on PostgreSQL (with its LISTEN/NOTIFY bus, as in production);
 *   pg-2      two relays on that PostgreSQL, the writer on the first, readers split across both.
 * Per set-up: delivery latency p50/p99 (writer's local edit to a reader's doc holding it), total
 * delivered updates per second (readers × ops / time until the last reader has the last op), and
 * relay CPU per op (all relay processes together; PostgreSQL's own CPU is not counted, see below).
 *
 * The writer pushes one numbered item per op to a Y.Array (not the editing trace: a reader can then
 * tell exactly which op arrived when). Clients, relays and PostgreSQL all share this machine's
 * cores: read the ratios with the load average printed next to them.
 *
 * Skipped with a note when the PostgreSQL server binaries are missing (`apt-get install postgresql`).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type * as Y from 'yjs'
import { pgBinDir, startPgCluster, type PgCluster } from '../test/support/pg.js'
import { builtRelay, coveSystem } from './cove.js'
import { cpuMicros, freePort, spawnServer } from './proc.js'
import type { BenchClient, BenchServer } from './system.js'

export interface PgFanoutOptions {
  readonly readers: number
  readonly ops: number
  /** Milliseconds between ops; 0 is full speed (the throughput run). */
  readonly paceMs: number
}

export interface PgFanoutRow {
  readonly setup: 'sqlite-1' | 'pg-1' | 'pg-2'
  readonly paceMs: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly deliveredPerS: number
  readonly relayCpuUsPerOp: number
}

const HOST = '127.0.0.1'

async function relay (args: readonly string[]): Promise<BenchServer & { dir: string }> {
  const port = await freePort(HOST)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cove-bench-pg-'))
  const s = await spawnServer({
    command: [process.execPath, builtRelay(), '--port', String(port), '--host', HOST, '--data', dir, '--quiet', '--creates-per-ip', '100000', ...args],
    host: HOST,
    port,
    startTimeoutMs: 30_000
  })
  return { ...s, dir, async stop () { await s.stop(); fs.rmSync(dir, { recursive: true, force: true }) } }
}

async function measure (setup: PgFanoutRow['setup'], relays: readonly BenchServer[], o: PgFanoutOptions): Promise<PgFanoutRow> {
  const room = await coveSystem.createRoom(relays[0]!)
  const clients: BenchClient[] = []
  try {
    const writer = await coveSystem.connect(relays[0]!, room)
    clients.push(writer)
    for (let i = 0; i < o.readers; i++) clients.push(await coveSystem.connect(relays[i % relays.length]!, room))
    await Promise.all(clients.map(c => c.synced()))
    const readers = clients.slice(1)
    const sentAt = new Float64Array(o.ops)
    const lat: number[] = []
    let lastAt = 0
    const done = readers.map(r => new Promise<void>(resolve => {
      const arr = r.doc.getArray<number>('n') as Y.Array<number>
      let seen = 0
      arr.observe(() => {
        const now = performance.now()
        for (; seen < arr.length; seen++) lat.push(now - sentAt[seen]!)
        lastAt = Math.max(lastAt, now)
        if (seen >= o.ops) resolve()
      })
    }))
    const cpu0 = relays.reduce((a, r) => a + cpuMicros(r.pid), 0)
    const t0 = performance.now()
    const arr = writer.doc.getArray<number>('n')
    for (let i = 0; i < o.ops; i++) {
      sentAt[i] = performance.now()
      arr.push([i])
      if (o.paceMs > 0) await new Promise(resolve => setTimeout(resolve, o.paceMs))
      else if (i % 50 === 49) await new Promise(resolve => setImmediate(resolve))
    }
    await Promise.race([Promise.all(done), new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`${setup}: readers did not receive every op in 120 s`)), 120_000))])
    const cpu1 = relays.reduce((a, r) => a + cpuMicros(r.pid), 0)
    lat.sort((a, b) => a - b)
    const pct = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN
    return {
      setup, paceMs: o.paceMs, p50Ms: pct(0.5), p99Ms: pct(0.99),
      deliveredPerS: (o.readers * o.ops) / ((lastAt - t0) / 1000),
      relayCpuUsPerOp: (cpu1 - cpu0) / o.ops
    }
  } finally {
    for (const c of clients) await c.destroy().catch(() => {})
  }
}

/** Runs the three set-ups, paced and full speed; undefined (with a note) without PostgreSQL binaries. */
export async function pgFanout (runs: readonly PgFanoutOptions[], note: (line: string) => void): Promise<PgFanoutRow[] | undefined> {
  if (pgBinDir() === undefined) {
    note('pg-fanout: skipped, no PostgreSQL server binaries (apt-get install -y postgresql)')
    return undefined
  }
  let cluster: PgCluster | undefined
  const rows: PgFanoutRow[] = []
  try {
    cluster = await startPgCluster()
    for (const o of runs) {
      const one = await relay([])
      try { rows.push(await measure('sqlite-1', [one], o)) } finally { await one.stop() }
      for (const k of [1, 2] as const) {
        const url = await cluster.createDatabase(`bench_${k}_${o.paceMs}_${Date.now()}`)
        const rs: Array<BenchServer & { dir: string }> = []
        try {
          for (let i = 0; i < k; i++) rs.push(await relay(['--pg', url]))
          rows.push(await measure(k === 1 ? 'pg-1' : 'pg-2', rs, o))
        } finally {
          for (const r of rs) await r.stop()
        }
      }
      note(`pg-fanout: pace ${o.paceMs} ms done`)
    }
  } finally {
    await cluster?.destroy()
  }
  return rows
}

export function pgFanoutTable (rows: readonly PgFanoutRow[]): string {
  const head = '| set-up | pace | p50 ms | p99 ms | delivered updates/s | relay CPU µs/op |\n|---|---|---|---|---|---|'
  const f = (x: number, d = 1): string => Number.isFinite(x) ? x.toFixed(d) : '–'
  return [head, ...rows.map(r => `| ${r.setup} | ${r.paceMs === 0 ? 'full speed' : `${r.paceMs} ms`} | ${f(r.p50Ms)} | ${f(r.p99Ms)} | ${f(r.deliveredPerS, 0)} | ${f(r.relayCpuUsPerOp, 0)} |`)].join('\n')
}
