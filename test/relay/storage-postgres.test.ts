import { afterAll, beforeAll } from 'vitest'
import { createPostgresStore } from '../../relay/storage/postgres.js'
import type { LogStore } from '../../relay/storage/port.js'
import { startPgCluster, type PgCluster } from '../support/pg.js'
import { runLogStoreContract } from './storage-contract.js'
import { runConcurrentAppendCase } from './storage-postgres-concurrency.js'

/** The contract suite against a real PostgreSQL server (one cluster for the file, a fresh schema per case). */
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
