import { deleteDb, done, req } from './idb.js'
import { deleteLocalFilesDb } from './idb-local-files.js'
import { sameBytes, type SpaceStore, type StoredSpace, type WriteBatch } from './store.js'

/**
 * Browser adapter of the space store (client/core/store.ts) on IndexedDB: one database per space,
 * holding the same records as the Node journal (file-store.ts):
 *
 *   updates  autoIncrement key → Yjs update as received (pending structs survive a restart, DESIGN.md §6)
 *   outbox   autoIncrement key → { e: own sealed envelope not yet acknowledged, h: hash32(e) },
 *            index `h`; key order is insertion order
 *   meta     'meta'            → session state, latest wins
 *
 * Each `write` is one readwrite transaction with `durability: 'strict'` and resolves on its
 * `complete` event, so "written" means the browser committed it. y-indexeddb is not used: it
 * persists `update` events of a live doc (which never fire for pending structs) and has no outbox.
 *
 * Several tabs may open it; IndexedDB serializes readwrite transactions, so each batch is atomic
 * against the others. What position would get wrong across tabs is done by identity instead:
 * - an envelope leaves the outbox by its bytes, found through the `h` index and compared in full
 *   (the hash is cheap and synchronous, so the lookup runs inside the transaction; a collision
 *   only costs a comparison, never drops another envelope);
 * - `compact` deletes only the update rows this handle has seen: keys up to the highest one its
 *   `load` returned (keys only grow, and a readwrite transaction allocates them in commit order,
 *   so every row at or below it was part of that load) plus the keys of rows it added since.
 *   Rows other tabs added meanwhile stay beside the new state.
 */
const STORES = ['updates', 'outbox', 'meta'] as const
export const DB_PREFIX = 'cove-space-'
/** v2: outbox rows became `{ e, h }` with an index on `h` (v1 held the bare envelope, dropped by count). */
const DB_VERSION = 2

interface OutboxRow { readonly e: Uint8Array; readonly h: number }

/** FNV-1a over the bytes: a lookup key only, every match is confirmed by `sameBytes`. */
function hash32 (b: Uint8Array): number {
  let h = 0x811c9dc5
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193)
  return h >>> 0
}

const bytes = (v: unknown): Uint8Array => v instanceof Uint8Array ? v : new Uint8Array(v as ArrayBuffer)
/** An outbox row as stored; v1 rows (a bare envelope) are read too, should a migration have been skipped. */
const envelopeOf = (v: unknown): Uint8Array => v instanceof Uint8Array || v instanceof ArrayBuffer ? bytes(v) : bytes((v as OutboxRow).e)

/** Opens (creating on first use, migrating a v1 outbox) the database of one space. */
export function openSpaceDb (idb: IDBFactory, spaceIdHex: string): Promise<IDBDatabase> {
  const r = idb.open(DB_PREFIX + spaceIdHex, DB_VERSION)
  r.onupgradeneeded = () => {
    const db = r.result
    for (const s of STORES) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s, s === 'meta' ? undefined : { autoIncrement: true })
    const outbox = r.transaction!.objectStore('outbox')
    if (!outbox.indexNames.contains('h')) {
      outbox.createIndex('h', 'h')
      // Rewrite v1 rows in place (same keys, so the order stays); the index picks them up as they change.
      const c = outbox.openCursor()
      c.onsuccess = () => {
        const cur = c.result
        if (cur === null) return
        const e = envelopeOf(cur.value)
        cur.update({ e, h: hash32(e) } satisfies OutboxRow)
        cur.continue()
      }
    }
  }
  return req(r).then(db => {
    // A newer version of the app in another tab wants to upgrade: let it rather than block it.
    db.onversionchange = () => db.close()
    return db
  })
}

/** The web app's store of one space; every tab may hold one (see the module comment for how they share it). */
export function createIdbSpaceStore (spaceIdHex: string, idb: IDBFactory = globalThis.indexedDB): SpaceStore {
  let dbp: Promise<IDBDatabase> | undefined
  const db = (): Promise<IDBDatabase> => (dbp ??= openSpaceDb(idb, spaceIdHex))
  const tx = async (mode: IDBTransactionMode): Promise<IDBTransaction> => (await db()).transaction([...STORES], mode, { durability: 'strict' })
  /** Highest update key the last `load` returned: every row at or below it is covered by a compacted state. */
  let loadedUpTo: IDBValidKey | undefined
  /** Keys of update rows this handle added since its last load or compact. */
  let added: IDBValidKey[] = []

  const addUpdate = (store: IDBObjectStore, u: Uint8Array, into: IDBValidKey[]): void => {
    const r = store.add(u.slice())
    r.onsuccess = () => { into.push(r.result) }
  }

  return {
    async load (): Promise<StoredSpace> {
      const t = await tx('readonly')
      const u = t.objectStore('updates')
      const [keys, updates, outbox, meta] = await Promise.all([
        req(u.getAllKeys()),
        req(u.getAll()),
        req(t.objectStore('outbox').getAll()),
        req(t.objectStore('meta').get('meta'))
      ])
      loadedUpTo = keys.at(-1)
      added = []
      return { meta: meta === undefined ? undefined : bytes(meta), updates: updates.map(bytes), outbox: outbox.map(envelopeOf) }
    },
    async write (b: WriteBatch): Promise<void> {
      const t = await tx('readwrite')
      const u = t.objectStore('updates')
      const keys: IDBValidKey[] = []
      for (const x of b.updates ?? []) addUpdate(u, x, keys)
      const o = t.objectStore('outbox')
      for (const e of b.outboxAdd ?? []) o.add({ e: e.slice(), h: hash32(e) } satisfies OutboxRow)
      for (const e of b.outboxDrop ?? []) {
        // Requests run in order, so this also finds rows added just above. Deleted from the
        // request's callback, not after an await, so the transaction is still active.
        const c = o.index('h').openCursor(IDBKeyRange.only(hash32(e)))
        c.onsuccess = () => {
          const cur = c.result
          if (cur === null) return
          if (sameBytes(envelopeOf(cur.value), e)) cur.delete()
          cur.continue()
        }
      }
      if (b.meta !== undefined) t.objectStore('meta').put(b.meta.slice(), 'meta')
      await done(t)
      added.push(...keys)
    },
    async compact (state: Uint8Array, meta?: Uint8Array): Promise<void> {
      const t = await tx('readwrite')
      const u = t.objectStore('updates')
      if (loadedUpTo !== undefined) u.delete(IDBKeyRange.upperBound(loadedUpTo))
      for (const k of added) u.delete(k)
      const keys: IDBValidKey[] = []
      addUpdate(u, state, keys)
      if (meta !== undefined) t.objectStore('meta').put(meta.slice(), 'meta')
      await done(t)
      loadedUpTo = undefined
      added = keys
    },
    async close (): Promise<void> {
      if (dbp === undefined) return
      const d = await dbp
      dbp = undefined
      d.close()
    }
  }
}

/** Deletes every local trace of a space (leaving it on this device): its replica and the files kept here. */
export async function deleteSpaceDb (spaceIdHex: string, idb: IDBFactory = globalThis.indexedDB): Promise<void> {
  await deleteDb(DB_PREFIX + spaceIdHex, idb)
  await deleteLocalFilesDb(spaceIdHex, idb)
}
