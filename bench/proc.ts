/**
 * Child-process helpers shared by every BenchSystem: a server runs in its own process so that its
 * CPU time and memory can be read from /proc without counting the benchmark's clients.
 */
import { execFileSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import net from 'node:net'
import type { BenchServer } from './system.js'

let clockTicks: number | undefined

/** Kernel clock ticks per second (`getconf CLK_TCK`), the unit of utime/stime in /proc/<pid>/stat. */
export function clockTicksPerSecond (): number {
  if (clockTicks === undefined) {
    try {
      const n = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10)
      clockTicks = Number.isFinite(n) && n > 0 ? n : 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/**
 * User + system CPU time consumed so far by process `pid`, in microseconds. Resolution is one
 * clock tick (10 ms at CLK_TCK=100), so measure over long enough intervals.
 */
export function cpuMicros (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may contain spaces, so split only what follows its closing paren;
  // that part starts at field 3 (state), which puts utime (field 14) at 11 and stime (15) at 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  if (!Number.isFinite(ticks)) throw new Error(`cannot parse /proc/${pid}/stat`)
  return ticks * 1e6 / clockTicksPerSecond()
}

/**
 * CPU time consumed so far by every thread of process `pid`, in microseconds, from
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds of run time): fine enough to price work of a few
 * milliseconds a minute (receipts), where `cpuMicros` moves in 10 ms ticks. Time of threads that
 * already exited is not counted (a relay's threads live as long as it does). Falls back to
 * `cpuMicros` on kernels without schedstat.
 */
export function cpuMicrosPrecise (pid: number): number {
  let tasks: string[]
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return cpuMicros(pid)
  }
  let ns = 0
  for (const tid of tasks) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // The thread exited between the listing and the read; schedstat missing altogether is caught below.
    }
  }
  return Number.isFinite(ns) && ns > 0 ? ns / 1000 : cpuMicros(pid)
}

/** Resident set size of process `pid` in bytes (VmRSS from /proc/<pid>/status). */
export function rssBytes (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)
  if (match?.[1] === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`)
  return Number(match[1]) * 1024
}

/** A TCP port that was free a moment ago (listen on port 0, read it, close). */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, resolve)
  })
  const address = server.address()
  await new Promise<void>(resolve => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port assigned')
  return address.port
}

function canConnect (host: string, port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = net.connect(port, host)
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { socket.destroy(); resolve(false) })
  })
}

/** Options for {@link spawnServer}. */
export interface SpawnServerOptions {
  /** Executable and arguments, e.g. `[process.execPath, 'path/to/server.js']`. */
  command: readonly [string, ...string[]]
  /** Extra environment variables (merged over the current environment). */
  env?: Record<string, string>
  /** Where the server listens; `url` is derived from these. */
  host: string
  port: number
  /** Scheme + host + port the clients use; defaults to `ws://host:port`. */
  url?: string
  /** How long to wait for the port to accept connections. */
  startTimeoutMs?: number
}

/**
 * Spawns a server process and resolves once its port accepts TCP connections. The process is
 * killed if this process exits first, so a crashed benchmark leaves no server behind.
 */
export async function spawnServer (opts: SpawnServerOptions): Promise<BenchServer> {
  const [file, ...args] = opts.command
  const child = spawn(file, args, {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderrTail = ''
  child.stdout.resume()
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderrTail = (stderrTail + chunk).slice(-4000) })
  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.on('exit', killOnExit)
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  const pid = child.pid
  if (pid === undefined) throw new Error(`cannot spawn ${file}`)

  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit)
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    }
  }

  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000)
  while (!(await canConnect(opts.host, opts.port))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop()
      throw new Error(`server ${args.join(' ')} did not start on ${opts.host}:${opts.port}\n${stderrTail}`)
    }
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  return { url: opts.url ?? `ws://${opts.host}:${opts.port}`, pid, stop }
}

/** Bytes of every regular file under `dir` (recursively): a store's data directory on disk. */
export function dirBytes (dir: string): number {
  let n = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) n += dirBytes(p)
    else if (e.isFile()) n += statSync(p).size
  }
  return n
}
