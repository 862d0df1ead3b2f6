import { createHash, randomFillSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createPostgresStore } from '../../relay/storage/postgres.js'
import type { AppendEntry, LogStore } from '../../relay/storage/port.js'
import type { PgCluster } from '../support/pg.js'

/**
 * Issue 12: two store instances (two pools, as two relays would have) append to one space at once.
 * Cursor order must be commit order: a reader tailing the log meanwhile ("everything after the
 * last cursor I saw") must end up with every entry exactly once, in cursor order; so must a reader
 * starting from any cursor afterwards.
 */
const hashOf = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())

async function writeStreams (store: LogStore, space: Uint8Array, streams: number, perStream: number, tag: string): Promise<void> {
  await Promise.all(Array.from({ length: streams }, async (_, s) => {
    const author = randomFillSync(new Uint8Array(32))
    const stream = randomFillSync(new Uint8Array(8))
    let prevHash: Uint8Array = new Uint8Array(32)
    for (let seq = 0; seq < perStream; seq++) {
      const envelope = new TextEncoder().encode(`${tag}/${s}/${seq}`)
      const e: AppendEntry = { author, stream, seq, prevHash, hash: hashOf(envelope), envelope, kind: 'update' }
      const r = await store.append(space, e)
      if (!r.ok) throw new Error(`${tag}/${s}/${seq}: ${r.code} ${r.message}`)
      prevHash = e.hash
    }
  }))
}

export function runConcurrentAppendCase (cluster: () => PgCluster, total = Number(process.env.PG_APPENDS ?? 10_000)): void {
  describe('PostgreSQL store: two pools appending to one space', () => {
    it(`${total} appends from two store instances: every reader sees every entry once, in cursor order`, async () => {
      const schema = `conc${process.pid}`
      const a = await createPostgresStore({ connectionString: cluster().url(), schema })
      const b = await createPostgresStore({ connectionString: cluster().url(), schema })
      const reader = await createPostgresStore({ connectionString: cluster().url(), schema, max: 2 })
      try {
        const space = randomFillSync(new Uint8Array(16))
        expect(await a.createSpace(space, { accessPk: new Uint8Array(32), writePk: new Uint8Array(32) })).toBe(true)
        const streams = 20
        const perStream = Math.ceil(total / 2 / streams)
        let writing = true
        const tailed: number[] = []
        const tail = (async () => {
          let after = 0
          for (;;) {
            const done = !writing
            const page = await reader.readAfter(space, after, 500)
            for (const e of page) tailed.push(e.cursor)
            if (page.length > 0) after = page[page.length - 1]!.cursor
            else if (done) return
            else await new Promise(resolve => setTimeout(resolve, 2))
          }
        })()
        await Promise.all([writeStreams(a, space, streams, perStream, 'a'), writeStreams(b, space, streams, perStream, 'b')]).finally(() => { writing = false })
        await tail
        const n = 2 * streams * perStream
        const all = (await reader.readAfter(space, 0, n + 10)).map(e => e.cursor)
        expect(all).toHaveLength(n)
        for (let i = 1; i < all.length; i++) expect(all[i]! > all[i - 1]!).toBe(true)
        // The tailing reader missed nothing that committed later with a smaller cursor.
        expect(tailed).toEqual(all)
        // From every cursor, the next entry is the next one in the log; paging sees each once.
        for (let i = 0; i < all.length; i += 50) {
          const next = await Promise.all(all.slice(i, i + 50).map(c => reader.readAfter(space, c, 1)))
          next.forEach((page, j) => expect(page.map(e => e.cursor)).toEqual(all.slice(i + j + 1, i + j + 2)))
        }
        const paged: number[] = []
        for (let after = 0; ;) {
          const page = await reader.readAfter(space, after, 333)
          if (page.length === 0) break
          paged.push(...page.map(e => e.cursor))
          after = page[page.length - 1]!.cursor
        }
        expect(paged).toEqual(all)
        expect(await reader.head(space)).toBe(all[all.length - 1])
      } finally {
        await Promise.all([a.close(), b.close(), reader.close()])
      }
    }, 180_000)

    it('two store instances: snapshot compare-and-set has one winner; concurrent prunes of one space both finish', async () => {
      const schema = `cas${process.pid}`
      const a = await createPostgresStore({ connectionString: cluster().url(), schema })
      const b = await createPostgresStore({ connectionString: cluster().url(), schema })
      try {
        const space = randomFillSync(new Uint8Array(16))
        expect(await a.createSpace(space, { accessPk: new Uint8Array(32), writePk: new Uint8Array(32) })).toBe(true)
        await writeStreams(a, space, 2, 20, 'x')
        for (let round = 0; round < 20; round++) {
          const newest = (await a.getSnapshots(space, 1))[0]
          const prevHash = newest?.hash ?? new Uint8Array(32)
          const put = (s: LogStore, tag: string) => s.putSnapshot(space, { hash: hashOf(new TextEncoder().encode(`${round}${tag}`)), prevHash, covers: 0, envelope: new TextEncoder().encode(`snap ${round} ${tag}`) })
          const [ra, rb] = await Promise.all([put(a, 'a'), put(b, 'b')])
          expect([ra.ok, rb.ok].filter(x => x)).toHaveLength(1)
          expect([ra, rb].filter(r => !r.ok).map(r => !r.ok && r.code)).toEqual(['store/snapshot-conflict'])
        }
        const head = await a.head(space)
        const [na, nb] = await Promise.all([a.prune(space, head, 3), b.prune(space, head, 3)])
        expect(na + nb).toBe(40)
        expect(await a.readAfter(space, 0, 100)).toEqual([])
        expect(await b.getSnapshots(space, 100)).toHaveLength(3)
        expect(await a.logBytes(space)).toBe(0)
      } finally {
        await Promise.all([a.close(), b.close()])
      }
    })
  })
}
