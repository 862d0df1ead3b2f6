import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { startRelay } from './server.js'
import { createSqliteStore } from './storage/sqlite.js'

/** `npm run relay -- --port <p> --host <h> --data <dir>`: the relay with its embedded SQLite log. */
async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8787' },
      host: { type: 'string', default: '127.0.0.1' },
      data: { type: 'string', default: './data' },
      quiet: { type: 'boolean', default: false }
    }
  })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`invalid --port ${values.port}\n`)
    process.exit(64)
  }
  fs.mkdirSync(values.data, { recursive: true })
  const store = createSqliteStore(path.join(values.data, 'relay.sqlite'))
  const relay = await startRelay({
    store,
    host: values.host,
    port,
    ...(values.quiet ? { log: () => {} } : {})
  })
  process.stdout.write(`relay listening on ${relay.url}\n`)
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
