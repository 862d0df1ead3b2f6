import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SpaceStore, StoredSpace } from '../../client/core/store.js'

/**
 * The one contract every SpaceStore adapter passes (client/core/store.ts): memory and file here;
 * IndexedDB has no implementation under Node in this repo (no fake-indexeddb), so it runs nowhere yet.
 *
 * `setup` is called before every case and gives fresh, empty data. `open()` returns a new handle
 * on that data: a later one after `close()` is a restart; two open at once are two processes (or
 * tabs) sharing one space, which the port must tolerate (issue 7). `cleanup` removes the data.
 */
export interface SpaceStoreHarness {
  open: () => SpaceStore
  cleanup: () => Promise<void>
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const b = (s: string): Uint8Array => enc.encode(s)
const strs = (xs: readonly Uint8Array[]): string[] => xs.map(x => dec.decode(x))
const view = (s: StoredSpace): { meta: string | undefined; updates: string[]; outbox: string[] } =>
  ({ meta: s.meta === undefined ? undefined : dec.decode(s.meta), updates: strs(s.updates), outbox: strs(s.outbox) })

export function runSpaceStoreContract (name: string, setup: () => Promise<SpaceStoreHarness>): void {
  describe(`SpaceStore contract: ${name}`, () => {
    let h: SpaceStoreHarness
    let open: SpaceStore[]
    const handle = (): SpaceStore => {
      const s = h.open()
      open.push(s)
      return s
    }
    /** A restart: every handle closed, a new one loads. */
    const reload = async (): Promise<ReturnType<typeof view>> => {
      for (const s of open.splice(0)) await s.close()
      return view(await handle().load())
    }

    beforeEach(async () => {
      h = await setup()
      open = []
    })
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close()
      await h.cleanup()
    })

    it('starts empty', async () => {
      expect(view(await handle().load())).toEqual({ meta: undefined, updates: [], outbox: [] })
    })

    it('reloads after close exactly what was written: updates and outbox in order, the last meta', async () => {
      const s = handle()
      await s.load()
      await s.write({ updates: [b('u0'), b('u1')], meta: b('m0'), outboxAdd: [b('e0')] })
      await s.write({})
      await s.write({ updates: [b('u2')], outboxAdd: [b('e1'), b('e2')] })
      await s.write({ meta: b('m1') })
      expect(await reload()).toEqual({ meta: 'm1', updates: ['u0', 'u1', 'u2'], outbox: ['e0', 'e1', 'e2'] })
    })

    it('keeps copies, not the caller\'s buffers', async () => {
      const s = handle()
      const u = b('u0')
      const e = b('e0')
      const m = b('m0')
      await s.write({ updates: [u], outboxAdd: [e], meta: m })
      u.fill(0); e.fill(0); m.fill(0)
      expect(view(await s.load())).toEqual({ meta: 'm0', updates: ['u0'], outbox: ['e0'] })
    })

    it('drops outbox envelopes by identity, in any order, keeping the order of the rest', async () => {
      const s = handle()
      await s.write({ outboxAdd: ['e0', 'e1', 'e2', 'e3', 'e4', 'e5'].map(b) })
      await s.write({ outboxDrop: [b('e3')] })
      await s.write({ outboxDrop: [b('e0')] })
      await s.write({ outboxDrop: [b('e5'), b('e1')], outboxAdd: [b('e6')] })
      expect(view(await s.load()).outbox).toEqual(['e2', 'e4', 'e6'])
      expect((await reload()).outbox).toEqual(['e2', 'e4', 'e6'])
    })

    it('ignores drops of unknown envelopes, including near misses', async () => {
      const s = handle()
      await s.write({ outboxAdd: [b('e0'), b('e1')] })
      await s.write({ outboxDrop: [b('e2'), b('e'), b('e00'), b('E0'), new Uint8Array(0)] })
      await s.write({ outboxDrop: [b('e0')] })
      await s.write({ outboxDrop: [b('e0')] })
      expect((await reload()).outbox).toEqual(['e1'])
    })

    it('drops the envelopes named among hundreds that end in the same bytes, in one batch', async () => {
      // The memory adapter buckets by an envelope's last bytes: equal tails must still be told apart.
      const s = handle()
      const names = Array.from({ length: 300 }, (_, i) => `e${i}-same-last-bytes-of-all`)
      await s.write({ outboxAdd: names.map(b) })
      await s.write({ outboxDrop: names.filter((_, i) => i % 3 === 0).map(b).reverse() })
      expect((await reload()).outbox).toEqual(names.filter((_, i) => i % 3 !== 0))
    })

    it('drops only the envelope named, even when another shares its 32-bit FNV-1a hash', async () => {
      // `env-7pf8` and `env-orj6` collide under FNV-1a (the IndexedDB adapter's lookup hash).
      const s = handle()
      await s.write({ outboxAdd: [b('env-7pf8'), b('env-orj6'), b('env-7pf8!')] })
      await s.write({ outboxDrop: [b('env-orj6')] })
      expect((await reload()).outbox).toEqual(['env-7pf8', 'env-7pf8!'])
    })

    it('applies a batch as updates, adds, drops, meta: an envelope added and dropped in one batch is gone', async () => {
      const s = handle()
      await s.write({ outboxAdd: [b('e0')] })
      await s.write({ outboxAdd: [b('e1'), b('e2')], outboxDrop: [b('e0'), b('e2')], updates: [b('u0')], meta: b('m') })
      expect(await reload()).toEqual({ meta: 'm', updates: ['u0'], outbox: ['e1'] })
    })

    it('compact replaces the updates by the state and keeps the outbox and the meta', async () => {
      const s = handle()
      await s.load()
      await s.write({ updates: [b('u0'), b('u1')], outboxAdd: [b('e0'), b('e1')], meta: b('m0') })
      await s.write({ outboxDrop: [b('e0')] })
      await s.compact(b('S1'))
      expect(view(await s.load())).toEqual({ meta: 'm0', updates: ['S1'], outbox: ['e1'] })
      await s.write({ updates: [b('u2')], outboxAdd: [b('e2')] })
      await s.compact(b('S2'), b('m2'))
      await s.write({ updates: [b('u3')] })
      expect(await reload()).toEqual({ meta: 'm2', updates: ['S2', 'u3'], outbox: ['e1', 'e2'] })
    })

    it('compact keeps what another handle appended since this one loaded', async () => {
      const a = handle()
      const c = handle()
      await a.write({ updates: [b('u0')], outboxAdd: [b('a0')] })
      await a.load()
      await c.load()
      await c.write({ updates: [b('c1')], outboxAdd: [b('c0'), b('c1')] })
      await a.write({ updates: [b('a1')], outboxAdd: [b('a1')] })
      await c.write({ outboxDrop: [b('c0')] })
      // a's state covers what a loaded and wrote (u0, a1), not c1.
      await a.compact(b('A[u0,a1]'), b('mA'))
      await c.write({ updates: [b('c2')], outboxAdd: [b('c2')] })
      await a.write({ outboxDrop: [b('a0')] })
      const now = view(await handle().load())
      expect(now.meta).toBe('mA')
      expect([...now.updates].sort()).toEqual(['A[u0,a1]', 'c1', 'c2'])
      expect(now.outbox).toEqual(['c1', 'a1', 'c2'])
    })

    it('two handles compacting in turn lose nothing and keep a bounded number of states', async () => {
      const a = handle()
      const c = handle()
      await a.load()
      await c.load()
      const seenA: string[] = []
      const seenC: string[] = []
      for (let round = 0; round < 6; round++) {
        await a.write({ updates: [b(`a${round}`)] })
        seenA.push(`a${round}`)
        await c.write({ updates: [b(`c${round}`)] })
        seenC.push(`c${round}`)
        if (round % 2 === 0) await a.compact(b(`A[${seenA.join(',')}]`))
        else await c.compact(b(`C[${seenC.join(',')}]`))
      }
      const got = (await reload()).updates
      // Every update is in some record, alone or inside a state (`X[id,…]`) that covers it.
      const covered = new Set(got.flatMap(u => /^\w\[(.*)\]$/.exec(u)?.[1]?.split(',') ?? [u]))
      expect([...seenA, ...seenC].filter(id => !covered.has(id))).toEqual([])
      // Each handle's compaction folds away what it had seen: at most one state per handle plus
      // what was appended since the last compaction stays.
      expect(got.length).toBeLessThanOrEqual(4)
    })

    it('a handle that never loaded compacts only what it wrote itself', async () => {
      const a = handle()
      await a.write({ updates: [b('u0'), b('u1')], meta: b('m') })
      await a.close()
      const c = handle()
      await c.write({ updates: [b('c0')] })
      await c.compact(b('C[c0]'))
      const got = await reload()
      expect([...got.updates].sort()).toEqual(['C[c0]', 'u0', 'u1'])
      expect(got.meta).toBe('m')
    })

    it('takes the last meta written by any handle', async () => {
      const a = handle()
      const c = handle()
      await a.write({ meta: b('a') })
      await c.write({ meta: b('c') })
      expect((await reload()).meta).toBe('c')
    })
  })
}
