import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ReceiptSync, type ReceiptSyncHost } from '../../client/core/receipt-sync.js'
import type { StreamReader } from '../../client/core/reader.js'
import { toHex } from '../../shared/bytes.js'
import type { Frame } from '../../shared/frame.js'
import { deriveKeys, newSpaceSecrets } from '../../shared/keys.js'
import { getSodium } from '../../shared/sodium.js'
import { memberDevice } from '../support/member.js'

/**
 * Who answers a snapshot or a quiet new stream with a receipt (client/core/receipt-sync.ts): at
 * most three members, in turn, whatever the space's size and however slowly receipts travel.
 * Every member answering at a random moment within 2.5 s, unless another's receipt had arrived,
 * made 54 receipts per snapshot with 100 members in a busy process (bench map-writers); here the
 * receipts travel slower than every turn (`latencyMs`), the worst case for "skip once said".
 *
 * With the defence off (every member its own only answerer: `alone`), all 12 answer: the test
 * shows the count it guards can fail.
 */
const MEMBERS = 12

interface World {
  syncs: ReceiptSync[]
  /** Receipts sent by each member. */
  sent: number[]
}

async function world (opts: { latencyMs: number; alone?: boolean; streamOfFirst?: boolean; members?: number; roster?: { full: boolean }; fakes?: number }): Promise<World & { heads: Map<string, { seq: number }> }> {
  const sodium = await getSodium()
  const keys = deriveKeys(sodium, newSpaceSecrets(sodium))
  const devices = Array.from({ length: opts.members ?? MEMBERS }, () => memberDevice(sodium, keys))
  const hexes = devices.map(d => toHex(d.publicKey))
  // Devices a hostile editor minted (certified, with records dated now) that never answer.
  const fakes = Array.from({ length: opts.fakes ?? 0 }, (_, i) => i.toString(16).padStart(64, 'f'))
  const held = { seq: 3, hash: new Uint8Array(32).fill(7), heads: new Map<string, number>(), covers: 0 }
  const syncs: ReceiptSync[] = []
  const sent = devices.map(() => 0)
  // One stream of the first member, who wrote and left: every replica holds it, no receipt named it yet.
  const heads = new Map(opts.streamOfFirst !== true ? [] : [[`${hexes[0]}:0102030405060708`, { seq: 4, hash: new Uint8Array(32).fill(1), cursor: 9 }]])
  devices.forEach((device, i) => {
    const host: ReceiptSyncHost = {
      sodium, keys, device, devicePkHex: hexes[i] as string,
      reader: { heads, stuck: new Set(), hashAt: () => undefined, equivocated: new Set() } as unknown as StreamReader,
      writer: undefined,
      held: () => held,
      send: () => true,
      nextReqId: () => 1,
      alert: () => {},
      dropOwn: () => {},
      fetchStream: () => {},
      newerSnapshot: () => {},
      ready: () => true,
      onRemote: () => () => {},
      request: (make: (reqId: number) => Frame) => {
        const f = make(1)
        if (f.type === 'receipt') {
          sent[i]!++
          // The relay forwards it to every other member, `latencyMs` later.
          setTimeout(() => syncs.forEach((s, j) => { if (j !== i) s.onReceipts({ type: 'receipts', reqId: 0, spaceId: keys.spaceId, envelopes: [f.envelope] }) }), opts.latencyMs)
        }
        return new Promise<Frame>(() => {})
      },
      requeue: () => {},
      answerers: () => opts.alone === true || opts.roster?.full === false ? [hexes[i] as string] : [...hexes, ...fakes]
    }
    syncs.push(new ReceiptSync(host, { receiptMs: 30_000, withholdMs: 15_000 }))
  })
  return { syncs, sent, heads }
}

beforeEach(() => { vi.useFakeTimers() })
afterEach(() => { vi.useRealTimers() })

const total = (w: World): number => w.sent.reduce((a, b) => a + b, 0)

describe('receipt turns', () => {
  it('a snapshot every member holds is answered by one member when receipts travel fast, by at most three when they are slow', async () => {
    for (const [latencyMs, most] of [[50, 1], [20_000, 3]] as const) {
      const w = await world({ latencyMs })
      for (const s of w.syncs) s.snapshotHeld()
      await vi.advanceTimersByTimeAsync(60_000)
      expect(total(w), `latency ${latencyMs} ms`).toBeGreaterThanOrEqual(1)
      expect(total(w), `latency ${latencyMs} ms`).toBeLessThanOrEqual(most)
      for (const s of w.syncs) s.stop()
    }
    // The defence off: every member answers.
    const off = await world({ latencyMs: 20_000, alone: true })
    for (const s of off.syncs) s.snapshotHeld()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(total(off)).toBe(MEMBERS)
    for (const s of off.syncs) s.stop()
  })

  it('a quiet stream no receipt named is answered by one member when receipts travel fast, by at most three when slow, never by its author', async () => {
    for (const [latencyMs, most] of [[50, 1], [20_000, 3]] as const) {
      const w = await world({ latencyMs, streamOfFirst: true })
      // The stream showed up (remote content applied) and stays where it is.
      for (const s of w.syncs) { s.start(); (s as unknown as { heard (): void }).heard() }
      // (Before the first periodic tick at 7.5 s.)
      await vi.advanceTimersByTimeAsync(7000)
      expect(total(w), `latency ${latencyMs} ms`).toBeGreaterThanOrEqual(1)
      expect(total(w), `latency ${latencyMs} ms`).toBeLessThanOrEqual(most)
      expect(w.sent[0]).toBe(0)
      for (const s of w.syncs) s.stop()
    }
    const off = await world({ latencyMs: 20_000, alone: true, streamOfFirst: true })
    for (const s of off.syncs) { s.start(); (s as unknown as { heard (): void }).heard() }
    await vi.advanceTimersByTimeAsync(7000)
    expect(total(off)).toBe(MEMBERS - 1)
    for (const s of off.syncs) s.stop()
  })

  it('beyond 10 editors the receipt cadence stretches with their number: 30 typing members send a third as many', async () => {
    const sends = async (alone: boolean): Promise<number> => {
      // Each knows only itself when it joins (the others' records come after its catch-up).
      const roster = { full: false }
      const w = await world({ latencyMs: 50, alone, members: 30, roster })
      const sk = `${'ab'.repeat(32)}:${'cd'.repeat(8)}`
      w.heads.set(sk, { seq: 0, hash: new Uint8Array(32), cursor: 0 } as { seq: number })
      for (const s of w.syncs) { s.start(); s.caughtUp() }
      roster.full = true
      const at = total(w)
      // Someone types on: what every member holds changes each second.
      const typing = setInterval(() => { const h = w.heads.get(sk)!; h.seq++ }, 1000)
      await vi.advanceTimersByTimeAsync(185_000)
      clearInterval(typing)
      for (const s of w.syncs) s.stop()
      return total(w) - at
    }
    // 30 s × 30 / 10 = 90 s: two each in 185 s (a receipt every 3 s from someone), not six.
    expect(await sends(false)).toBeLessThanOrEqual(2 * 30)
    expect(await sends(true)).toBeGreaterThanOrEqual(5 * 30)
  })
  it('a hostile editor minting devices stretches the cadence to at most 2.5 min, and takes answering turns only', async () => {
    const w = await world({ latencyMs: 50, members: 12, fakes: 488 })
    const sk = `${'ab'.repeat(32)}:${'cd'.repeat(8)}`
    w.heads.set(sk, { seq: 0, hash: new Uint8Array(32), cursor: 0 } as { seq: number })
    for (const s of w.syncs) { s.start(); s.caughtUp() }
    const at = total(w)
    const typing = setInterval(() => { const h = w.heads.get(sk)!; h.seq++ }, 1000)
    // 500 "editors" would make it 25 min; bounded, each honest member still sends at 150 s and 300 s.
    await vi.advanceTimersByTimeAsync(310_000)
    clearInterval(typing)
    for (const s of w.syncs) s.stop()
    expect(total(w) - at).toBeGreaterThanOrEqual(2 * 12)
  })
})
