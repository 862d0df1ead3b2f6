import { execFile, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePort } from './proc.js'

/**
 * A throw-away PostgreSQL cluster for the tests that need a real server (issue 12): `initdb` into a
 * temp dir, `pg_ctl start` on a free 127.0.0.1 port with its unix socket in that dir, stopped with
 * `-m immediate` and removed afterwards. One per test file (initdb costs about a second).
 *
 * `fsync` and `synchronous_commit` stay on: the tests check "acked means durable", so the server
 * must be as durable as a production one. PostgreSQL refuses to run as root; when the tests run as
 * root the cluster belongs to the `postgres` system user (created by the Debian package) and the
 * binaries are run through `runuser`.
 */
const run = promisify(execFile)

export interface PgCluster {
  readonly port: number
  readonly dir: string
  /** A connection string for `database` (default `postgres`). */
  url (database?: string): string
  /** A fresh, empty database; returns its connection string. */
  createDatabase (name: string): Promise<string>
  /** Stops the server at once (an outage: clients see their connections reset). */
  stopServer (): Promise<void>
  /** Starts it again on the same port and data. */
  startServer (): Promise<void>
  /** Stops the server and removes the cluster. */
  destroy (): Promise<void>
}

/** The directory holding `initdb` and `pg_ctl`: PG_BIN, else the newest `/usr/lib/postgresql/<v>/bin`. */
export function pgBinDir (): string | undefined {
  const env = process.env.PG_BIN
  if (env !== undefined && fs.existsSync(path.join(env, 'initdb'))) return env
  const root = '/usr/lib/postgresql'
  if (!fs.existsSync(root)) return undefined
  const versions = fs.readdirSync(root).filter(v => fs.existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : path.join(root, versions[0], 'bin')
}

/** Throws the message CI and people need when the server binaries are missing (tests must not skip silently). */
export function requirePgBin (): string {
  const bin = pgBinDir()
  if (bin === undefined) throw new Error('PostgreSQL server binaries not found (initdb, pg_ctl): install them with `apt-get install -y postgresql` (or set PG_BIN)')
  return bin
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0

async function pgRun (bin: string, tool: string, args: string[]): Promise<void> {
  const exe = path.join(bin, tool)
  if (asRoot) await run('runuser', ['-u', 'postgres', '--', exe, ...args], { timeout: 60_000 })
  else await run(exe, args, { timeout: 60_000 })
}

export async function startPgCluster (): Promise<PgCluster> {
  const bin = requirePgBin()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cove-pg-'))
  if (asRoot) {
    fs.chmodSync(dir, 0o700)
    await run('chown', ['postgres:postgres', dir])
  }
  const data = path.join(dir, 'data')
  const port = await freePort()
  await pgRun(bin, 'initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-instructions'])
  const opts = [`-p ${port}`, `-k ${dir}`, "-c listen_addresses='127.0.0.1'", '-c max_connections=200', '-c fsync=on', '-c synchronous_commit=on'].join(' ')
  const startServer = (): Promise<void> => pgRun(bin, 'pg_ctl', ['-D', data, '-o', opts, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start'])
  const stopServer = (): Promise<void> => pgRun(bin, 'pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
  await startServer()
  live.add(data)
  const url = (database = 'postgres'): string => `postgres://postgres@127.0.0.1:${port}/${database}`
  return {
    port,
    dir,
    url,
    async createDatabase (name) {
      const c = new pg.Client({ connectionString: url() })
      await c.connect()
      try {
        await c.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`)
      } finally {
        await c.end()
      }
      return url(name)
    },
    stopServer,
    startServer,
    async destroy () {
      live.delete(data)
      await stopServer().catch(() => {})
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Clusters still running when the test process exits (a failed test) are stopped, each by its own data dir. */
const live = new Set<string>()
process.once('exit', () => {
  const bin = pgBinDir()
  if (bin === undefined) return
  for (const data of live) {
    try {
      const args = ['-D', data, '-m', 'immediate', 'stop']
      // Synchronous on exit: nothing async runs any more.
      if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, 'pg_ctl'), ...args], { stdio: 'ignore' })
      else execFileSync(path.join(bin, 'pg_ctl'), args, { stdio: 'ignore' })
    } catch { /* already gone */ }
  }
})
