/**
 * Receipt overhead (issue 8, "Numbers for the closing note"): what receipts cost a member per
 * minute on the wire and the relay in CPU, while the space is idle and while one member types.
 *
 * The real relay runs in its own process (bench/cove.ts); `members` real clients join one space
 * from this process. Each run is made twice, with receipts on and with them off (the bench-only
 * `SpaceOptions.receipts = false`: no receipts, no read-back), on a fresh relay each; what the
 * relay spends beyond the "off" run is what receipts cost it. Relay CPU is read from
 * /proc/<pid>/task/∗/schedstat (ns), not clock ticks: receipts cost milliseconds a minute.
 *
 * **Cadence.** At the product's cadence a member sends a receipt every 30 s while what it holds
 * changes and every 150 s when idle; one receipt every 150 s is too rare to measure in a bench.
 * So every receipt timer runs `speedup` times faster (receiptMs = 30 s / speedup, withholdMs =
 * 15 s / speedup: the receipt tick, the read-back tick and the idle resend all shrink alike), the
 * counts are measured at that cadence, and the "product" rows divide what the timers drive by
 * `speedup`. Two parts do not shrink with the cadence, and are not divided:
 * - the bytes of the read-back answers (a writer fetches each of its acknowledged envelopes back
 *   once, however often it asks), so their product figure is the measured one;
 * - receipts sent after each snapshot: snapshots are off in this run (they are priced elsewhere),
 *   and each costs one extra receipt per member (a per-receipt figure is printed for that).
 * Bytes are WebSocket payload bytes, split by frame kind: `receipt` up with its answer, `receipts`
 * down, `fetchStream` up with its `entries` answer (the read-back and fetches a receipt prompts).
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { createClient, type Client } from '../client/core/client.js'
import type { Space } from '../client/core/space.js'
import { createMemorySpaceStore } from '../client/core/store.js'
import type { Connection, Transport } from '../client/core/transport.js'
import { createWsTransport, type WebSocketCtor } from '../client/core/ws-transport.js'
import * as frame from '../shared/frame.js'
import { parseLink } from '../shared/keys.js'
import { getSodium } from '../shared/sodium.js'
import { coveSystem } from './cove.js'
import { cpuMicrosPrecise } from './proc.js'
import { applyOp, finalText, loadTrace, type Op } from './trace.js'

/** Sizes of one receipt-overhead run. */
export interface ReceiptOverheadOptions {
  /** Members online in the space (all editors). */
  members: number
  idleMs: number
  typingMs: number
  /** One keystroke (trace op) every this many ms while typing: 200 ms is 5 a second, 60 wpm. */
  paceMs: number
  /** Receipt timers run this many times faster than the product's (30 s, 15 s). */
  speedup: number
}

/** The product's cadence (client/core/space.ts defaults). */
const PRODUCT_RECEIPT_MS = 30_000
const PRODUCT_WITHHOLD_MS = 15_000
/** After the warm-up, before the idle window: its receipts, read-backs and the GC that follows pass. */
const SETTLE_MS = 12_000
/** Trace ops typed (1 ms apart) before anything is counted. */
const WARMUP_OPS = 2_000

type Kind = 'receipt' | 'fetch' | 'other'
/** Frames sent, bytes up and down, receipts inside `receipts` frames, answers to our requests. */
interface Counts { frames: number; up: number; down: number; envelopes: number; answers: number }
type Tally = Record<Kind, Counts>

const zero = (): Counts => ({ frames: 0, up: 0, down: 0, envelopes: 0, answers: 0 })
const newTally = (): Tally => ({ receipt: zero(), fetch: zero(), other: zero() })

/**
 * A transport that sorts every payload byte by what it is for: receipts sent (and the relay's
 * answer to each), receipts received (`envelopes` counts the receipts inside), `fetchStream`
 * requests and their answers, everything else. Answers are matched to requests by reqId.
 */
function sortingTransport (tally: Tally): Transport & { current: Connection | undefined } {
  const inner = createWsTransport(WebSocket as unknown as WebSocketCtor)
  const asked = new Map<number, Kind>()
  const t = {
    current: undefined as Connection | undefined,
    connect (url: string, h: Parameters<Transport['connect']>[1]): Connection {
      const c = inner.connect(url, {
        ...h,
        onMessage: data => {
          const f = frame.readFrame(data)
          let kind: Kind = 'other'
          if (f.ok && f.value.type === 'receipts') {
            kind = 'receipt'
            tally.receipt.envelopes += f.value.envelopes.length
          } else if (f.ok && 'reqId' in f.value && f.value.reqId !== 0) {
            kind = asked.get(f.value.reqId) ?? 'other'
            if (asked.delete(f.value.reqId)) tally[kind].answers++
          }
          tally[kind].down += data.byteLength
          h.onMessage(data)
        }
      })
      const conn: Connection = {
        send (data) {
          const f = frame.readFrame(data)
          const kind: Kind = !f.ok ? 'other' : f.value.type === 'receipt' ? 'receipt' : f.value.type === 'fetchStream' ? 'fetch' : 'other'
          if (kind !== 'other' && f.ok && 'reqId' in f.value) asked.set(f.value.reqId, kind)
          tally[kind].up += data.byteLength
          if (kind !== 'other') tally[kind].frames++
          c.send(data)
        },
        close () { c.close() }
      }
      t.current = conn
      return conn
    }
  }
  return t
}

interface Member { client: Client; space: Space; tally: Tally; transport: ReturnType<typeof sortingTransport> }

function sum (members: readonly Member[]): Tally {
  const out = newTally()
  for (const m of members) {
    for (const k of ['receipt', 'fetch', 'other'] as const) {
      const a = out[k]
      const b = m.tally[k]
      a.frames += b.frames; a.up += b.up; a.down += b.down; a.envelopes += b.envelopes; a.answers += b.answers
    }
  }
  return out
}

/** What one window cost, per member per minute (relay CPU in µs, the rest in frames and bytes). */
function perMemberMinute (phase: string, t0: Tally, t1: Tally, cpu0: number, cpu1: number, ms: number, members: number): Record<string, number> {
  const per = (x: number): number => x / members / (ms / 60_000)
  const d = (k: Kind, f: keyof Counts): number => per(t1[k][f] - t0[k][f])
  return {
    [`${phase}.receiptsSent`]: d('receipt', 'frames'),
    [`${phase}.receiptsReceived`]: d('receipt', 'envelopes'),
    [`${phase}.receiptBytesUp`]: d('receipt', 'up'),
    [`${phase}.receiptBytesDown`]: d('receipt', 'down'),
    [`${phase}.fetches`]: d('fetch', 'frames'),
    [`${phase}.fetchBytesUp`]: d('fetch', 'up'),
    [`${phase}.fetchBytesDown`]: d('fetch', 'down'),
    [`${phase}.otherBytesUp`]: d('other', 'up'),
    [`${phase}.otherBytesDown`]: d('other', 'down'),
    [`${phase}.relayCpuUs`]: per(cpu1 - cpu0)
  }
}

/**
 * One run with receipts `on` or off: a fresh relay, `members` editors joined and settled, an idle
 * window, then member 0 types trace ops at `paceMs` for a window. Throws unless every member ends
 * with the typed text. Figures are per member per minute at the bench's (sped-up) cadence.
 */
export async function receiptRun (on: boolean, o: ReceiptOverheadOptions): Promise<Record<string, number>> {
  const sodium = await getSodium()
  const server = await coveSystem.startServer()
  const members: Member[] = []
  try {
    const link = parseLink(sodium, await coveSystem.createRoom(server))
    if (!link.ok) throw new Error(link.message)
    for (let i = 0; i < o.members; i++) {
      const tally = newTally()
      const transport = sortingTransport(tally)
      const client = await createClient({
        transport,
        storeFor: () => createMemorySpaceStore(),
        link: { backoffBaseMs: 5, backoffMaxMs: 20 },
        // Snapshots off: each would add one receipt per member, not a rate (see the module comment).
        space: { receipts: on, receiptMs: PRODUCT_RECEIPT_MS / o.speedup, withholdMs: PRODUCT_WITHHOLD_MS / o.speedup, snapshotEvery: 0, snapshotBytes: 2 ** 40, snapshotIdleMs: 0 }
      })
      members.push({ client, space: await client.openSpace(link.value, server.url), tally, transport })
    }
    await Promise.all(members.map(m => m.space.whenCaughtUp(30_000)))
    // A fresh relay compiles its hot paths on background threads for a while: warm them (appends,
    // forwarding, receipts, read-back) before anything is counted, as measure.ts's fan-out does.
    const trace = loadTrace()
    const writer = members[0] as Member
    const text = writer.space.doc.getText('text')
    const warm = trace.slice(0, WARMUP_OPS)
    for (const op of warm) {
      writer.space.doc.transact(() => applyOp(text, op))
      await sleep(1)
    }
    await sleep(SETTLE_MS)

    const window = async (phase: string, during: () => Promise<void>): Promise<Record<string, number>> => {
      const t0 = sum(members)
      const cpu0 = cpuMicrosPrecise(server.pid)
      const start = performance.now()
      await during()
      const ms = performance.now() - start
      return perMemberMinute(phase, t0, sum(members), cpu0, cpuMicrosPrecise(server.pid), ms, o.members)
    }
    const idle = await window('idle', () => sleep(o.idleMs))
    const ops = trace.slice(WARMUP_OPS, WARMUP_OPS + Math.floor(o.typingMs / o.paceMs))
    const typing = await window('typing', async () => {
      const start = performance.now()
      for (let i = 0; i < ops.length; i++) {
        const wait = start + i * o.paceMs - performance.now()
        if (wait > 0) await sleep(wait)
        writer.space.doc.transact(() => applyOp(text, ops[i] as Op))
      }
      await sleep(start + o.typingMs - performance.now())
    })
    const expected = finalText([...warm, ...ops])
    for (const [i, m] of members.entries()) {
      const got = m.space.doc.getText('text').toString()
      if (got !== expected) throw new Error(`member ${i} diverged: ${got.length} chars, expected ${expected.length}`)
      if (on && m.space.receipts.stats.received === 0) throw new Error(`member ${i} received no receipt`)
    }
    return { ...idle, ...typing, ...(on ? { relayCpuUsPerReceipt: await burst(members, server.pid) } : {}) }
  } finally {
    await Promise.all(members.map(m => m.client.close()))
    await server.stop()
  }
}

/** Receipts each member sends back to back in {@link burst}. */
const BURST = 100

/**
 * Relay CPU per receipt, measured where the relay does little else: every member sends `BURST`
 * receipts sealed by its session (`Receipts.make`, as its timer would) back to back, and the
 * relay's CPU until it has answered them all is divided by their number. It includes storing each
 * (SQLite, fsync) and forwarding it to the other members. A cross-check of the on − off windows,
 * whose difference is small beside the relay's own background (GC, timers).
 */
async function burst (members: readonly Member[], pid: number): Promise<number> {
  const answered = (): number => members.reduce((n, m) => n + m.tally.receipt.answers, 0)
  const target = answered() + members.length * BURST
  const cpu0 = cpuMicrosPrecise(pid)
  for (const m of members) {
    for (let i = 0; i < BURST; i++) {
      const f = m.space.receipts.make()
      if (f === undefined || m.transport.current === undefined) throw new Error('a member cannot send receipts')
      m.transport.current.send(frame.writeFrame(f))
    }
  }
  const deadline = performance.now() + 60_000
  while (answered() < target) {
    if (performance.now() > deadline) throw new Error(`the relay answered ${target - answered()} receipts too few`)
    await sleep(5)
  }
  return (cpuMicrosPrecise(pid) - cpu0) / (members.length * BURST)
}

type Numbers = Record<string, number>

/** Median of each field over runs. */
function medians (runs: readonly Numbers[]): Numbers {
  const out: Numbers = {}
  for (const k of Object.keys(runs[0] ?? {})) {
    const s = runs.map(r => r[k] ?? Number.NaN).sort((a, b) => a - b)
    const m = Math.floor(s.length / 2)
    out[k] = s.length % 2 === 1 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2
  }
  return out
}

/** Result of {@link receiptOverhead}: medians of the on and off runs, the runs, and the report rows. */
export interface ReceiptOverheadResult {
  options: ReceiptOverheadOptions
  on: Numbers
  off: Numbers
  runs: { on: Numbers[]; off: Numbers[] }
  /** Per member per minute, by phase and cadence (see {@link receiptRows}). */
  rows: Record<string, Numbers>
}

/**
 * Runs `reps` pairs (on, off, interleaved so machine load hits both alike) and reports medians.
 * `log` gets a line per run.
 */
export async function receiptOverhead (o: ReceiptOverheadOptions, reps: number, log: (line: string) => void = () => {}): Promise<ReceiptOverheadResult> {
  const runs = { on: [] as Numbers[], off: [] as Numbers[] }
  for (let rep = 0; rep < reps; rep++) {
    for (const on of [true, false]) {
      const t0 = performance.now()
      const r = await receiptRun(on, o)
      runs[on ? 'on' : 'off'].push(r)
      log(`  receipts-${on ? 'on' : 'off'} rep ${rep + 1}/${reps}: ${((performance.now() - t0) / 1000).toFixed(1)} s relay CPU idle ${fmt(r['idle.relayCpuUs'])} µs/member/min, typing ${fmt(r['typing.relayCpuUs'])}`)
    }
  }
  const on = medians(runs.on)
  const off = medians(runs.off)
  return { options: o, on, off, runs, rows: receiptRows(on, off, o.speedup) }
}

/**
 * The report: per phase, at the bench's cadence (measured) and at the product's (what the timers
 * drive divided by `speedup`; read-back answer bytes kept whole, see the module comment). Relay CPU
 * twice: receipts sent × the relay's CPU per receipt from the burst (precise, receipts only), and
 * the "on" windows' minus the "off" windows' (everything receipts cause, read-back included, but
 * small beside the relay's own background of GC and timers: a negative median is noise).
 */
export function receiptRows (on: Numbers, off: Numbers, speedup: number): Record<string, Numbers> {
  const rows: Record<string, Numbers> = {}
  const perReceipt = on.relayCpuUsPerReceipt ?? Number.NaN
  for (const phase of ['idle', 'typing']) {
    const g = (k: string): number => on[`${phase}.${k}`] ?? Number.NaN
    const bench: Numbers = {
      receiptsSent: g('receiptsSent'),
      receiptsReceived: g('receiptsReceived'),
      receiptBytesUp: g('receiptBytesUp'),
      receiptBytesDown: g('receiptBytesDown'),
      fetches: g('fetches'),
      fetchBytesUp: g('fetchBytesUp'),
      fetchBytesDown: g('fetchBytesDown'),
      relayCpuReceipts: g('receiptsSent') * perReceipt,
      relayCpuOnOff: g('relayCpuUs') - (off[`${phase}.relayCpuUs`] ?? Number.NaN),
      otherBytes: g('otherBytesUp') + g('otherBytesDown')
    }
    rows[`${phase}, bench cadence`] = bench
    rows[`${phase}, product cadence`] = {
      ...Object.fromEntries(Object.entries(bench).map(([k, v]) => [k, v / speedup])),
      fetchBytesDown: bench.fetchBytesDown ?? Number.NaN,
      otherBytes: bench.otherBytes ?? Number.NaN
    }
  }
  return rows
}

function fmt (v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '—'
  const a = Math.abs(v)
  return a >= 1000 ? Math.round(v).toLocaleString('en-US') : a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2)
}

/** The receipt-overhead table `npm run bench` prints. */
export function receiptTable (r: ReceiptOverheadResult): string {
  const cols: Array<[string, string]> = [
    ['receipts sent', 'receiptsSent'], ['receipts recv', 'receiptsReceived'],
    ['receipt B up', 'receiptBytesUp'], ['receipt B down', 'receiptBytesDown'],
    ['fetches', 'fetches'], ['fetch B up', 'fetchBytesUp'], ['fetch B down', 'fetchBytesDown'],
    ['relay CPU µs receipts', 'relayCpuReceipts'], ['relay CPU µs on−off', 'relayCpuOnOff'], ['other B (updates…)', 'otherBytes']
  ]
  const o = r.options
  const header = ['per member per minute', ...cols.map(c => c[0])]
  const body = Object.entries(r.rows).map(([name, row]) => [name, ...cols.map(c => fmt(row[c[1]]))])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map(b => (b[i] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((c, i) => i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)).join(' | ')
  return [
    `receipt overhead: ${o.members} editors, idle ${o.idleMs / 1000} s, then one types a trace op every ${o.paceMs} ms for ${o.typingMs / 1000} s (medians)`,
    `relay CPU per receipt (stored, forwarded to ${o.members - 1}): ${fmt(r.on.relayCpuUsPerReceipt)} µs (burst of ${BURST} per member); "receipts" = sent × that, "on−off" = windows with receipts on minus off`,
    `bench cadence: receipt timers ${o.speedup}× the product's (receiptMs ${PRODUCT_RECEIPT_MS / o.speedup}, withholdMs ${PRODUCT_WITHHOLD_MS / o.speedup});` +
      ` product cadence = bench ÷ ${o.speedup}, except fetch B down (read-back returns each own envelope once at any cadence)`,
    `snapshots were off; each snapshot adds one receipt per member: ${fmt(perReceipt(r, 'receiptBytesUp'))} B up, and ${fmt(perReceipt(r, 'receiptBytesDown'))} B down per other member`,
    line(header), widths.map(w => '-'.repeat(w)).join('-|-'), ...body.map(line)
  ].join('\n')
}

/** Bytes of one receipt sent (with its answer) or received, from the typing window. */
function perReceipt (r: ReceiptOverheadResult, key: 'receiptBytesUp' | 'receiptBytesDown'): number {
  const count = key === 'receiptBytesUp' ? r.on['typing.receiptsSent'] : r.on['typing.receiptsReceived']
  return (r.on[`typing.${key}`] ?? Number.NaN) / (count ?? Number.NaN)
}
