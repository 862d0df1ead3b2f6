import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { getSodium } from '../shared/sodium.js'
import { createHttpHandler } from './http.js'
import { startRelay } from './server.js'
import { HISTORY_SPACING_MS, PRUNE_TAIL_PERCENT } from './core-limits.js'
import { createSqliteStore } from './storage/sqlite.js'
import { createPostgresStore, openPool } from './storage/postgres.js'
import { createPgBlobStore } from './blob-store/postgres.js'
import type { BlobStore } from './blob-store/port.js'
import { createPgBus } from './fanout/pg-bus.js'
import type { FanoutBus } from './fanout/port.js'
import type { LogStore } from './storage/port.js'

/**
 * `--pg postgres://…` (or `--storage postgres://…`) instead of the SQLite file: the log in
 * PostgreSQL, shared by every relay started with the same URL, which then tell each other of new
 * entries with LISTEN/NOTIFY (issue 12, README "Running several relays"). The schema is created or
 * migrated at start.
 *
 * `npm run relay -- --port <p> --host <h> --data <dir> [--app <dist>] [--keep-snapshots K] [--prune-grace-ms MS]
 * [quota and limit flags, see FLAGS]`: the relay with its embedded SQLite log; with `--app` it also
 * serves the built web app, and always the encrypted blob endpoints (files under `<data>/blobs`).
 *
 * The port is `--port`, else the `PORT` environment variable (what hosting platforms set), else
 * 8787. Given twice (`npm start -- --port 9000` appends to the start script's flags), the last wins.
 */

/**
 * Quotas and limits (issue 8): what one space may make the relay store, and how many spaces one
 * connection and one address may create. Integers; the defaults suit a relay for a few hundred
 * people. Behind a reverse proxy every client has the proxy's address: raise the per-address ones.
 */
const FLAGS = {
  'max-log-bytes': { default: 512 * 1024 * 1024, min: 1, what: 'update-log bytes one space may hold (pruning frees them)' },
  'prune-tail-percent': { default: PRUNE_TAIL_PERCENT, min: 0, what: 'newest log entries kept under a pruned snapshot, in percent of its size: a member back soon reads them, not the snapshot' },
  'history-spacing-ms': { default: HISTORY_SPACING_MS, min: 0, what: 'history keeps one older snapshot per period this long (0: the newest --keep-snapshots)' },
  'max-members': { default: 500, min: 1, what: 'devices with a member record one space may have' },
  'max-blob-bytes': { default: 4 * 1024 * 1024 * 1024, min: 0, what: 'bytes of file blobs one space may hold' },
  'max-blobs': { default: 10_000, min: 0, what: 'file blobs one space may hold' },
  'max-blob-size': { default: 2 * 1024 * 1024 * 1024, min: 1, what: 'bytes of one file blob' },
  'creates-per-connection': { default: 32, min: 0, what: 'spaces one connection may create' },
  'creates-per-ip': { default: 64, min: 0, what: 'spaces one address (IPv6: /64) may create at once (token bucket size)' },
  'creates-per-ip-hour': { default: 60, min: 0, what: 'spaces one address may create per hour once its bucket is empty (refill rate)' }
} as const
type Flag = keyof typeof FLAGS
async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: process.env.PORT ?? '8787' },
      host: { type: 'string', default: '127.0.0.1' },
      data: { type: 'string', default: './data' },
      pg: { type: 'string' },
      storage: { type: 'string' },
      'pg-schema': { type: 'string', default: 'public' },
      'poll-ms': { type: 'string', default: '1000' },
      app: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      'keep-snapshots': { type: 'string', default: '3' },
      'prune-grace-ms': { type: 'string', default: '300000' },
      ...Object.fromEntries(Object.entries(FLAGS).map(([k, f]) => [k, { type: 'string' as const, default: String(f.default) }]))
    }
  })
  const n = {} as Record<Flag, number>
  for (const [k, f] of Object.entries(FLAGS) as [Flag, (typeof FLAGS)[Flag]][]) {
    const v = Number((values as Record<string, unknown>)[k])
    if (!Number.isSafeInteger(v) || v < f.min) {
      process.stderr.write(`--${k} must be an integer >= ${f.min} (${f.what})\n`)
      process.exit(64)
    }
    n[k] = v
  }
  const keepSnapshots = Number(values['keep-snapshots'])
  const pruneGraceMs = Number(values['prune-grace-ms'])
  if (!Number.isInteger(keepSnapshots) || keepSnapshots < 1 || !Number.isInteger(pruneGraceMs) || pruneGraceMs < 0) {
    process.stderr.write('--keep-snapshots must be an integer >= 1 and --prune-grace-ms an integer >= 0\n')
    process.exit(64)
  }
  const port = Number(values.port)
  if (values.port.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`invalid --port (or PORT) ${values.port}: an integer from 0 to 65535\n`)
    process.exit(64)
  }
  fs.mkdirSync(values.data, { recursive: true })
  const log = values.quiet ? (): void => {} : (line: string): void => { process.stderr.write(`${new Date().toISOString()} ${line}\n`) }
  const pgUrl = values.pg ?? (values.storage !== undefined && /^postgres(ql)?:\/\//.test(values.storage) ? values.storage : undefined)
  if (values.storage !== undefined && pgUrl === undefined) {
    process.stderr.write('--storage takes a postgres:// URL (SQLite is the default: use --data <dir>)\n')
    process.exit(64)
  }
  const pollMs = Number(values['poll-ms'])
  if (!Number.isInteger(pollMs) || pollMs < 10) {
    process.stderr.write('--poll-ms must be an integer >= 10\n')
    process.exit(64)
  }
  let store: LogStore
  let bus: FanoutBus | undefined
  let blobStore: BlobStore | undefined
  if (pgUrl !== undefined) {
    store = await createPostgresStore({ connectionString: pgUrl, schema: values['pg-schema'], log })
    // Files too: k relays need nothing but the database.
    blobStore = createPgBlobStore(await openPool({ connectionString: pgUrl, schema: values['pg-schema'], max: 4, log }))
    bus = await createPgBus({ connectionString: pgUrl, channel: `cove_${values['pg-schema']}`, log })
  } else {
    store = createSqliteStore(path.join(values.data, 'relay.sqlite'))
  }
  const onRequest = createHttpHandler({
    ...(values.app === undefined ? {} : { appDir: values.app }),
    blobs: {
      dir: path.join(values.data, 'blobs'), ...(blobStore === undefined ? {} : { blobStore }), store, sodium: await getSodium(), maxBytes: n['max-blob-size'],
      quota: { maxBytes: n['max-blob-bytes'], maxCount: n['max-blobs'] }
    },
    log
  })
  const relay = await startRelay({
    store,
    ...(bus === undefined ? {} : { bus, pollMs }),
    onRequest,
    host: values.host,
    port,
    keepSnapshots,
    historySpacingMs: n['history-spacing-ms'],
    pruneGraceMs,
    maxLogBytes: n['max-log-bytes'],
    maxMembers: n['max-members'],
    pruneTailPercent: n['prune-tail-percent'],
    createLimits: { perConnection: n['creates-per-connection'], perAddress: { burst: n['creates-per-ip'], perHour: n['creates-per-ip-hour'] } },
    ...(values.quiet ? { log: () => {} } : {})
  })
  process.stdout.write(`relay listening on ${relay.url}\n`)
  if (values.app !== undefined) process.stdout.write(`web app on ${relay.url.replace(/^ws/, 'http')}/\n`)
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    process.stderr.write(`relay: ${signal}, shutting down\n`)
    relay.close().then(() => process.exit(0), e => {
      process.stderr.write(`relay: error while closing: ${String(e)}\n`)
      process.exit(1)
    })
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

main().catch(e => {
  process.stderr.write(`relay failed to start: ${e instanceof Error ? e.message : String(e)}\n`)
  process.exit(1)
})
