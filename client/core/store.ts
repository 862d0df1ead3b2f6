import * as map from 'lib0/map'

/**
 * The client's persistence port for one space: what a replica needs to survive a restart with
 * nothing lost (DESIGN.md §4, §6).
 *
 * - `updates`: every Yjs update the replica received or made, stored as received. Storing the raw
 *   updates (not `update` events of the doc) keeps those still waiting for a dependency
 *   (Yjs `pendingStructs`), which would otherwise be lost across a restart.
 * - `meta`: small session state (keys, stream heads, cursor, clientID bindings, own stream), latest wins.
 * - `outbox`: own sealed envelopes not yet acknowledged by the relay, in insertion order, resent
 *   with the same bytes after a reconnect (never re-sealed: a new sealing of a taken seq is
 *   equivocation).
 *
 * Several handles may be open on one space's data at once (two CLI processes on one `$COVE_HOME`,
 * a copied home, several tabs), each sealing into its own stream (issue 7). So the port never
 * addresses data by position: envelopes leave the outbox by identity (`outboxDrop`), and `compact`
 * replaces only what this handle has seen, keeping what others appended meanwhile.
 *
 * `write` resolves once the batch is durable. Adapters: memory (here), file (Node, file-store.ts),
 * IndexedDB (browser, idb-store.ts); all run the contract in test/client/space-store-contract.ts.
 */
export interface StoredSpace {
  readonly meta: Uint8Array | undefined
  readonly updates: Uint8Array[]
  /** Insertion order, including envelopes other handles added and have not dropped. */
  readonly outbox: Uint8Array[]
}

/**
 * One atomic, durable change. Applied in field order: `updates` appended, `outboxAdd` appended,
 * then `outboxDrop` removed (so a dropped envelope is never in the outbox afterwards), then `meta`
 * replaces the stored one (last writer wins across handles).
 */
export interface WriteBatch {
  readonly updates?: readonly Uint8Array[]
  readonly meta?: Uint8Array
  readonly outboxAdd?: readonly Uint8Array[]
  /** Envelopes to remove from the outbox, identified by their bytes (adapters may key them by a digest). Unknown ones are ignored. */
  readonly outboxDrop?: readonly Uint8Array[]
}

export interface SpaceStore {
  /** The stored space. Also marks everything returned as "seen" by this handle (see `compact`). */
  load (): Promise<StoredSpace>
  write (batch: WriteBatch): Promise<void>
  /**
   * Replaces the updates this handle has seen (those its last `load` returned and those it wrote
   * since) by one state (`Y.encodeStateAsUpdate`, which includes pending structs) and, when given,
   * the meta that describes that state, in one atomic step: a crash never leaves a stored doc ahead
   * of (or behind) the stream heads stored with it. `state` must cover everything this handle has
   * seen. Updates other handles appended meanwhile are kept beside it, and the outbox is kept whole.
   */
  compact (state: Uint8Array, meta?: Uint8Array): Promise<void>
  close (): Promise<void>
}

/**
 * Byte equality that stops at the first difference: envelopes are public ciphertext, so unlike
 * `bytes.equalBytes` (constant time, for secrets) nothing is gained by reading them to the end.
 */
export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A bucket for an envelope: its last bytes are its signature's, as good as random. */
const tailKey = (e: Uint8Array): string => String.fromCharCode(...e.subarray(Math.max(0, e.length - 12)))

/**
 * Removes from `outbox` every envelope equal to one in `drop` (in place; unknown ones are ignored),
 * in one pass: comparing each entry with every dropped one took 250 ms for the 4,000 envelopes a
 * snapshot's receipts let go at once, with the session's event loop stalled meanwhile.
 */
function dropFromOutbox (outbox: Uint8Array[], drop: readonly Uint8Array[]): void {
  if (drop.length === 0) return
  const gone = new Map<string, Uint8Array[]>()
  for (const d of drop) map.setIfUndefined(gone, tailKey(d), (): Uint8Array[] => []).push(d)
  let w = 0
  for (const e of outbox) if (gone.get(tailKey(e))?.some(d => sameBytes(d, e)) !== true) outbox[w++] = e
  outbox.length = w
}

export interface MemorySpaceStore extends SpaceStore {
  /** A copy of the stored space, to "restart" a client from (`createMemorySpaceStore(snapshot)`). */
  snapshot (): StoredSpace
  /** Another handle on the same data, as a second process opening the same journal would be. */
  open (): MemorySpaceStore
}

interface MemoryData {
  meta: Uint8Array | undefined
  updates: { readonly id: number; readonly u: Uint8Array }[]
  outbox: Uint8Array[]
  nextId: number
}

/**
 * Volatile store for tests and for the benchmark's readers; the reference the contract suite holds
 * the persistent adapters to. Each stored update carries an id so that `compact` can tell the ones
 * a handle has seen from those another handle (`open()`) added.
 */
export function createMemorySpaceStore (initial?: StoredSpace): MemorySpaceStore {
  const data: MemoryData = { meta: initial?.meta, updates: [], outbox: [...(initial?.outbox ?? [])], nextId: 0 }
  for (const u of initial?.updates ?? []) data.updates.push({ id: data.nextId++, u })
  return memoryHandle(data)
}

function memoryHandle (data: MemoryData): MemorySpaceStore {
  let seen = new Set<number>()
  const snapshot = (): StoredSpace => ({ meta: data.meta, updates: data.updates.map(x => x.u), outbox: [...data.outbox] })
  const append = (u: Uint8Array): void => {
    const id = data.nextId++
    data.updates.push({ id, u: u.slice() })
    seen.add(id)
  }
  return {
    async load () {
      seen = new Set(data.updates.map(x => x.id))
      return snapshot()
    },
    async write (b) {
      for (const u of b.updates ?? []) append(u)
      for (const e of b.outboxAdd ?? []) data.outbox.push(e.slice())
      dropFromOutbox(data.outbox, b.outboxDrop ?? [])
      if (b.meta !== undefined) data.meta = b.meta.slice()
    },
    async compact (state, m) {
      const others = data.updates.filter(x => !seen.has(x.id))
      data.updates = []
      seen = new Set()
      append(state)
      data.updates.push(...others)
      if (m !== undefined) data.meta = m.slice()
    },
    async close () {},
    snapshot,
    open: () => memoryHandle(data)
  }
}
