import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

/**
 * The relay as a real child process (`node --import tsx relay/main.ts`), for tests that kill it
 * with SIGKILL and start it again on the same port and data directory.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface RelayProcess {
  readonly url: string
  readonly port: number
  readonly dir: string
  readonly child: ChildProcess
  /** Resolves when the process has exited (code, or the signal that ended it). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** The last few KB of the relay's stderr, for failure messages. */
  stderrTail (): string
  /** Sends a signal and waits until the process is gone. */
  kill (signal?: NodeJS.Signals): Promise<void>
}

const live = new Set<ChildProcess>()
let exitHookInstalled = false
function track (child: ChildProcess): void {
  live.add(child)
  child.once('exit', () => live.delete(child))
  if (!exitHookInstalled) {
    exitHookInstalled = true
    // A failing test must not leave relays behind: kill exactly the children this module started.
    process.once('exit', () => { for (const c of live) c.kill('SIGKILL') })
  }
}

function canListen (port: number, host: string): Promise<boolean> {
  return new Promise(resolve => {
    const srv = net.createServer()
    srv.once('error', () => resolve(false))
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)))
  })
}

/**
 * A port that is free now, chosen below the kernel's ephemeral range (32768–60999 on Linux) so that
 * while the relay is down no outgoing connection or `listen(0)` of a parallel test is handed it.
 */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (await canListen(port, host)) return port
  }
  throw new Error('no free port found')
}

export interface SpawnRelayOptions {
  readonly port: number
  readonly dir: string
  readonly host?: string
  readonly timeoutMs?: number
  readonly extraArgs?: readonly string[]
  /** Flags for node itself (before the script), e.g. GC settings for memory measurements. */
  readonly nodeArgs?: readonly string[]
}

/**
 * Starts `relay/main.ts` and resolves once it printed `relay listening on ws://…`.
 * Retries a few times when the port is briefly still taken (EADDRINUSE) after a kill.
 */
export async function spawnRelay (opts: SpawnRelayOptions): Promise<RelayProcess> {
  let lastErr: unknown
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      return await spawnOnce(opts)
    } catch (e) {
      lastErr = e
      if (!(e instanceof Error) || !e.message.includes('EADDRINUSE')) throw e
      await new Promise(resolve => setTimeout(resolve, 100 * (attempt + 1)))
    }
  }
  throw lastErr
}

function spawnOnce (opts: SpawnRelayOptions): Promise<RelayProcess> {
  const host = opts.host ?? '127.0.0.1'
  const timeoutMs = opts.timeoutMs ?? 30_000
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', 'relay/main.ts', '--port', String(opts.port), '--host', host, '--data', opts.dir, ...(opts.extraArgs ?? [])], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  track(child)
  let stderr = ''
  let stdout = ''
  let started = false
  // Both pipes are always drained: a relay blocked on a full stderr pipe would look like a hang.
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-8192) })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  return new Promise<RelayProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`relay did not start within ${timeoutMs} ms; stderr:\n${stderr}`))
    }, timeoutMs)
    child.once('error', e => { clearTimeout(timer); reject(e) })
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`relay exited before listening (code ${String(code)}, signal ${String(signal)}); stderr:\n${stderr}`))
    })
    child.stdout!.on('data', (d: Buffer) => {
      if (started) return
      stdout += d.toString()
      const m = /relay listening on (ws:\/\/\S+)/.exec(stdout)
      if (m === null) return
      clearTimeout(timer)
      started = true
      resolve({
        url: m[1]!,
        port: opts.port,
        dir: opts.dir,
        child,
        exited,
        stderrTail: () => stderr,
        async kill (signal: NodeJS.Signals = 'SIGKILL') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal)
          await exited
        }
      })
    })
  })
}
