import { afterAll, beforeAll } from 'vitest'
import { createPgBlobStore } from '../../relay/blob-store/postgres.js'
import { createPostgresStore, openPool } from '../../relay/storage/postgres.js'
import type { LogStore } from '../../relay/storage/port.js'
import { startPgCluster, type PgCluster } from '../support/pg.js'
import { runLogStoreContract } from './storage-contract.js'
import { runConcurrentAppendCase } from './storage-postgres-concurrency.js'
import { runBlobStoreContract } from './blob-store-contract.js'

/** The contract suites (log, blobs) against a real PostgreSQL server (one cluster for the file, a fresh schema per case). */
let cluster: PgCluster
beforeAll(async () => { cluster = await startPgCluster() }, 120_000)
afterAll(async () => { await cluster?.destroy() })

let n = 0
runLogStoreContract('postgres', async () => {
  const schema = `t${process.pid}_${n++}`
  const opened: LogStore[] = []
  const open = async (): Promise<LogStore> => {
    const s = await createPostgresStore({ connectionString: cluster.url(), schema })
    opened.push(s)
    return s
  }
  return {
    store: await open(),
    reopen: open,
    cleanup: async () => { for (const s of opened) await s.close() }
  }
})

runConcurrentAppendCase(() => cluster)

runBlobStoreContract('postgres', async () => {
  const pool = await openPool({ connectionString: cluster.url(), schema: `b${process.pid}_${n++}`, max: 4 })
  return { store: createPgBlobStore(pool), cleanup: async () => { await pool.end() } }
})
