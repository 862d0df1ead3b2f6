import * as Y from 'yjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../client/core/client.js'
import type { RelayLink } from '../../client/core/link.js'
import type { Space } from '../../client/core/space.js'
import { createMemorySpaceStore } from '../../client/core/store.js'
import { readBatch } from '../../client/core/apply.js'
import { open } from '../../shared/envelope.js'
import { MsgType } from '../../shared/header.js'
import { deriveKeys, parseLink } from '../../shared/keys.js'
import { getSodium } from '../../shared/sodium.js'
import { createPostgresStore } from '../../relay/storage/postgres.js'
import type { LogStore } from '../../relay/storage/port.js'
import { startPgCluster, type PgCluster } from '../support/pg.js'
import { createPrng, testSeed, type Prng } from '../support/prng.js'
import { freePort, spawnRelay, type RelayProcess } from '../support/proc.js'
import { tempDir, waitFor, wsTransport } from '../support/relay.js'

/**
 * Seeded convergence across relays (issue 12): three relay PROCESSES on one real PostgreSQL,
 * clients spread over them, each knowing every relay's address. A seeded schedule edits on random
 * clients, makes random clients drop their connection (they come back through the next relay in
 * their list) and kills a random relay with SIGKILL at random moments (restarted on its port a
 * little later). At the end every replica must equal every other AND a doc rebuilt from the
 * database's log, with every write each client made present exactly once (so every acknowledged
 * one), and no alerts.
 *
 *   PG_CONVERGENCE_RUNS=200 npx vitest run test/client/convergence-pg.test.ts   a longer run
 *   SEED=123 npx vitest run test/client/convergence-pg.test.ts                  replay one schedule
 *
 * Relays stay up across runs (each run has its own space): a relay process costs a second or two
 * to start, runs cost less.
 */
const RUNS = Number(process.env.PG_CONVERGENCE_RUNS ?? 20)
const RELAYS = 3

let cluster: PgCluster
let pgUrl: string
let reader: LogStore
const relays: Array<RelayProcess | undefined> = []
const ports: number[] = []
const dirs: string[] = []
const urls = (): string[] => ports.map(p => `ws://127.0.0.1:${p}`)

const startRelayAt = async (i: number): Promise<void> => {
  relays[i] = await spawnRelay({ port: ports[i]!, dir: dirs[i]!, extraArgs: ['--pg', pgUrl, '--poll-ms', '300', '--quiet'] })
}

beforeAll(async () => {
  cluster = await startPgCluster()
  pgUrl = await cluster.createDatabase('convergence')
  for (let i = 0; i < RELAYS; i++) {
    ports.push(await freePort())
    dirs.push(tempDir('cove-pgconv-'))
  }
  await Promise.all(ports.map((_, i) => startRelayAt(i)))
  reader = await createPostgresStore({ connectionString: pgUrl, max: 2 })
}, 120_000)

afterAll(async () => {
  await reader?.close()
  for (const r of relays) await r?.kill('SIGKILL')
  await cluster?.destroy()
})

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
/** Map keys sorted: a Y.Map iterates in the order its keys arrived, which differs between replicas. */
const content = (doc: Y.Doc): string => JSON.stringify({ log: doc.getArray('log').toArray(), text: doc.getText('t').toString(), map: Object.entries(doc.getMap('m').toJSON()).sort(([a], [b]) => a < b ? -1 : 1) })

/** The space as the database holds it: every log entry in cursor order, opened and applied. */
async function rebuild (space: Space): Promise<{ doc: Y.Doc; failures: string[] }> {
  const sodium = await getSodium()
  const keys = deriveKeys(sodium, space.secrets)
  const doc = new Y.Doc()
  const failures: string[] = []
  for (let after = 0; ;) {
    const page = await reader.readAfter(space.secrets.spaceId, after, 1000)
    if (page.length === 0) break
    for (const e of page) {
      const o = open(sodium, keys, e.envelope, { types: [MsgType.update] })
      if (!o.ok) { failures.push(`${e.cursor}: ${o.code}`); continue }
      const b = readBatch(o.value.plaintext)
      if (!b.ok) { failures.push(`${e.cursor}: ${b.code}`); continue }
      for (const u of b.value) Y.applyUpdate(doc, u)
    }
    after = page[page.length - 1]!.cursor
  }
  return { doc, failures }
}

function shuffled<T> (rng: Prng, xs: readonly T[]): T[] {
  const out = [...xs]
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

async function oneRun (seed: number): Promise<string[]> {
  const rng = createPrng(seed)
  const trace: string[] = []
  const clients: Client[] = []
  const spaces: Space[] = []
  const restarts: Array<Promise<void>> = []
  try {
    const n = rng.int(2, 4)
    let editLink = ''
    for (let i = 0; i < n; i++) {
      const list = shuffled(rng, urls())
      const c = await createClient({ transport: wsTransport, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 }, relays: list, space: { ackTimeoutMs: 3000 } })
      clients.push(c)
      if (i === 0) {
        const made = await c.createSpace(list[0]!, 'pg convergence')
        editLink = made.editLink
        spaces.push(made.space)
        await made.space.whenStored(15_000)
      } else {
        const inv = parseLink(c.sodium, editLink)
        if (!inv.ok) throw new Error(inv.message)
        const s = await c.openSpace(inv.value, list[0])
        await s.whenCaughtUp(15_000)
        spaces.push(s)
      }
      trace.push(`client ${i} on ${list[0]}`)
    }
    const made: string[][] = spaces.map(() => [])
    const steps = rng.int(30, 60)
    for (let step = 0; step < steps; step++) {
      const r = rng.next()
      const i = rng.int(0, spaces.length - 1)
      const s = spaces[i]!
      if (r < 0.75) {
        const item = `c${i}-${made[i]!.length}`
        made[i]!.push(item)
        const kind = rng.int(0, 2)
        if (kind === 0) s.doc.getArray<string>('log').push([item])
        else if (kind === 1) {
          s.doc.getArray<string>('log').insert(rng.int(0, s.doc.getArray('log').length), [item])
        } else {
          s.doc.transact(() => {
            s.doc.getArray<string>('log').push([item])
            s.doc.getMap('m').set(`k${rng.int(0, 5)}`, item)
            const t = s.doc.getText('t')
            t.insert(rng.int(0, t.length), item)
          })
        }
      } else if (r < 0.88) {
        trace.push(`step ${step}: client ${i} drops its connection`)
        ;(s as unknown as { link: RelayLink }).link.reconnect()
      } else if (r < 0.93) {
        const k = rng.int(0, RELAYS - 1)
        const victim = relays[k]
        if (victim !== undefined && relays.filter(x => x !== undefined).length > 1) {
          trace.push(`step ${step}: SIGKILL relay ${k}`)
          relays[k] = undefined
          await victim.kill('SIGKILL')
          const downMs = rng.int(100, 1500)
          restarts.push(sleep(downMs).then(() => startRelayAt(k)))
        }
      }
      await sleep(rng.int(0, 25))
    }
    // Heal: every relay back, every write stored, every replica the same.
    await Promise.all(restarts)
    trace.push('healed')
    await Promise.all(spaces.map(s => s.whenStored(30_000)))
    const total = made.reduce((a, m) => a + m.length, 0)
    await waitFor(() => spaces.every(s => s.doc.getArray('log').length === total), 30_000, `every replica to hold ${total} items`)
    await waitFor(() => spaces.every(s => content(s.doc) === content(spaces[0]!.doc)), 10_000, 'replicas to converge')
    const want = content(spaces[0]!.doc)
    const rebuilt = await rebuild(spaces[0]!)
    expect(rebuilt.failures).toEqual([])
    expect(content(rebuilt.doc)).toBe(want)
    const log = spaces[0]!.doc.getArray<string>('log').toArray()
    expect(new Set(log).size).toBe(log.length)
    expect(new Set(log)).toEqual(new Set(made.flat()))
    const alerts = spaces.flatMap((s, i) => s.alerts.map(a => `client ${i}: ${a.code}: ${a.message}`))
    if (alerts.length > 0) throw new Error(`alerts:\n${alerts.join('\n')}`)
    return trace
  } catch (e) {
    throw new Error(`seed ${seed}: ${e instanceof Error ? e.message : String(e)}\n${trace.join('\n')}`)
  } finally {
    await Promise.all(restarts).catch(() => {})
    for (const c of clients) await c.close().catch(() => {})
  }
}

describe('convergence across relays on one PostgreSQL', () => {
  it(`${RUNS} seeded runs: clients over ${RELAYS} relay processes, random reconnects, relays killed with SIGKILL`, async () => {
    const base = testSeed('convergence across relays on one PostgreSQL')
    const single = process.env.SEED !== undefined
    for (let run = 0; run < (single ? 1 : RUNS); run++) await oneRun((base + run) | 0)
  }, 600_000)
})
