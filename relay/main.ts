import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { getSodium } from '../shared/sodium.js'
import { createHttpHandler } from './http.js'
import { startRelay } from './server.js'
import { createSqliteStore } from './storage/sqlite.js'

/**
 * `npm run relay -- --port <p> --host <h> --data <dir> [--app <dist>] [--keep-snapshots K] [--prune-grace-ms MS]`: the relay with its embedded
 * SQLite log; with `--app` it also serves the built web app, and always the encrypted blob endpoints
 * (files under `<data>/blobs`).
 */
async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8787' },
      host: { type: 'string', default: '127.0.0.1' },
      data: { type: 'string', default: './data' },
      app: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      'keep-snapshots': { type: 'string', default: '3' },
      'prune-grace-ms': { type: 'string', default: '300000' }
    }
  })
  const keepSnapshots = Number(values['keep-snapshots'])
  const pruneGraceMs = Number(values['prune-grace-ms'])
  if (!Number.isInteger(keepSnapshots) || keepSnapshots < 1 || !Number.isInteger(pruneGraceMs) || pruneGraceMs < 0) {
    process.stderr.write('--keep-snapshots must be an integer >= 1 and --prune-grace-ms an integer >= 0\n')
    process.exit(64)
  }
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`invalid --port ${values.port}\n`)
    process.exit(64)
  }
  fs.mkdirSync(values.data, { recursive: true })
  const store = createSqliteStore(path.join(values.data, 'relay.sqlite'))
  const log = values.quiet ? (): void => {} : (line: string): void => { process.stderr.write(`${new Date().toISOString()} ${line}\n`) }
  const onRequest = createHttpHandler({
    ...(values.app === undefined ? {} : { appDir: values.app }),
    blobs: { dir: path.join(values.data, 'blobs'), store, sodium: await getSodium() },
    log
  })
  const relay = await startRelay({
    store,
    onRequest,
    host: values.host,
    port,
    keepSnapshots,
    pruneGraceMs,
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
