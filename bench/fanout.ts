/**
 * Cove's fan-out runs alone (measure.ts `fanout`, the same code `npm run bench` runs), so two
 * checkouts can be alternated run by run on a busy machine instead of comparing two 10-minute runs
 * made under different load. Besides the latencies it reports this process's CPU time per op (the
 * writer's and every reader's work: sealing, verifying, decrypting, applying; it includes the
 * 2,000-op warm-up and the connects), which other load on the machine disturbs far less than latency.
 *
 *   npx tsx bench/fanout.ts [--runs paced:10,paced:50,full:10,full:50] [--json FILE]
 */
import { writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { coveSystem } from './cove.js'
import { fanout } from './measure.js'

const PACED_OPS = 5_000
const FULL_OPS = 20_000
const PACE_MS = 2

function parseArgs (argv: readonly string[]): { runs: Array<{ mode: 'paced' | 'full', readers: number }>, json: string | undefined } {
  let spec = 'paced:10,paced:50,full:10,full:50'
  let json: string | undefined
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs' && argv[i + 1] !== undefined) spec = argv[++i] as string
    else if (argv[i] === '--json' && argv[i + 1] !== undefined) json = argv[++i]
    else throw new Error(`unknown argument ${argv[i] ?? ''}; usage: tsx bench/fanout.ts [--runs paced:10,full:50] [--json FILE]`)
  }
  const runs = spec.split(',').map(s => {
    const [mode, n] = s.split(':')
    if (mode !== 'paced' && mode !== 'full') throw new Error(`bad run ${s}`)
    return { mode, readers: Number(n) } as const
  })
  return { runs, json }
}

async function main (): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const out: Array<Record<string, number | string>> = []
  for (const r of args.runs) {
    const ops = r.mode === 'paced' ? PACED_OPS : FULL_OPS
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    const res = await fanout(coveSystem, { readers: r.readers, ops, paceMs: r.mode === 'paced' ? PACE_MS : 0 })
    const cpu = process.cpuUsage(c0)
    const row = { run: `${r.mode}-N${r.readers}`, ...res, clientCpuUsPerOp: (cpu.user + cpu.system) / ops, wallS: (performance.now() - t0) / 1000 }
    out.push(row)
    console.log(JSON.stringify(row))
  }
  if (args.json !== undefined) writeFileSync(args.json, JSON.stringify(out, null, 2) + '\n')
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1) })
