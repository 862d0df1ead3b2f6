import { fromHex, toHex } from '../shared/bytes.js'
import * as wire from '../shared/wire.js'
import type { Membership, PeerState } from './core-types.js'
import type { LogStore, StoredEntry } from './storage/port.js'

/**
 * Delivery by reading the log (issue 12), for entries this relay did not append itself: another
 * relay's writes (rung by the fan-out bus, or found by the fallback poll) and any entry that would
 * otherwise leave a gap behind what a reader was sent. Each reader gets everything after its own
 * `sent` cursor, in cursor order, so a lost, late or coalesced doorbell delays but never skips.
 *
 * One pull per space at a time; a doorbell during a pull makes it read once more.
 */
export interface PullerDeps {
  readonly store: LogStore
  readonly subscribers: Map<string, Set<PeerState>>
  readonly member: (ps: PeerState, spaceId: Uint8Array) => Membership | undefined
  readonly pageSize: number
  /** The longest prefix of rows within one frame's byte budget (never empty). */
  readonly fit: (rows: StoredEntry[]) => StoredEntry[]
  readonly log: (line: string) => void
}

export interface Puller {
  /** Reads the space's log after what its live readers were sent and sends each what it lacks. */
  pull (spaceId: Uint8Array): void
  /** Every space with readers here (the bus's connection came back: messages may be lost). */
  pullAll (): void
  /** The fallback poll: pulls the spaces whose head moved past what a reader here was sent. */
  poll (): Promise<void>
  /**
   * Sends one reader everything up to `upTo` it was not sent yet. Before the ack of its own write
   * at a cursor past `upTo`: a client takes an ack as "every entry below it reached me first"
   * (client/core/connection.ts `acked`), which one relay gave for free and k relays must keep.
   */
  sendUpTo (ps: PeerState, m: Membership, spaceId: Uint8Array, upTo: number): Promise<void>
}

export function createPuller (d: PullerDeps): Puller {
  const running = new Map<string, { again: boolean }>()

  /** Readers of the space that are live (not closed, not in their own catch-up loop). */
  const live = (key: string, spaceId: Uint8Array): Array<[PeerState, Membership]> => {
    const out: Array<[PeerState, Membership]> = []
    for (const ps of d.subscribers.get(key) ?? []) {
      const m = d.member(ps, spaceId)
      if (m === undefined || ps.closed) continue
      // A catch-up in progress reads the log again before it goes live.
      if (m.catchingUp) { m.dirty = true; continue }
      out.push([ps, m])
    }
    return out
  }

  async function run (key: string, spaceId: Uint8Array, state: { again: boolean }): Promise<void> {
    while (state.again) {
      state.again = false
      let readers = live(key, spaceId)
      if (readers.length === 0) return
      let after = Math.min(...readers.map(([, m]) => m.sent))
      for (;;) {
        const read = await d.store.readAfter(spaceId, after, d.pageSize)
        if (read.length === 0) break
        readers = live(key, spaceId)
        for (const [ps, m] of readers) sendRows(ps, m, spaceId, read)
        after = read[read.length - 1]!.cursor
        if (read.length < d.pageSize) break
      }
    }
  }

  const pull = (spaceId: Uint8Array, key = toHex(spaceId)): void => {
    const had = running.get(key)
    if (had !== undefined) { had.again = true; return }
    const state = { again: true }
    running.set(key, state)
    run(key, spaceId, state)
      // The store is down: the fallback poll tries again once it is back.
      .catch(e => d.log(`fan-out read failed: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => running.delete(key))
  }

  /** Sends `rows` past what the reader was sent, in frames within the byte budget. */
  function sendRows (ps: PeerState, m: Membership, spaceId: Uint8Array, read: StoredEntry[]): void {
    let rows = read.filter(r => r.cursor > m.sent)
    while (rows.length > 0) {
      const page = d.fit(rows)
      rows = rows.slice(page.length)
      m.sent = page[page.length - 1]!.cursor
      ps.peer.send(wire.writeWire(ps.wire, { type: 'entries', reqId: 0, spaceId, entries: page, head: m.sent, more: false }))
    }
  }

  return {
    async sendUpTo (ps, m, spaceId, upTo) {
      while (m.sent < upTo && !ps.closed && !m.catchingUp) {
        const read = await d.store.readAfter(spaceId, m.sent, d.pageSize)
        if (read.length === 0 || ps.closed || m.catchingUp) return
        sendRows(ps, m, spaceId, read)
      }
    },
    pull: spaceId => pull(spaceId),
    pullAll () {
      for (const key of d.subscribers.keys()) {
        const id = fromHex(key)
        if (id !== undefined) pull(id, key)
      }
    },
    async poll () {
      for (const key of [...d.subscribers.keys()]) {
        const id = fromHex(key)
        if (id === undefined) continue
        const readers = live(key, id)
        if (readers.length === 0) continue
        const head = await d.store.head(id)
        if (readers.some(([, m]) => m.sent < head)) pull(id, key)
      }
    }
  }
}
