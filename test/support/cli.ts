import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll } from 'vitest'

/**
 * Real `cove` and relay processes for tests about processes (several CLIs on one $COVE_HOME, a
 * copied or restored home, a long-running `watch`).
 *
 * Spawning `node --import tsx client/cli/main.ts` costs ~0.7 s of CPU per command on the 2-core
 * machine, most of it tsx compiling the tree again in every process. `bundleCli()` compiles the
 * CLI once per test file with esbuild (which tsx itself uses) into one ESM file that imports its
 * npm dependencies from node_modules as usual; a command then starts in ~0.2 s. It is the same
 * source, only transpiled ahead of time: if esbuild cannot be loaded the tests fall back to tsx.
 */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLI_SOURCE = 'client/cli/main.ts'

export interface CliRunner {
  /** argv for `node` that runs the CLI: [script] or ['--import', 'tsx', script]. */
  readonly argv: readonly string[]
  readonly how: 'bundled' | 'tsx'
  dispose (): void
}

export async function bundleCli (): Promise<CliRunner> {
  try {
    const esbuild = await import('esbuild')
    // Inside the repo's node_modules so that bare imports (ws, yjs, libsodium) resolve from there;
    // a unique name per process, since test files run in parallel workers.
    const dir = path.join(ROOT, 'node_modules', '.cache', 'cove-test')
    fs.mkdirSync(dir, { recursive: true })
    const out = path.join(dir, `cli-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}.mjs`)
    await esbuild.build({ entryPoints: [path.join(ROOT, CLI_SOURCE)], bundle: true, platform: 'node', format: 'esm', packages: 'external', target: 'node20', outfile: out, logLevel: 'silent' })
    return { argv: [out], how: 'bundled', dispose: () => fs.rmSync(out, { force: true }) }
  } catch {
    return { argv: ['--import', 'tsx', CLI_SOURCE], how: 'tsx', dispose: () => {} }
  }
}

export interface Run { readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly stdout: string; readonly stderr: string; readonly ms: number }

/** Runs one `cove` command as the device whose state is in `home`; resolves when it exits. */
export function cove (cli: CliRunner, home: string, args: readonly string[], opts: { stdin?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const t0 = Date.now()
  const child = spawn(process.execPath, [...cli.argv, ...args], { cwd: ROOT, env: { ...process.env, ...opts.env, COVE_HOME: home }, stdio: 'pipe' })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.stdin.end(opts.stdin ?? '')
  const timeoutMs = opts.timeoutMs ?? 30_000
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`cove ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.on('error', e => { clearTimeout(timer); reject(e) })
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 }) })
  })
}

/** A long-running `cove` process (e.g. `watch`) whose output is collected as it comes. */
export interface LongRun {
  readonly child: ChildProcessWithoutNullStreams
  readonly out: { stdout: string; stderr: string }
  readonly running: boolean
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stop (signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export function startCove (cli: CliRunner, home: string, args: readonly string[]): LongRun {
  const child = spawn(process.execPath, [...cli.argv, ...args], { cwd: ROOT, env: { ...process.env, COVE_HOME: home }, stdio: 'pipe' })
  const out = { stdout: '', stderr: '' }
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out.stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out.stderr += d })
  child.stdin.end()
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve => child.on('close', (code, signal) => resolve({ code, signal })))
  return {
    child,
    out,
    get running () { return child.exitCode === null && child.signalCode === null },
    exited,
    async stop (signal: NodeJS.Signals = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      const r = await exited
      clearTimeout(timer)
      return r
    }
  }
}

/** The relay as a child process on 127.0.0.1 (port 0), with its whole log kept. */
export interface RelayChild {
  readonly url: string
  readonly dir: string
  /** Everything the relay wrote to stderr (its log). */
  log (): string
  /** Connections the relay accepted so far (from its `peer N connected` log lines). */
  connections (): number
  stop (): Promise<void>
}

export async function startRelayChild (dir: string, extraArgs: readonly string[] = []): Promise<RelayChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'relay/main.ts', '--port', '0', '--host', '127.0.0.1', '--data', dir, ...extraArgs], { cwd: ROOT, stdio: 'pipe' })
  let log = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { log += d })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  // A failing test must not leave the relay behind.
  const kill = (): void => { child.kill('SIGKILL') }
  process.once('exit', kill)
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`relay did not start: ${out} ${log}`)) }, 30_000)
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const m = /relay listening on (ws:\/\/\S+)/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m[1]!) }
    })
    void exited.then(() => { clearTimeout(timer); reject(new Error(`relay exited before listening: ${log}`)) })
  })
  return {
    url,
    dir,
    log: () => log,
    connections: () => (log.match(/peer \d+ connected/g) ?? []).length,
    async stop () {
      process.removeListener('exit', kill)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
  }
}

/** One test file's world: the bundled CLI, a relay child, and temporary homes removed afterwards. */
export interface CliWorld {
  /** Set before the file's tests run. */
  cli: CliRunner
  relay: RelayChild
  /** A fresh temporary directory, removed after the file's tests. */
  dir (prefix: string): string
}

/** Registers the set-up and tear-down of a {@link CliWorld} in the calling test file. */
export function useCliWorld (relayPrefix: string, tempDir: (prefix: string) => string): CliWorld {
  const dirs: string[] = []
  const w = {
    dir (prefix: string): string {
      const d = tempDir(prefix)
      dirs.push(d)
      return d
    }
  } as CliWorld
  beforeAll(async () => {
    w.cli = await bundleCli()
    w.relay = await startRelayChild(w.dir(relayPrefix))
  }, 60_000)
  afterAll(async () => {
    await w.relay?.stop()
    w.cli?.dispose()
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
  })
  return w
}
