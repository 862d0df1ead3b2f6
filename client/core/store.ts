/**
 * The client's persistence port for one space: what a replica needs to survive a restart with
 * nothing lost (DESIGN.md §4, §6).
 *
 * - `updates`: every Yjs update the replica received or made, stored as received. Storing the raw
 *   updates (not `update` events of the doc) keeps those still waiting for a dependency
 *   (Yjs `pendingStructs`), which would otherwise be lost across a restart.
 * - `meta`: small session state (keys, stream heads, cursor, clientID bindings, own stream), latest wins.
 * - `outbox`: own sealed envelopes not yet acknowledged by the relay, oldest first, resent with the
 *   same bytes after a reconnect (never re-sealed: a new sealing of a taken seq is equivocation).
 *
 * `write` resolves once the batch is durable. Adapters: memory, file (Node), IndexedDB (browser).
 */
export interface StoredSpace {
  readonly meta: Uint8Array | undefined
  readonly updates: Uint8Array[]
  readonly outbox: Uint8Array[]
}

export interface WriteBatch {
  readonly updates?: readonly Uint8Array[]
  readonly meta?: Uint8Array
  readonly outboxAdd?: readonly Uint8Array[]
  /** Number of envelopes acknowledged, removed from the front of the outbox. */
  readonly outboxDone?: number
}

export interface SpaceStore {
  load (): Promise<StoredSpace>
  write (batch: WriteBatch): Promise<void>
  /**
   * Replaces all updates by one state (`Y.encodeStateAsUpdate`, which includes pending structs)
   * and, when given, the meta that describes that state, in one atomic step: a crash never leaves
   * a stored doc ahead of (or behind) the stream heads stored with it.
   */
  compact (state: Uint8Array, meta?: Uint8Array): Promise<void>
  close (): Promise<void>
}

/** Volatile store for tests and for the benchmark's readers; `snapshot()` lets a test "restart" a client from it. */
export function createMemorySpaceStore (initial?: StoredSpace): SpaceStore & { snapshot (): StoredSpace } {
  let meta = initial?.meta
  let updates = [...(initial?.updates ?? [])]
  let outbox = [...(initial?.outbox ?? [])]
  const snapshot = (): StoredSpace => ({ meta, updates: [...updates], outbox: [...outbox] })
  return {
    async load () { return snapshot() },
    async write (b) {
      if (b.updates !== undefined) for (const u of b.updates) updates.push(u.slice())
      if (b.meta !== undefined) meta = b.meta.slice()
      if (b.outboxDone !== undefined) outbox = outbox.slice(b.outboxDone)
      if (b.outboxAdd !== undefined) for (const e of b.outboxAdd) outbox.push(e.slice())
    },
    async compact (state, m) {
      updates = [state.slice()]
      if (m !== undefined) meta = m.slice()
    },
    async close () {},
    snapshot
  }
}
