import { createHash, randomFillSync } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { AppendEntry, AppendResult, LogStore, SnapshotPut, SpaceRecord, StoredEntry } from '../../relay/storage/port.js'

/**
 * The one contract every LogStore backend passes (relay/storage/port.ts).
 *
 * `setup` is called before every case and must give a fresh, empty store. When the backend is
 * durable it also returns `reopen`, which opens a new store on the same data (the caller closes the
 * old one first); `cleanup` closes whatever is still open and removes the data.
 */
export interface ContractHarness {
  store: LogStore
  reopen?: () => Promise<LogStore>
  cleanup: () => Promise<void>
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/** Read-only: tests that mutate an entry's arrays get fresh zeros from `Chain.prevHash`. */
const ZERO = new Uint8Array(32)
const enc = new TextEncoder()

const rand = (n: number): Uint8Array => randomFillSync(new Uint8Array(n))
/** The store never recomputes it, but keep `hash` an honest function of `envelope` so "same bytes" means "same hash". */
const hashOf = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
/** A readable, unique envelope body: the store treats envelopes as opaque bytes. */
const body = (label: string): Uint8Array => enc.encode(`envelope:${label}`)
const bytesOf = (entries: readonly StoredEntry[]): string[] => entries.map(e => hex(e.envelope))
const cursorsOf = (entries: readonly StoredEntry[]): number[] => entries.map(e => e.cursor)

const spaceId = (): Uint8Array => rand(16)
const spaceRec = (): SpaceRecord => ({ accessPk: rand(32), writePk: rand(32) })

function entry (author: Uint8Array, stream: Uint8Array, seq: number, prevHash: Uint8Array, envelope: Uint8Array): AppendEntry {
  return { author, stream, seq, prevHash, hash: hashOf(envelope), envelope, kind: 'update' }
}

/** Builds one (author, stream) chain: `next()` gives the entry at the next seq, linked to the previous one. */
class Chain {
  readonly entries: AppendEntry[] = []
  constructor (readonly author: Uint8Array = rand(32), readonly stream: Uint8Array = rand(8), readonly label = hex(author).slice(0, 6) + hex(stream).slice(0, 4)) {}

  get seq (): number { return this.entries.length }
  get prevHash (): Uint8Array { return this.entries[this.entries.length - 1]?.hash ?? new Uint8Array(32) }

  next (envelope: Uint8Array = body(`${this.label}#${this.seq}`)): AppendEntry {
    const e = entry(this.author, this.stream, this.seq, this.prevHash, envelope)
    this.entries.push(e)
    return e
  }

  at (seq: number): AppendEntry {
    const e = this.entries[seq]
    if (e === undefined) throw new Error(`chain has no seq ${seq}`)
    return e
  }

  /** A fresh object with fresh byte arrays holding the same values (a client resending after a lost ack). */
  resend (seq: number): AppendEntry {
    const e = this.at(seq)
    return { author: e.author.slice(), stream: e.stream.slice(), seq: e.seq, prevHash: e.prevHash.slice(), hash: e.hash.slice(), envelope: e.envelope.slice(), kind: 'update' }
  }
}

function expectOk (r: AppendResult, duplicate = false): number {
  if (!r.ok) throw new Error(`expected ok, got ${r.code}: ${r.message}`)
  expect(r.duplicate).toBe(duplicate)
  expect(Number.isSafeInteger(r.cursor)).toBe(true)
  expect(r.cursor).toBeGreaterThan(0)
  return r.cursor
}

function expectErr (r: AppendResult, code: string): void {
  if (r.ok) throw new Error(`expected ${code}, got ok at cursor ${r.cursor} (duplicate=${String(r.duplicate)})`)
  expect(r.code).toBe(code)
  expect(typeof r.message).toBe('string')
}

function expectStrictlyIncreasing (xs: readonly number[]): void {
  for (let i = 1; i < xs.length; i++) {
    if (!(xs[i]! > xs[i - 1]!)) throw new Error(`not strictly increasing at ${i}: ${xs.join(',')}`)
  }
}

/** Appends every entry in order, one after the other, and returns the cursors. */
async function appendAll (store: LogStore, space: Uint8Array, entries: readonly AppendEntry[]): Promise<number[]> {
  const out: number[] = []
  for (const e of entries) out.push(expectOk(await store.append(space, e)))
  return out
}

async function newSpace (store: LogStore): Promise<Uint8Array> {
  const id = spaceId()
  expect(await store.createSpace(id, spaceRec())).toBe(true)
  return id
}

const ALL = 1_000_000

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

export function runLogStoreContract (name: string, setup: () => Promise<ContractHarness>): void {
  describe(`LogStore contract: ${name}`, () => {
    let h: ContractHarness
    /** The store under test; replaced by `reopenStore()`. */
    let store: LogStore

    beforeEach(async () => {
      h = await setup()
      store = h.store
    })
    afterEach(async () => {
      await h.cleanup()
    })

    const reopenStore = async (): Promise<LogStore> => {
      if (h.reopen === undefined) throw new Error('backend has no reopen')
      await store.close()
      store = await h.reopen()
      return store
    }

    describe('spaces', () => {
      it('creates a space and returns its keys; unknown ids are undefined', async () => {
        const id = spaceId()
        const rec = spaceRec()
        expect(await store.getSpace(id)).toBeUndefined()
        expect(await store.createSpace(id, rec)).toBe(true)
        const got = await store.getSpace(id)
        expect(got).toBeDefined()
        expect(hex(got!.accessPk)).toBe(hex(rec.accessPk))
        expect(hex(got!.writePk)).toBe(hex(rec.writePk))
        expect(await store.getSpace(spaceId())).toBeUndefined()
      })

      it('refuses a second create of the same id and keeps the original keys', async () => {
        const id = spaceId()
        const first = spaceRec()
        expect(await store.createSpace(id, first)).toBe(true)
        expect(await store.createSpace(id.slice(), spaceRec())).toBe(false)
        expect(await store.createSpace(id, first)).toBe(false)
        const got = await store.getSpace(id)
        expect(hex(got!.accessPk)).toBe(hex(first.accessPk))
        expect(hex(got!.writePk)).toBe(hex(first.writePk))
      })

      it('keeps its own copy of the keys (mutating input or output changes nothing)', async () => {
        const id = spaceId()
        const rec = spaceRec()
        const want = { a: hex(rec.accessPk), w: hex(rec.writePk) }
        await store.createSpace(id, rec)
        rec.accessPk.fill(0xaa)
        rec.writePk.fill(0xbb)
        const got = await store.getSpace(id)
        got!.accessPk.fill(0xcc)
        got!.writePk.fill(0xdd)
        const again = await store.getSpace(id)
        expect(hex(again!.accessPk)).toBe(want.a)
        expect(hex(again!.writePk)).toBe(want.w)
      })

      it('refuses appends to an unknown space; reads of it are empty', async () => {
        const unknown = spaceId()
        expectErr(await store.append(unknown, new Chain().next()), 'store/no-space')
        // Not even after another space exists.
        await newSpace(store)
        expectErr(await store.append(unknown, new Chain().next()), 'store/no-space')
        expect(await store.readAfter(unknown, 0, 100)).toEqual([])
        expect(await store.head(unknown)).toBe(0)
        expect(await store.readStream(unknown, rand(32), rand(8), 0, 100)).toEqual([])
      })
    })

    describe('receipts', () => {
      it('keeps the newest receipt per device, newest first; unknown spaces refuse; bytes are copies', async () => {
        const id = await newSpace(store)
        const [d1, d2] = [rand(32), rand(32)]
        expect(await store.getReceipts(id, 10)).toEqual([])
        expect(await store.putReceipt(spaceId(), d1, rand(40))).toBe(false)
        const r1 = rand(40)
        expect(await store.putReceipt(id, d1, r1)).toBe(true)
        await new Promise(resolve => setTimeout(resolve, 3))
        const r2 = rand(50)
        expect(await store.putReceipt(id, d2, r2)).toBe(true)
        await new Promise(resolve => setTimeout(resolve, 3))
        const r1b = rand(60)
        expect(await store.putReceipt(id, d1, r1b)).toBe(true)
        const want = [hex(r1b), hex(r2)]
        r1b.fill(0)
        const got = await store.getReceipts(id, 10)
        expect(got.map(hex)).toEqual(want)
        got[0]!.fill(1)
        expect((await store.getReceipts(id, 10)).map(hex)).toEqual(want)
        expect((await store.getReceipts(id, 1)).map(hex)).toEqual([want[0]])
        if (h.reopen !== undefined) expect((await reopenStore().then(s => s.getReceipts(id, 10))).map(hex)).toEqual(want)
      })

      it('a slot key that extends another (device • "m", a member record: issue 11) is a slot of its own', async () => {
        const id = await newSpace(store)
        const d = rand(32)
        const receipt = rand(40)
        const record = rand(44)
        expect(await store.putReceipt(id, d, receipt)).toBe(true)
        expect(await store.putReceipt(id, new Uint8Array([...d, 0x6d]), record)).toBe(true)
        expect((await store.getReceipts(id, 10)).map(hex).sort()).toEqual([hex(receipt), hex(record)].sort())
        const receipt2 = rand(40)
        expect(await store.putReceipt(id, d, receipt2)).toBe(true)
        expect((await store.getReceipts(id, 10)).map(hex).sort()).toEqual([hex(receipt2), hex(record)].sort())
      })
    })

    describe('epochs (issue 11)', () => {
      it('rotateSpace is a compare-and-set that only moves forward; getSpace returns the new keys, getEpochs all of them', async () => {
        const id = await newSpace(store)
        const first = await store.getSpace(id)
        expect(first?.epoch ?? 0).toBe(0)
        expect((await store.getEpochs(id)).map(e => [e.epoch, hex(e.accessPk), e.keyChange === undefined])).toEqual([[0, hex(first!.accessPk), true]])
        const next = { epoch: 1, accessPk: rand(32), writePk: rand(32), keyChange: rand(300) }
        expect(await store.rotateSpace(spaceId(), 0, next)).toBe('no-space')
        expect(await store.rotateSpace(id, 0, { ...next, epoch: 2 })).toBe('conflict')
        expect(await store.rotateSpace(id, 0, next)).toBe('ok')
        // The rival from the same epoch loses, and an old epoch never comes back.
        expect(await store.rotateSpace(id, 0, { epoch: 1, accessPk: rand(32), writePk: rand(32), keyChange: rand(300) })).toBe('conflict')
        const now = await store.getSpace(id)
        expect([now?.epoch, hex(now!.accessPk), hex(now!.writePk)]).toEqual([1, hex(next.accessPk), hex(next.writePk)])
        const epochs = await store.getEpochs(id)
        expect(epochs.map(e => e.epoch)).toEqual([0, 1])
        expect(hex(epochs[0]!.accessPk)).toBe(hex(first!.accessPk))
        expect(hex(epochs[1]!.keyChange!)).toBe(hex(next.keyChange))
        next.keyChange.fill(0)
        expect(hex((await store.getEpochs(id))[1]!.keyChange!)).not.toBe(hex(next.keyChange))
        expect(await store.rotateSpace(id, 1, { epoch: 2, accessPk: rand(32), writePk: rand(32), keyChange: rand(10) })).toBe('ok')
        if (h.reopen !== undefined) expect((await reopenStore().then(s => s.getEpochs(id))).map(e => e.epoch)).toEqual([0, 1, 2])
        expect(await store.getEpochs(spaceId())).toEqual([])
      })
    })

    describe('append and the stream chain', () => {
      it('appends seq 0 (zero prevHash), 1, 2 with increasing cursors', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        const e0 = c.next()
        expect(hex(e0.prevHash)).toBe(hex(ZERO))
        const cursors = await appendAll(store, space, [e0, c.next(), c.next()])
        expectStrictlyIncreasing(cursors)
        expect(await store.head(space)).toBe(cursors[2])
        const read = await store.readAfter(space, 0, 100)
        expect(cursorsOf(read)).toEqual(cursors)
        expect(bytesOf(read)).toEqual(c.entries.map(e => hex(e.envelope)))
      })

      it('a new entry names the head before it (prev), per space; duplicates name none', async () => {
        const [s1, s2] = [await newSpace(store), await newSpace(store)]
        const [a, b] = [new Chain(), new Chain()]
        const r0 = await store.append(s1, a.next())
        expect(r0.ok && r0.prev).toBe(0)
        const r1 = await store.append(s2, b.next())
        expect(r1.ok && r1.prev).toBe(0)
        const r2 = await store.append(s1, a.next())
        expect(r2.ok && r2.prev).toBe(r0.ok && r0.cursor)
        const dup = await store.append(s1, a.resend(1))
        expect(dup.ok && dup.prev).toBeUndefined()
      })

      it('cursors strictly increase across spaces, authors and streams', async () => {
        const spaces = [await newSpace(store), await newSpace(store)]
        const author = rand(32)
        const chains = spaces.flatMap(s => [
          { s, c: new Chain(author, rand(8)) },
          { s, c: new Chain(author, rand(8)) },
          { s, c: new Chain(rand(32), rand(8)) }
        ])
        const cursors: number[] = []
        for (let round = 0; round < 4; round++) {
          for (const { s, c } of chains) cursors.push(expectOk(await store.append(s, c.next())))
        }
        expectStrictlyIncreasing(cursors)
        expect(new Set(cursors).size).toBe(cursors.length)
        for (const s of spaces) {
          const read = await store.readAfter(s, 0, 100)
          expect(read).toHaveLength(12)
          expectStrictlyIncreasing(cursorsOf(read))
          expect(await store.head(s)).toBe(read[read.length - 1]!.cursor)
        }
      })

      it('200 concurrent appends on 20 streams: all ok, distinct cursors, per-stream order kept', async () => {
        const space = await newSpace(store)
        // 5 authors with 4 streams each: streams of one author share the author key.
        const authors = Array.from({ length: 5 }, () => rand(32))
        const chains = Array.from({ length: 20 }, (_, i) => new Chain(authors[i % 5]!, rand(8)))
        const jobs: Array<{ chain: Chain; seq: number; p: Promise<AppendResult> }> = []
        for (let seq = 0; seq < 10; seq++) {
          for (const chain of chains) jobs.push({ chain, seq, p: store.append(space, chain.next()) })
        }
        const results = await Promise.all(jobs.map(j => j.p))
        const cursors = results.map(r => expectOk(r))
        expect(new Set(cursors).size).toBe(200)

        for (const chain of chains) {
          const mine = jobs.map((j, i) => ({ j, c: cursors[i]! })).filter(x => x.j.chain === chain).sort((a, b) => a.j.seq - b.j.seq)
          expectStrictlyIncreasing(mine.map(x => x.c))
          const stream = await store.readStream(space, chain.author, chain.stream, 0, 100)
          expect(cursorsOf(stream)).toEqual(mine.map(x => x.c))
          expect(bytesOf(stream)).toEqual(chain.entries.map(e => hex(e.envelope)))
        }

        const all = await store.readAfter(space, 0, 1000)
        expect(all).toHaveLength(200)
        expectStrictlyIncreasing(cursorsOf(all))
        expect([...cursorsOf(all)].sort((a, b) => a - b)).toEqual([...cursors].sort((a, b) => a - b))
        expect(await store.head(space)).toBe(Math.max(...cursors))

        // Every chain is still extendable after the burst.
        for (const chain of chains) expect(expectOk(await store.append(space, chain.next()))).toBeGreaterThan(Math.max(...cursors))
      })

      it('a duplicate (same bytes, same seq) is ok with the original cursor and is not stored twice', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        const [c0, c1] = await appendAll(store, space, [c.next(), c.next()])
        const headBefore = await store.head(space)

        const d1 = await store.append(space, c.resend(1))
        expect(d1).toEqual({ ok: true, cursor: c1, duplicate: true })
        const d0 = await store.append(space, c.resend(0))
        expect(d0).toEqual({ ok: true, cursor: c0, duplicate: true })
        // The very same object again, too.
        expect(await store.append(space, c.at(0))).toEqual({ ok: true, cursor: c0, duplicate: true })

        const read = await store.readAfter(space, 0, 100)
        expect(cursorsOf(read)).toEqual([c0, c1])
        expect(await store.head(space)).toBe(headBefore)
        // The chain still extends from seq 1.
        expect(expectOk(await store.append(space, c.next()))).toBeGreaterThan(c1!)
      })

      it('a duplicate arriving in the same turn as the original gets the same cursor, stored once', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        const e = c.next()
        const [a, b] = await Promise.all([store.append(space, e), store.append(space, c.resend(0))])
        expect(a!.ok && b!.ok).toBe(true)
        if (!a!.ok || !b!.ok) return
        expect(a!.cursor).toBe(b!.cursor)
        expect([a!.duplicate, b!.duplicate].sort()).toEqual([false, true])
        expect(await store.readAfter(space, 0, 100)).toHaveLength(1)
      })

      it('different bytes at a taken seq are equivocation and are not stored', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        const cursors = await appendAll(store, space, [c.next(), c.next(), c.next()])

        expectErr(await store.append(space, entry(c.author, c.stream, 0, ZERO, body('other-0'))), 'store/equivocation')
        expectErr(await store.append(space, entry(c.author, c.stream, 1, c.at(0).hash, body('other-1'))), 'store/equivocation')
        expectErr(await store.append(space, entry(c.author, c.stream, 2, c.at(1).hash, body('other-2'))), 'store/equivocation')

        const read = await store.readAfter(space, 0, 100)
        expect(cursorsOf(read)).toEqual(cursors)
        expect(bytesOf(read)).toEqual(c.entries.map(e => hex(e.envelope)))
        expect(await store.head(space)).toBe(cursors[2])
      })

      it('a seq gap is refused (first entry not 0, or skipping ahead)', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        expectErr(await store.append(space, entry(c.author, c.stream, 1, ZERO, body('gap-1'))), 'store/seq-gap')
        expectErr(await store.append(space, entry(c.author, c.stream, 5, rand(32), body('gap-5'))), 'store/seq-gap')
        expect(await store.readAfter(space, 0, 100)).toEqual([])
        expect(await store.head(space)).toBe(0)

        await appendAll(store, space, [c.next(), c.next()])
        expectErr(await store.append(space, entry(c.author, c.stream, 3, c.prevHash, body('gap-3'))), 'store/seq-gap')
        expect(await store.readAfter(space, 0, 100)).toHaveLength(2)
        expectOk(await store.append(space, c.next()))
      })

      it('a wrong prevHash is a chain mismatch', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        expectErr(await store.append(space, entry(c.author, c.stream, 0, rand(32), body('bad-prev-0'))), 'store/chain-mismatch')
        expect(await store.readAfter(space, 0, 100)).toEqual([])

        await appendAll(store, space, [c.next(), c.next()])
        expectErr(await store.append(space, entry(c.author, c.stream, 2, ZERO, body('bad-prev-zero'))), 'store/chain-mismatch')
        expectErr(await store.append(space, entry(c.author, c.stream, 2, c.at(0).hash, body('bad-prev-old'))), 'store/chain-mismatch')
        expectErr(await store.append(space, entry(c.author, c.stream, 2, rand(32), body('bad-prev-random'))), 'store/chain-mismatch')
        expect(await store.readAfter(space, 0, 100)).toHaveLength(2)
        // The head did not move: the right link is still accepted.
        expectOk(await store.append(space, c.next()))
      })

      it('a rejected append in a concurrent batch does not disturb the others', async () => {
        const space = await newSpace(store)
        const good = new Chain()
        const bad = new Chain()
        const results = await Promise.all([
          store.append(space, good.next()),
          store.append(space, entry(bad.author, bad.stream, 3, ZERO, body('bad-gap'))),
          store.append(spaceId(), new Chain().next()),
          store.append(space, good.next()),
          store.append(space, entry(good.author, good.stream, 0, ZERO, body('bad-equivocation'))),
          store.append(space, good.next())
        ])
        const [r0, r1, r2, r3, r4, r5] = results
        const cursors = [expectOk(r0!), expectOk(r3!), expectOk(r5!)]
        expectStrictlyIncreasing(cursors)
        expectErr(r1!, 'store/seq-gap')
        expectErr(r2!, 'store/no-space')
        expectErr(r4!, 'store/equivocation')
        expect(cursorsOf(await store.readAfter(space, 0, 100))).toEqual(cursors)
      })
    })

    describe('reads', () => {
      it('readAfter honours after and limit, ascending, exact bytes', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        const entries = Array.from({ length: 10 }, () => c.next())
        const cursors = await appendAll(store, space, entries)
        const want = entries.map(e => hex(e.envelope))

        const all = await store.readAfter(space, 0, 100)
        expect(cursorsOf(all)).toEqual(cursors)
        expect(bytesOf(all)).toEqual(want)

        const mid = await store.readAfter(space, cursors[3]!, 4)
        expect(cursorsOf(mid)).toEqual(cursors.slice(4, 8))
        expect(bytesOf(mid)).toEqual(want.slice(4, 8))

        // `after` need not be an existing cursor.
        expect(cursorsOf(await store.readAfter(space, cursors[3]! + 0.5, 2))).toEqual(cursors.slice(4, 6))
        expect(await store.readAfter(space, cursors[9]!, 10)).toEqual([])
        expect(await store.readAfter(space, 0, 0)).toEqual([])
        expect(cursorsOf(await store.readAfter(space, 0, 1))).toEqual([cursors[0]])

        // Paging reconstructs the whole log.
        const paged: StoredEntry[] = []
        let after = 0
        for (;;) {
          const page = await store.readAfter(space, after, 3)
          if (page.length === 0) break
          expect(page.length).toBeLessThanOrEqual(3)
          paged.push(...page)
          after = page[page.length - 1]!.cursor
        }
        expect(cursorsOf(paged)).toEqual(cursors)
        expect(bytesOf(paged)).toEqual(want)
      })

      it('returns exact bytes for envelopes of any size and for subarray views', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        const parent = rand(4096)
        const view = parent.subarray(100, 1100)
        const envelopes = [
          new Uint8Array([0]),
          new Uint8Array([0, 0, 0, 0xff]),
          rand(1),
          rand(1000),
          view,
          rand(256 * 1024)
        ]
        const cursors = await appendAll(store, space, envelopes.map(e => c.next(e)))
        const read = await store.readAfter(space, 0, 100)
        expect(cursorsOf(read)).toEqual(cursors)
        read.forEach((r, i) => {
          expect(r.envelope).toBeInstanceOf(Uint8Array)
          expect(r.envelope.byteLength).toBe(envelopes[i]!.byteLength)
          expect(hex(r.envelope)).toBe(hex(envelopes[i]!))
        })
        const stream = await store.readStream(space, c.author, c.stream, 0, 100)
        expect(bytesOf(stream)).toEqual(envelopes.map(hex))
      })

      it('readStream returns one stream from fromSeq in seq order, honouring limit', async () => {
        const space = await newSpace(store)
        const a = new Chain()
        const b = new Chain(a.author, rand(8))
        const cursorsA: number[] = []
        for (let i = 0; i < 6; i++) {
          cursorsA.push(expectOk(await store.append(space, a.next())))
          expectOk(await store.append(space, b.next()))
        }
        const fromTwo = await store.readStream(space, a.author, a.stream, 2, 100)
        expect(cursorsOf(fromTwo)).toEqual(cursorsA.slice(2))
        expect(bytesOf(fromTwo)).toEqual(a.entries.slice(2).map(e => hex(e.envelope)))

        expect(cursorsOf(await store.readStream(space, a.author, a.stream, 2, 2))).toEqual(cursorsA.slice(2, 4))
        expect(cursorsOf(await store.readStream(space, a.author, a.stream, 0, 100))).toEqual(cursorsA)
        expect(cursorsOf(await store.readStream(space, a.author, a.stream, 5, 100))).toEqual([cursorsA[5]])
        expect(await store.readStream(space, a.author, a.stream, 6, 100)).toEqual([])
        expect(await store.readStream(space, a.author, a.stream, 0, 0)).toEqual([])
        expect(await store.readStream(space, rand(32), a.stream, 0, 100)).toEqual([])
        expect(await store.readStream(space, a.author, rand(8), 0, 100)).toEqual([])
        // Fresh byte arrays for the key work the same.
        expect(cursorsOf(await store.readStream(space, a.author.slice(), a.stream.slice(), 4, 100))).toEqual(cursorsA.slice(4))
      })

      it('head is 0 for an empty space and the max cursor after appends, per space', async () => {
        const s1 = await newSpace(store)
        const s2 = await newSpace(store)
        expect(await store.head(s1)).toBe(0)
        expect(await store.head(s2)).toBe(0)
        const c = new Chain()
        const cursors = await appendAll(store, s1, [c.next(), c.next(), c.next()])
        expect(await store.head(s1)).toBe(cursors[2])
        expect(await store.head(s2)).toBe(0)
        const other = expectOk(await store.append(s2, new Chain().next()))
        expect(await store.head(s2)).toBe(other)
        expect(await store.head(s1)).toBe(cursors[2])
        // A duplicate or a rejected append does not move the head.
        await store.append(s1, c.resend(0))
        await store.append(s1, entry(c.author, c.stream, 9, ZERO, body('gap')))
        expect(await store.head(s1)).toBe(cursors[2])
      })
    })

    describe('isolation (keys that share prefixes)', () => {
      it('spaces whose ids share a long prefix never see each other', async () => {
        const base = rand(16)
        const sibling = base.slice()
        sibling[15] = base[15]! ^ 1
        const longer = new Uint8Array(17)
        longer.set(base)
        longer[16] = 0
        const shorter = base.slice(0, 15)
        const ids = [base, sibling, longer, shorter]
        for (const id of ids) expect(await store.createSpace(id, spaceRec())).toBe(true)

        // The very same (author, stream, seq 0) in every space: each is an independent chain.
        const author = rand(32)
        const stream = rand(8)
        const cursors: number[] = []
        for (const [i, id] of ids.entries()) {
          cursors.push(expectOk(await store.append(id, entry(author, stream, 0, ZERO, body(`space-${i}`)))))
        }
        expect(new Set(cursors).size).toBe(ids.length)
        for (const [i, id] of ids.entries()) {
          const read = await store.readAfter(id, 0, 100)
          expect(cursorsOf(read)).toEqual([cursors[i]])
          expect(bytesOf(read)).toEqual([hex(body(`space-${i}`))])
          expect(cursorsOf(await store.readStream(id, author, stream, 0, 100))).toEqual([cursors[i]])
          expect(await store.head(id)).toBe(cursors[i])
        }
        // Snapshots and pruning stay per space too.
        expect((await store.putSnapshot(base, { hash: rand(32), prevHash: ZERO, covers: cursors[0]!, envelope: body('snap') })).ok).toBe(true)
        expect(await store.getSnapshots(sibling, 10)).toEqual([])
        expect(await store.getSnapshots(longer, 10)).toEqual([])
        expect(await store.prune(sibling, ALL)).toBe(1)
        expect(await store.readAfter(base, 0, 100)).toHaveLength(1)
        expect(await store.readAfter(longer, 0, 100)).toHaveLength(1)
        expect(await store.readAfter(shorter, 0, 100)).toHaveLength(1)
      })

      it('authors and streams that share prefixes are separate chains', async () => {
        const space = await newSpace(store)
        const author = rand(32)
        const author2 = author.slice()
        author2[31] = author[31]! ^ 1
        const stream = rand(8)
        const stream2 = stream.slice()
        stream2[7] = stream[7]! ^ 1
        // Same concatenation author‖stream, split at a different place.
        const splitAuthor = author.slice(0, 31)
        const splitStream = new Uint8Array(9)
        splitStream[0] = author[31]!
        splitStream.set(stream, 1)
        // Author is a prefix of the other author.
        const longAuthor = new Uint8Array(33)
        longAuthor.set(author)

        const chains = [
          new Chain(author, stream, 'a-s'),
          new Chain(author, stream2, 'a-s2'),
          new Chain(author2, stream, 'a2-s'),
          new Chain(author2, stream2, 'a2-s2'),
          new Chain(splitAuthor, splitStream, 'split'),
          new Chain(longAuthor, stream, 'long')
        ]
        // Every chain starts at seq 0 with a zero prevHash: none is taken by a neighbour.
        const first = await Promise.all(chains.map(c => store.append(space, c.next())))
        first.forEach(r => expectOk(r))
        for (let round = 0; round < 2; round++) {
          for (const c of chains) expectOk(await store.append(space, c.next()))
        }
        for (const c of chains) {
          const read = await store.readStream(space, c.author, c.stream, 0, 100)
          expect(bytesOf(read)).toEqual(c.entries.map(e => hex(e.envelope)))
        }
        expect(await store.readAfter(space, 0, 100)).toHaveLength(chains.length * 3)
      })
    })

    describe('copies', () => {
      it('mutating the input after append does not change what is stored', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        const e = c.next(rand(64))
        const want = { env: hex(e.envelope), hash: hex(e.hash) }
        const keep = c.resend(0)
        const cursor = expectOk(await store.append(space, e))

        e.envelope.fill(0)
        e.hash.fill(0)
        e.author.fill(0)
        e.stream.fill(0)
        e.prevHash.fill(1)

        const read = await store.readAfter(space, 0, 100)
        expect(bytesOf(read)).toEqual([want.env])
        expect(bytesOf(await store.readStream(space, keep.author, keep.stream, 0, 100))).toEqual([want.env])
        // The stored hash is still the original one: the original bytes are a duplicate, the chain extends from it.
        expect(await store.append(space, keep)).toEqual({ ok: true, cursor, duplicate: true })
        const next = entry(keep.author, keep.stream, 1, hashOf(keep.envelope), body('next'))
        expect(hex(hashOf(keep.envelope))).toBe(want.hash)
        expectOk(await store.append(space, next))
      })

      it('mutating a returned array does not change what is stored', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        await appendAll(store, space, [c.next(rand(32)), c.next(rand(32))])
        const want = c.entries.map(e => hex(e.envelope))

        for (const r of await store.readAfter(space, 0, 100)) r.envelope.fill(0xee)
        expect(bytesOf(await store.readAfter(space, 0, 100))).toEqual(want)
        for (const r of await store.readStream(space, c.author, c.stream, 0, 100)) r.envelope.fill(0xee)
        expect(bytesOf(await store.readStream(space, c.author, c.stream, 0, 100))).toEqual(want)
        expect(bytesOf(await store.readAfter(space, 0, 100))).toEqual(want)
      })

      it('snapshot bytes are copied in and out', async () => {
        const space = await newSpace(store)
        const s: SnapshotPut = { hash: rand(32), prevHash: ZERO.slice(), covers: 7, envelope: rand(100) }
        const want = { hash: hex(s.hash), env: hex(s.envelope) }
        expect((await store.putSnapshot(space, s)).ok).toBe(true)
        s.hash.fill(0)
        s.envelope.fill(0)
        const [got] = await store.getSnapshots(space, 10)
        expect(hex(got!.hash)).toBe(want.hash)
        expect(hex(got!.envelope)).toBe(want.env)
        got!.hash.fill(1)
        got!.envelope.fill(1)
        got!.prevHash.fill(1)
        const [again] = await store.getSnapshots(space, 10)
        expect(hex(again!.hash)).toBe(want.hash)
        expect(hex(again!.envelope)).toBe(want.env)
        expect(hex(again!.prevHash)).toBe(hex(ZERO))
        // The chain continues from the original hash, not the mutated one.
        const original = Buffer.from(want.hash, 'hex')
        expect((await store.putSnapshot(space, { hash: rand(32), prevHash: new Uint8Array(original), covers: 8, envelope: rand(10) })).ok).toBe(true)
      })
    })

    describe('prune', () => {
      it('removes entries with cursor <= upTo and leaves the others', async () => {
        const space = await newSpace(store)
        const a = new Chain()
        const b = new Chain()
        const cursors: number[] = []
        for (let i = 0; i < 3; i++) {
          cursors.push(expectOk(await store.append(space, a.next())))
          cursors.push(expectOk(await store.append(space, b.next())))
        }
        expect(await store.prune(space, 0)).toBe(0)
        expect(await store.prune(space, cursors[2]!)).toBe(3)
        expect(cursorsOf(await store.readAfter(space, 0, 100))).toEqual(cursors.slice(3))
        expect(bytesOf(await store.readAfter(space, 0, 100))).toEqual([b.at(1), a.at(2), b.at(2)].map(e => hex(e.envelope)))
        expect(cursorsOf(await store.readStream(space, a.author, a.stream, 0, 100))).toEqual([cursors[4]])
        expect(cursorsOf(await store.readStream(space, b.author, b.stream, 0, 100))).toEqual([cursors[3], cursors[5]])
        // Pruning the same range again drops nothing.
        expect(await store.prune(space, cursors[2]!)).toBe(0)
        expect(await store.head(space)).toBe(cursors[5])
      })

      it('tailStart: where to prune so that the newest entries up to keepBytes stay', async () => {
        const space = await newSpace(store)
        const other = await newSpace(store)
        const c = new Chain()
        const cursors = await appendAll(store, space, [c.next(), c.next(), c.next(), c.next()])
        await store.append(other, new Chain().next())
        const sizes = (await store.readAfter(space, 0, 100)).map(e => e.envelope.length)
        const [, s1, s2, s3] = sizes as [number, number, number, number]
        // Everything fits: nothing need go.
        expect(await store.tailStart(space, cursors[3]!, 1e9)).toBe(0)
        // Room for the newest two exactly: prune up to the second.
        expect(await store.tailStart(space, cursors[3]!, s3 + s2)).toBe(cursors[1])
        expect(await store.tailStart(space, cursors[3]!, s3 + s2 + s1 - 1)).toBe(cursors[1])
        // Nothing kept: prune up to upTo itself.
        expect(await store.tailStart(space, cursors[3]!, 0)).toBe(cursors[3])
        // Only entries at or below upTo count.
        expect(await store.tailStart(space, cursors[2]!, s2)).toBe(cursors[1])
        // An unknown space: nothing.
        expect(await store.tailStart(rand(16), cursors[3]!, 0)).toBe(0)
      })

      it('after pruning everything: head does not go backwards, new cursors are greater, chains still extend', async () => {
        const space = await newSpace(store)
        const other = await newSpace(store)
        const c = new Chain()
        const cursors = await appendAll(store, space, [c.next(), c.next(), c.next()])
        const otherCursor = expectOk(await store.append(other, new Chain().next()))
        const top = Math.max(...cursors, otherCursor)

        expect(await store.prune(space, ALL)).toBe(3)
        expect(await store.readAfter(space, 0, 100)).toEqual([])
        expect(await store.readStream(space, c.author, c.stream, 0, 100)).toEqual([])
        expect(await store.head(space)).toBe(cursors[2])
        // Another space is untouched.
        expect(cursorsOf(await store.readAfter(other, 0, 100))).toEqual([otherCursor])

        const next = expectOk(await store.append(space, c.next()))
        expect(next).toBeGreaterThan(top)
        expect(await store.head(space)).toBe(next)
        const fresh = expectOk(await store.append(space, new Chain().next()))
        expect(fresh).toBeGreaterThan(next)
        expect(cursorsOf(await store.readAfter(space, 0, 100))).toEqual([next, fresh])
        expect(cursorsOf(await store.readStream(space, c.author, c.stream, 0, 100))).toEqual([next])
      })

      it('re-sending a pruned seq is store/pruned; the chain rules still hold at the head', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        const cursors = await appendAll(store, space, [c.next(), c.next(), c.next()])
        await store.prune(space, cursors[1]!)

        expectErr(await store.append(space, c.resend(0)), 'store/pruned')
        expectErr(await store.append(space, c.resend(1)), 'store/pruned')
        // The head entry is still present: a duplicate of it is still recognised.
        expect(await store.append(space, c.resend(2))).toEqual({ ok: true, cursor: cursors[2], duplicate: true })

        await store.prune(space, ALL)
        expectErr(await store.append(space, c.resend(2)), 'store/pruned')
        expectErr(await store.append(space, entry(c.author, c.stream, 4, c.prevHash, body('gap'))), 'store/seq-gap')
        expectErr(await store.append(space, entry(c.author, c.stream, 3, ZERO, body('bad-prev'))), 'store/chain-mismatch')
        expectOk(await store.append(space, c.next()))
        expect(await store.readAfter(space, 0, 100)).toHaveLength(1)
      })

      it('prune of an unknown space drops nothing', async () => {
        expect(await store.prune(spaceId(), ALL)).toBe(0)
      })

      it('remembers the highest pruned cursor per space, never lowering it', async () => {
        const space = await newSpace(store)
        const other = await newSpace(store)
        expect(await store.prunedUpTo(space)).toBe(0)
        const a = new Chain()
        const cursors: number[] = []
        for (let i = 0; i < 3; i++) cursors.push(expectOk(await store.append(space, a.next())))
        await store.prune(space, cursors[1]!)
        expect(await store.prunedUpTo(space)).toBe(cursors[1])
        await store.prune(space, cursors[0]!)
        expect(await store.prunedUpTo(space)).toBe(cursors[1])
        expect(await store.prunedUpTo(other)).toBe(0)
      })

      it('keeps only the newest K snapshots when asked, and the chain still extends from the newest', async () => {
        const space = await newSpace(store)
        let prev: Uint8Array = ZERO
        const ids: number[] = []
        for (let i = 0; i < 5; i++) {
          const h = rand(32)
          const r = await store.putSnapshot(space, { hash: h, prevHash: prev, covers: i, envelope: body(`s${i}`) })
          if (!r.ok) throw new Error('put failed')
          ids.push(r.id)
          prev = h
        }
        await store.prune(space, 0, 2)
        expect((await store.getSnapshots(space, 10)).map(s => s.id)).toEqual([ids[4], ids[3]])
        const r = await store.putSnapshot(space, { hash: rand(32), prevHash: prev, covers: 9, envelope: body('s5') })
        expect(r.ok).toBe(true)
        await store.prune(space, 0)
        expect(await store.getSnapshots(space, 10)).toHaveLength(3)
      })
    })

    describe('snapshots', () => {
      it('first put with a zero prevHash, then chained; stale prevHash is a conflict; newest first with limit', async () => {
        const space = await newSpace(store)
        expect(await store.getSnapshots(space, 10)).toEqual([])
        const s1: SnapshotPut = { hash: rand(32), prevHash: ZERO, covers: 3, envelope: body('snap-1') }
        const s2: SnapshotPut = { hash: rand(32), prevHash: s1.hash, covers: 9, envelope: body('snap-2') }
        const s3: SnapshotPut = { hash: rand(32), prevHash: s2.hash, covers: 12, envelope: body('snap-3') }

        // A first snapshot must start from zeros.
        const notFirst = await store.putSnapshot(space, { ...s1, prevHash: rand(32) })
        expect(notFirst.ok).toBe(false)
        if (!notFirst.ok) expect(notFirst.code).toBe('store/snapshot-conflict')

        const r1 = await store.putSnapshot(space, s1)
        const r2 = await store.putSnapshot(space, s2)
        if (!r1.ok || !r2.ok) throw new Error('put failed')
        expect(r2.id).toBeGreaterThan(r1.id)

        // A second writer still on s1 (or on nothing) loses.
        for (const prevHash of [s1.hash, ZERO, rand(32)]) {
          const stale = await store.putSnapshot(space, { hash: rand(32), prevHash, covers: 10, envelope: body('stale') })
          expect(stale.ok).toBe(false)
          if (!stale.ok) {
            expect(stale.code).toBe('store/snapshot-conflict')
            expect(typeof stale.message).toBe('string')
          }
        }
        const r3 = await store.putSnapshot(space, s3)
        if (!r3.ok) throw new Error('put failed')
        expect(r3.id).toBeGreaterThan(r2.id)

        const all = await store.getSnapshots(space, 10)
        expect(all.map(s => s.id)).toEqual([r3.id, r2.id, r1.id])
        const want = [s3, s2, s1]
        all.forEach((got, i) => {
          expect(hex(got.hash)).toBe(hex(want[i]!.hash))
          expect(hex(got.prevHash)).toBe(hex(want[i]!.prevHash))
          expect(got.covers).toBe(want[i]!.covers)
          expect(hex(got.envelope)).toBe(hex(want[i]!.envelope))
        })
        expect((await store.getSnapshots(space, 2)).map(s => s.id)).toEqual([r3.id, r2.id])
        expect((await store.getSnapshots(space, 1)).map(s => s.id)).toEqual([r3.id])
        expect(await store.getSnapshots(space, 0)).toEqual([])
      })

      it('of two concurrent puts with the same prevHash exactly one wins', async () => {
        const space = await newSpace(store)
        const base: SnapshotPut = { hash: rand(32), prevHash: ZERO, covers: 1, envelope: body('base') }
        expect((await store.putSnapshot(space, base)).ok).toBe(true)

        const contenders = Array.from({ length: 2 }, (_, i): SnapshotPut => ({ hash: rand(32), prevHash: base.hash, covers: 5 + i, envelope: body(`contender-${i}`) }))
        const results = await Promise.all(contenders.map(s => store.putSnapshot(space, s)))
        const winners = results.flatMap((r, i) => r.ok ? [i] : [])
        expect(winners).toHaveLength(1)
        const loser = results.find(r => !r.ok)
        expect(loser !== undefined && !loser.ok && loser.code).toBe('store/snapshot-conflict')

        const [newest, prev] = await store.getSnapshots(space, 10)
        expect(hex(newest!.hash)).toBe(hex(contenders[winners[0]!]!.hash))
        expect(hex(prev!.hash)).toBe(hex(base.hash))
        expect(await store.getSnapshots(space, 10)).toHaveLength(2)

        // Also for the very first snapshot (both on zeros).
        const space2 = await newSpace(store)
        const firsts = await Promise.all([0, 1, 2].map(i => store.putSnapshot(space2, { hash: rand(32), prevHash: ZERO, covers: i, envelope: body(`first-${i}`) })))
        expect(firsts.filter(r => r.ok)).toHaveLength(1)
        expect(await store.getSnapshots(space2, 10)).toHaveLength(1)
      })

      it('snapshot chains are per space; unknown spaces are refused', async () => {
        const s1 = await newSpace(store)
        const s2 = await newSpace(store)
        const first: SnapshotPut = { hash: rand(32), prevHash: ZERO, covers: 0, envelope: body('s1') }
        expect((await store.putSnapshot(s1, first)).ok).toBe(true)
        // s2 has no snapshot yet, so it starts from zeros, not from s1's head.
        const wrong = await store.putSnapshot(s2, { hash: rand(32), prevHash: first.hash, covers: 0, envelope: body('s2-wrong') })
        expect(wrong.ok).toBe(false)
        expect((await store.putSnapshot(s2, { hash: rand(32), prevHash: ZERO, covers: 0, envelope: body('s2') })).ok).toBe(true)
        expect(await store.getSnapshots(s1, 10)).toHaveLength(1)
        expect(await store.getSnapshots(s2, 10)).toHaveLength(1)

        const unknown = await store.putSnapshot(spaceId(), { hash: rand(32), prevHash: ZERO, covers: 0, envelope: body('x') })
        expect(unknown.ok).toBe(false)
        if (!unknown.ok) expect(unknown.code).toBe('store/no-space')
        expect(await store.getSnapshots(spaceId(), 10)).toEqual([])
      })

      it('snapshots are kept apart from the log', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        const cursors = await appendAll(store, space, [c.next(), c.next()])
        expect((await store.putSnapshot(space, { hash: rand(32), prevHash: ZERO, covers: cursors[1]!, envelope: body('snap') })).ok).toBe(true)
        expect(cursorsOf(await store.readAfter(space, 0, 100))).toEqual(cursors)
        expect(await store.head(space)).toBe(cursors[1])
        await store.prune(space, ALL)
        expect(await store.getSnapshots(space, 10)).toHaveLength(1)
      })
    })

    describe('attestations (issue 7: prune only under a snapshot another member verified)', () => {
      /** Puts `n` chained one-envelope snapshots covering 10, 20, …; returns their hashes and ids, oldest first. */
      async function chain (space: Uint8Array, n: number, prev: Uint8Array = ZERO): Promise<Array<{ hash: Uint8Array; id: number }>> {
        const out: Array<{ hash: Uint8Array; id: number }> = []
        for (let i = 0; i < n; i++) {
          const hash = rand(32)
          const r = await store.putSnapshot(space, { hash, prevHash: prev, covers: (i + 1) * 10, envelope: body(`snap-${hex(hash)}`) })
          if (!r.ok) throw new Error(`put failed: ${r.code}`)
          out.push({ hash, id: r.id })
          prev = hash
        }
        return out
      }
      const attestedIds = async (space: Uint8Array): Promise<number[]> => (await store.getSnapshots(space, 100)).filter(x => x.attested).map(x => x.id)

      it('a new snapshot is unattested; attesting sets the flag on that one only, idempotently', async () => {
        const space = await newSpace(store)
        const snaps = await chain(space, 3)
        expect((await store.getSnapshots(space, 10)).map(x => x.attested)).toEqual([false, false, false])
        expect(await store.getAttestedSnapshot(space)).toBeUndefined()

        const device = rand(32)
        expect(await store.attestSnapshot(space, snaps[1]!.hash, device)).toBe(true)
        expect(await attestedIds(space)).toEqual([snaps[1]!.id])
        // Again, by the same device or another: still ok, still one attested snapshot.
        expect(await store.attestSnapshot(space, snaps[1]!.hash.slice(), device.slice())).toBe(true)
        expect(await store.attestSnapshot(space, snaps[1]!.hash, rand(32))).toBe(true)
        expect(await attestedIds(space)).toEqual([snaps[1]!.id])

        const got = await store.getSnapshot(space, snaps[1]!.hash)
        expect(got).toMatchObject({ id: snaps[1]!.id, covers: 20, attested: true, parts: [] })
        expect((await store.getSnapshot(space, snaps[2]!.hash))?.attested).toBe(false)
        expect((await store.getAttestedSnapshot(space))?.id).toBe(snaps[1]!.id)

        // The newest attested one is the one returned, not the first attested.
        expect(await store.attestSnapshot(space, snaps[2]!.hash, device)).toBe(true)
        expect((await store.getAttestedSnapshot(space))?.id).toBe(snaps[2]!.id)
        expect(await store.attestSnapshot(space, snaps[0]!.hash, device)).toBe(true)
        expect((await store.getAttestedSnapshot(space))?.id).toBe(snaps[2]!.id)
        expect(await attestedIds(space)).toEqual([snaps[2]!.id, snaps[1]!.id, snaps[0]!.id])
      })

      it('an unknown snapshot, or one of another space, cannot be attested or looked up', async () => {
        const space = await newSpace(store)
        const other = await newSpace(store)
        const [s] = await chain(space, 1)
        expect(await store.attestSnapshot(space, rand(32), rand(32))).toBe(false)
        expect(await store.attestSnapshot(other, s!.hash, rand(32))).toBe(false)
        expect(await store.attestSnapshot(spaceId(), s!.hash, rand(32))).toBe(false)
        expect(await store.getSnapshot(other, s!.hash)).toBeUndefined()
        expect(await store.getSnapshot(space, rand(32))).toBeUndefined()
        expect(await store.getAttestedSnapshot(space)).toBeUndefined()
        expect(await store.getAttestedSnapshot(spaceId())).toBeUndefined()
        expect(await attestedIds(space)).toEqual([])
      })

      it('dropping old snapshots keeps the newest attested one and everything newer, whatever K is', async () => {
        const space = await newSpace(store)
        const snaps = await chain(space, 6)
        const ids = snaps.map(x => x.id)
        expect(await store.attestSnapshot(space, snaps[1]!.hash, rand(32))).toBe(true)
        await store.prune(space, 0, 2)
        expect((await store.getSnapshots(space, 10)).map(x => x.id)).toEqual(ids.slice(1).reverse())
        expect((await store.getAttestedSnapshot(space))?.id).toBe(ids[1])

        // A newer attestation moves the floor up: now only the newest K (which include it) stay.
        expect(await store.attestSnapshot(space, snaps[4]!.hash, rand(32))).toBe(true)
        await store.prune(space, 0, 2)
        expect((await store.getSnapshots(space, 10)).map(x => x.id)).toEqual([ids[5], ids[4]])
        // The older attested snapshot went with its attestations.
        expect(await store.getSnapshot(space, snaps[1]!.hash)).toBeUndefined()
        expect(await store.attestSnapshot(space, snaps[1]!.hash, rand(32))).toBe(false)

        // With K = 1 the newest attested one still stays when it is not the newest.
        await chain(space, 2, snaps[5]!.hash)
        await store.prune(space, 0, 1)
        const left = await store.getSnapshots(space, 10)
        expect(left.map(x => x.id)[left.length - 1]).toBe(ids[4])
        expect(left).toHaveLength(4)
      })

      it('without any attested snapshot, old ones are dropped beyond K as before', async () => {
        const space = await newSpace(store)
        const snaps = await chain(space, 4)
        await store.prune(space, 0, 2)
        expect((await store.getSnapshots(space, 10)).map(x => x.id)).toEqual([snaps[3]!.id, snaps[2]!.id])
      })

      it('with a spacing, the history kept is spread out in time: one snapshot per period, the newest stored in it', async () => {
        const space = await newSpace(store)
        const HOUR = 3_600_000
        const t0 = Date.UTC(2026, 0, 1)
        // Stored at 0:00, 0:10, 0:50, 1:05, 2:30, 2:40 (hours:minutes); the newest attested is the fifth.
        const at = [0, 10, 50, 65, 150, 160].map(min => t0 + min * 60_000)
        const snaps: Array<{ hash: Uint8Array; id: number }> = []
        vi.useFakeTimers({ toFake: ['Date'] })
        try {
          for (const t of at) {
            vi.setSystemTime(t)
            snaps.push(...await chain(space, 1, snaps[snaps.length - 1]?.hash ?? ZERO))
          }
        } finally {
          vi.useRealTimers()
        }
        const ids = snaps.map(x => x.id)
        expect(await store.attestSnapshot(space, snaps[4]!.hash, rand(32))).toBe(true)
        // Kept: 2:40 and 2:30 (the attested one and what is newer), then 1:05 for the hour from
        // 1:00, then 0:50 for the hour from 0:00 (0:10 and 0:00 are older in that same hour).
        await store.prune(space, 0, 5, HOUR)
        expect((await store.getSnapshots(space, 10)).map(x => x.id)).toEqual([ids[5], ids[4], ids[3], ids[2]])
        // Three at most: 0:50 goes too.
        await store.prune(space, 0, 3, HOUR)
        expect((await store.getSnapshots(space, 10)).map(x => x.id)).toEqual([ids[5], ids[4], ids[3]])
        // Spacing 0 is the plain newest K.
        await store.prune(space, 0, 2, 0)
        expect((await store.getSnapshots(space, 10)).map(x => x.id)).toEqual([ids[5], ids[4]])
        // The chain still extends from the newest.
        expect((await chain(space, 1, snaps[5]!.hash)).length).toBe(1)
      })

      it('the spacing never drops the newest attested snapshot or anything newer', async () => {
        const space = await newSpace(store)
        // All stored within a second: only the must-keeps and the newest K survive.
        const snaps = await chain(space, 5)
        expect(await store.attestSnapshot(space, snaps[1]!.hash, rand(32))).toBe(true)
        await store.prune(space, 0, 1, 3_600_000)
        expect((await store.getSnapshots(space, 10)).map(x => x.id)).toEqual(snaps.slice(1).map(x => x.id).reverse())
        expect((await store.getAttestedSnapshot(space))?.id).toBe(snaps[1]!.id)
      })

      it('attestations are per space', async () => {
        const a = await newSpace(store)
        const b = await newSpace(store)
        const [sa] = await chain(a, 1)
        const [sb] = await chain(b, 1)
        expect(await store.attestSnapshot(a, sa!.hash, rand(32))).toBe(true)
        expect(await attestedIds(b)).toEqual([])
        expect((await store.getSnapshot(b, sb!.hash))?.attested).toBe(false)
      })
    })

    describe('snapshot parts', () => {
      const part = (label: string, size = 200): { hash: Uint8Array; env: Uint8Array } => {
        const env = new Uint8Array(size)
        env.set(enc.encode(`part:${label}:`).subarray(0, size))
        randomFillSync(env, Math.min(size, 16))
        return { hash: hashOf(env), env }
      }
      const putPart = async (space: Uint8Array, p: { hash: Uint8Array; env: Uint8Array }, max?: number): Promise<void> => {
        const r = await store.putSnapshotPart(space, p.hash, p.env, max)
        if (!r.ok) throw new Error(`part refused: ${r.code}`)
      }
      const partHex = async (space: Uint8Array, h: Uint8Array): Promise<string | undefined> => {
        const b = await store.getSnapshotPart(space, h)
        return b === undefined ? undefined : hex(b)
      }

      it('a part is stored under its hash, readable as exact bytes; the same part again is a duplicate', async () => {
        const space = await newSpace(store)
        const p = part('a', 5000)
        expect(await store.putSnapshotPart(space, p.hash, p.env)).toEqual({ ok: true, duplicate: false })
        expect(await store.putSnapshotPart(space, p.hash.slice(), p.env.slice())).toEqual({ ok: true, duplicate: true })
        expect(await partHex(space, p.hash)).toBe(hex(p.env))
        expect(await store.getSnapshotPart(space, rand(32))).toBeUndefined()
        // Parts are per space.
        const other = await newSpace(store)
        expect(await store.getSnapshotPart(other, p.hash)).toBeUndefined()
        const unknown = await store.putSnapshotPart(spaceId(), p.hash, p.env)
        expect(unknown.ok ? 'ok' : unknown.code).toBe('store/no-space')
      })

      it('part bytes are copied in and out', async () => {
        const space = await newSpace(store)
        const p = part('copy')
        const want = hex(p.env)
        await putPart(space, p)
        p.env.fill(0)
        const got = await store.getSnapshotPart(space, p.hash)
        expect(hex(got!)).toBe(want)
        got!.fill(1)
        expect(await partHex(space, p.hash)).toBe(want)
      })

      it('a snapshot links its parts in order; one naming a part not uploaded is refused and nothing is stored', async () => {
        const space = await newSpace(store)
        const ps = [part('1'), part('2'), part('3')]
        await putPart(space, ps[0]!)
        await putPart(space, ps[2]!)
        const head: SnapshotPut = { hash: rand(32), prevHash: ZERO, covers: 4, envelope: body('head'), parts: ps.map(p => p.hash) }
        const missing = await store.putSnapshot(space, head)
        expect(missing.ok ? 'ok' : missing.code).toBe('store/missing-part')
        expect(await store.getSnapshots(space, 10)).toEqual([])

        await putPart(space, ps[1]!)
        const r = await store.putSnapshot(space, head)
        if (!r.ok) throw new Error(r.code)
        const [got] = await store.getSnapshots(space, 10)
        expect(got!.parts.map(hex)).toEqual(ps.map(p => hex(p.hash)))
        expect((await store.getSnapshot(space, head.hash))!.parts.map(hex)).toEqual(ps.map(p => hex(p.hash)))
        for (const p of ps) expect(await partHex(space, p.hash)).toBe(hex(p.env))

        // Another space's parts do not count.
        const other = await newSpace(store)
        const stranger = part('stranger')
        await putPart(other, stranger)
        const cross = await store.putSnapshot(space, { hash: rand(32), prevHash: head.hash, covers: 5, envelope: body('x'), parts: [stranger.hash] })
        expect(cross.ok ? 'ok' : cross.code).toBe('store/missing-part')
        // A one-envelope snapshot has no parts, with `parts` empty or left out.
        expect((await store.putSnapshot(space, { hash: rand(32), prevHash: head.hash, covers: 5, envelope: body('y'), parts: [] })).ok).toBe(true)
        expect((await store.getSnapshots(space, 1))[0]!.parts).toEqual([])
      })

      it('pending (unlinked) part bytes are capped per space; linking a part frees its share', async () => {
        const space = await newSpace(store)
        const other = await newSpace(store)
        const a = part('a', 400)
        const b = part('b', 400)
        const c = part('c', 400)
        await putPart(space, a, 1000)
        await putPart(space, b, 1000)
        const over = await store.putSnapshotPart(space, c.hash, c.env, 1000)
        expect(over.ok ? 'ok' : over.code).toBe('store/quota')
        expect(await store.getSnapshotPart(space, c.hash)).toBeUndefined()
        // A duplicate of a stored part is not new bytes; another space has its own budget.
        expect(await store.putSnapshotPart(space, a.hash, a.env, 1000)).toEqual({ ok: true, duplicate: true })
        await putPart(other, c, 1000)
        // Without a cap nothing is refused.
        expect((await store.putSnapshotPart(space, part('free', 4000).hash, part('free', 4000).env)).ok).toBe(true)

        const space2 = await newSpace(store)
        await putPart(space2, a, 1000)
        await putPart(space2, b, 1000)
        expect((await store.putSnapshot(space2, { hash: rand(32), prevHash: ZERO, covers: 1, envelope: body('h'), parts: [a.hash, b.hash] })).ok).toBe(true)
        await putPart(space2, c, 1000)
      })

      it('dropPendingParts drops only parts no snapshot linked, stored before the given time', async () => {
        const space = await newSpace(store)
        const linked = part('linked')
        const pending = part('pending')
        await putPart(space, linked)
        await putPart(space, pending)
        expect((await store.putSnapshot(space, { hash: rand(32), prevHash: ZERO, covers: 1, envelope: body('h'), parts: [linked.hash] })).ok).toBe(true)
        expect(await store.dropPendingParts(space, Date.now() - 60_000)).toBe(0)
        expect(await partHex(space, pending.hash)).toBe(hex(pending.env))
        expect(await store.dropPendingParts(space, Date.now() + 1)).toBe(1)
        expect(await store.getSnapshotPart(space, pending.hash)).toBeUndefined()
        expect(await partHex(space, linked.hash)).toBe(hex(linked.env))
        expect(await store.dropPendingParts(spaceId(), Date.now() + 1)).toBe(0)
      })

      it('parts go with their snapshot when it is dropped; parts still linked or pending stay', async () => {
        const space = await newSpace(store)
        const own = [part('old-1'), part('old-2')]
        const shared = part('shared')
        for (const p of [...own, shared]) await putPart(space, p)
        const s1: SnapshotPut = { hash: rand(32), prevHash: ZERO, covers: 1, envelope: body('s1'), parts: [own[0]!.hash, shared.hash, own[1]!.hash] }
        expect((await store.putSnapshot(space, s1)).ok).toBe(true)
        const s2: SnapshotPut = { hash: rand(32), prevHash: s1.hash, covers: 2, envelope: body('s2'), parts: [shared.hash] }
        expect((await store.putSnapshot(space, s2)).ok).toBe(true)
        // Uploaded for a snapshot not put yet.
        const upcoming = part('upcoming')
        await putPart(space, upcoming)

        await store.prune(space, 0, 1)
        expect((await store.getSnapshots(space, 10)).map(x => hex(x.hash))).toEqual([hex(s2.hash)])
        for (const p of own) expect(await store.getSnapshotPart(space, p.hash)).toBeUndefined()
        expect(await partHex(space, shared.hash)).toBe(hex(shared.env))
        expect(await partHex(space, upcoming.hash)).toBe(hex(upcoming.env))
        // The pending part can still be linked.
        expect((await store.putSnapshot(space, { hash: rand(32), prevHash: s2.hash, covers: 3, envelope: body('s3'), parts: [upcoming.hash, shared.hash] })).ok).toBe(true)
        await store.prune(space, 0, 1)
        expect(await partHex(space, shared.hash)).toBe(hex(shared.env))
        expect(await partHex(space, upcoming.hash)).toBe(hex(upcoming.env))
      })

      it('parts of the kept attested snapshot are kept with it', async () => {
        const space = await newSpace(store)
        const p = part('attested')
        await putPart(space, p)
        const s1: SnapshotPut = { hash: rand(32), prevHash: ZERO, covers: 1, envelope: body('s1'), parts: [p.hash] }
        expect((await store.putSnapshot(space, s1)).ok).toBe(true)
        expect(await store.attestSnapshot(space, s1.hash, rand(32))).toBe(true)
        let prev = s1.hash
        for (let i = 0; i < 3; i++) {
          const h = rand(32)
          expect((await store.putSnapshot(space, { hash: h, prevHash: prev, covers: 2 + i, envelope: body(`n${i}`) })).ok).toBe(true)
          prev = h
        }
        await store.prune(space, 1, 1)
        expect(await store.getSnapshots(space, 10)).toHaveLength(4)
        expect(await partHex(space, p.hash)).toBe(hex(p.env))
      })
    })

    describe('log quota (issue 8)', () => {
      it('counts the log bytes per space; an append past maxLogBytes is store/quota and stores nothing', async () => {
        const space = await newSpace(store)
        const other = await newSpace(store)
        const c = new Chain()
        expect(await store.logBytes(space)).toBe(0)
        expectOk(await store.append(space, c.next(rand(600)), 1000))
        expect(await store.logBytes(space)).toBe(600)
        const over = c.next(rand(401))
        expectErr(await store.append(space, over, 1000), 'store/quota')
        expect(await store.logBytes(space)).toBe(600)
        expect(await store.readAfter(space, 0, 100)).toHaveLength(1)
        // Exactly up to the quota is fine; the same entry again is refused as long as it would pass.
        c.entries.pop()
        expectOk(await store.append(space, c.next(rand(400)), 1000))
        expect(await store.logBytes(space)).toBe(1000)
        // Another space has its own count.
        expectOk(await store.append(other, new Chain().next(rand(900)), 1000))
        expect(await store.logBytes(other)).toBe(900)
        expect(await store.logBytes(rand(16))).toBe(0)
      })

      it('a duplicate resend is ok over the quota; quota comes before the chain rules', async () => {
        const space = await newSpace(store)
        const c = new Chain()
        const first = expectOk(await store.append(space, c.next(rand(500)), 500))
        expect(expectOk(await store.append(space, c.resend(0), 500), true)).toBe(first)
        // A seq gap over the quota is a quota refusal (the writer must wait, not re-seal).
        const gap = entry(c.author, c.stream, 5, rand(32), rand(10))
        expectErr(await store.append(space, gap, 500), 'store/quota')
        // Without a quota the same entry is the chain's refusal.
        expectErr(await store.append(space, gap), 'store/seq-gap')
      })

      it('appends in one batch are counted together (no overshoot), and pruning frees their bytes', async () => {
        const space = await newSpace(store)
        const chains = Array.from({ length: 10 }, () => new Chain())
        const results = await Promise.all(chains.map(c => store.append(space, c.next(rand(100)), 550)))
        expect(results.filter(r => r.ok)).toHaveLength(5)
        expect(results.filter(r => !r.ok).map(r => r.ok ? '' : r.code)).toEqual(Array(5).fill('store/quota'))
        expect(await store.logBytes(space)).toBe(500)
        const cursors = results.flatMap(r => r.ok ? [r.cursor] : []).sort((a, b) => a - b)
        await store.prune(space, cursors[2]!)
        expect(await store.logBytes(space)).toBe(200)
        const late = chains.find((_, i) => !results[i]!.ok)!
        late.entries.pop()
        expectOk(await store.append(space, late.next(rand(300)), 550))
        expect(await store.logBytes(space)).toBe(500)
      })

      it('the count survives a restart (backends with reopen)', async (ctx) => {
        if (h.reopen === undefined) return ctx.skip()
        const space = await newSpace(store)
        const c = new Chain()
        for (let i = 0; i < 3; i++) expectOk(await store.append(space, c.next(rand(100))))
        await reopenStore()
        expect(await store.logBytes(space)).toBe(300)
        expectErr(await store.append(space, c.next(rand(1)), 300), 'store/quota')
      })
    })

    describe('across restarts (backends with reopen)', () => {
      it('attestations, parts and their links survive a restart', async (ctx) => {
        if (h.reopen === undefined) return ctx.skip()
        const space = await newSpace(store)
        const env = rand(300)
        const partHash = hashOf(env)
        expect((await store.putSnapshotPart(space, partHash, env)).ok).toBe(true)
        const pendingEnv = rand(300)
        expect((await store.putSnapshotPart(space, hashOf(pendingEnv), pendingEnv)).ok).toBe(true)
        const s1: SnapshotPut = { hash: rand(32), prevHash: ZERO, covers: 3, envelope: body('s1'), parts: [partHash] }
        expect((await store.putSnapshot(space, s1)).ok).toBe(true)
        const device = rand(32)
        expect(await store.attestSnapshot(space, s1.hash, device)).toBe(true)
        const before = await store.getSnapshots(space, 10)

        await reopenStore()

        expect(await store.getSnapshots(space, 10)).toEqual(before)
        expect(before[0]).toMatchObject({ attested: true })
        expect((await store.getAttestedSnapshot(space))?.id).toBe(before[0]!.id)
        expect(hex((await store.getSnapshotPart(space, partHash))!)).toBe(hex(env))
        expect(hex((await store.getSnapshotPart(space, hashOf(pendingEnv)))!)).toBe(hex(pendingEnv))
        expect(await store.attestSnapshot(space, s1.hash, device)).toBe(true)
        // Still pending after the restart, still linked likewise.
        expect(await store.dropPendingParts(space, Date.now() + 1)).toBe(1)
        expect(await store.getSnapshotPart(space, partHash)).toBeDefined()
      })

      it('everything is still there after close and reopen; cursors keep increasing; chains and snapshots remembered', async (ctx) => {
        if (h.reopen === undefined) return ctx.skip()
        const space = await newSpace(store)
        const rec = await store.getSpace(space)
        const a = new Chain()
        const b = new Chain()
        const cursors: number[] = []
        for (let i = 0; i < 4; i++) {
          cursors.push(expectOk(await store.append(space, a.next())))
          cursors.push(expectOk(await store.append(space, b.next())))
        }
        const burst = await Promise.all(Array.from({ length: 5 }, () => store.append(space, a.next())))
        cursors.push(...burst.map(r => expectOk(r)))
        const s1: SnapshotPut = { hash: rand(32), prevHash: ZERO, covers: cursors[3]!, envelope: body('snap-1') }
        const s2: SnapshotPut = { hash: rand(32), prevHash: s1.hash, covers: cursors[7]!, envelope: body('snap-2') }
        expect((await store.putSnapshot(space, s1)).ok).toBe(true)
        expect((await store.putSnapshot(space, s2)).ok).toBe(true)
        await store.prune(space, cursors[1]!)
        const logBefore = await store.readAfter(space, 0, 100)
        const headBefore = await store.head(space)
        const snapsBefore = await store.getSnapshots(space, 10)

        await reopenStore()

        const again = await store.getSpace(space)
        expect(hex(again!.accessPk)).toBe(hex(rec!.accessPk))
        expect(hex(again!.writePk)).toBe(hex(rec!.writePk))
        expect(await store.createSpace(space, spaceRec())).toBe(false)
        expect(cursorsOf(await store.readAfter(space, 0, 100))).toEqual(cursorsOf(logBefore))
        expect(bytesOf(await store.readAfter(space, 0, 100))).toEqual(bytesOf(logBefore))
        expect(await store.head(space)).toBe(headBefore)
        expect(bytesOf(await store.readStream(space, a.author, a.stream, 1, 100))).toEqual(a.entries.slice(1).map(e => hex(e.envelope)))
        expect(await store.getSnapshots(space, 10)).toEqual(snapsBefore)

        // Chain heads remembered: duplicates, pruned seqs, gaps and the next link behave as before.
        expect(await store.append(space, a.resend(a.seq - 1))).toEqual({ ok: true, cursor: cursors[cursors.length - 1], duplicate: true })
        expectErr(await store.append(space, a.resend(0)), 'store/pruned')
        expectErr(await store.append(space, entry(a.author, a.stream, 0, ZERO, body('other'))), 'store/pruned')
        expectErr(await store.append(space, entry(a.author, a.stream, a.seq + 1, a.prevHash, body('gap'))), 'store/seq-gap')
        expectErr(await store.append(space, entry(b.author, b.stream, b.seq, ZERO, body('bad-prev'))), 'store/chain-mismatch')
        expectErr(await store.append(space, entry(b.author, b.stream, b.seq - 1, b.at(b.seq - 2).hash, body('equivocate'))), 'store/equivocation')
        const na = expectOk(await store.append(space, a.next()))
        const nb = expectOk(await store.append(space, b.next()))
        expect(na).toBeGreaterThan(Math.max(...cursors))
        expect(nb).toBeGreaterThan(na)

        // Snapshot chain remembered: stale loses, the newest links on.
        const stale = await store.putSnapshot(space, { hash: rand(32), prevHash: s1.hash, covers: 0, envelope: body('stale') })
        expect(stale.ok).toBe(false)
        const r3 = await store.putSnapshot(space, { hash: rand(32), prevHash: s2.hash, covers: nb, envelope: body('snap-3') })
        if (!r3.ok) throw new Error('put failed')
        expect(r3.id).toBeGreaterThan(snapsBefore[0]!.id)
      })

      it('cursors keep increasing over several restarts, even after pruning everything', async (ctx) => {
        if (h.reopen === undefined) return ctx.skip()
        const space = await newSpace(store)
        const c = new Chain()
        const seen: number[] = []
        for (let round = 0; round < 3; round++) {
          seen.push(...await appendAll(store, space, [c.next(), c.next()]))
          if (round === 1) {
            await store.prune(space, ALL)
            expect(await store.head(space)).toBe(seen[seen.length - 1])
          }
          await reopenStore()
          expect(await store.head(space)).toBe(seen[seen.length - 1])
        }
        expectStrictlyIncreasing(seen)
        expect(cursorsOf(await store.readAfter(space, 0, 100))).toEqual(seen.slice(4))
        expect(bytesOf(await store.readStream(space, c.author, c.stream, 0, 100))).toEqual(c.entries.slice(4).map(e => hex(e.envelope)))
      })

      it('close() settles appends still in flight, and they survive the reopen', async (ctx) => {
        if (h.reopen === undefined) return ctx.skip()
        const space = await newSpace(store)
        const c = new Chain()
        const pending = [store.append(space, c.next()), store.append(space, c.next()), store.append(space, c.next())]
        await store.close()
        const cursors = (await Promise.all(pending)).map(r => expectOk(r))
        expectStrictlyIncreasing(cursors)
        store = await h.reopen()
        expect(cursorsOf(await store.readAfter(space, 0, 100))).toEqual(cursors)
        expectOk(await store.append(space, c.next()))
      })
    })
  })
}
