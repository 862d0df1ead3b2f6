import type { SpaceStore, StoredSpace, WriteBatch } from './store.js'

/**
 * Browser adapter of the space store (client/core/store.ts) on IndexedDB: one database per space,
 * holding the same records as the Node journal (file-store.ts):
 *
 *   updates  autoIncrement key → Yjs update as received (pending structs survive a restart, DESIGN.md §6)
 *   outbox   autoIncrement key → own sealed envelope not yet acknowledged, oldest first
 *   meta     'meta'            → session state, latest wins
 *
 * Each `write` is one readwrite transaction with `durability: 'strict'` and resolves on its
 * `complete` event, so "written" means the browser committed it. y-indexeddb is not used: it
 * persists `update` events of a live doc (which never fire for pending structs) and has no outbox.
 *
 * Only one tab per space writes (the leader, see client/ui/tabs.ts); others read at start.
 */
const STORES = ['updates', 'outbox', 'meta'] as const
export const DB_PREFIX = 'cove-space-'

function req<T> (r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'))
  })
}

function done (tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'))
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'))
  })
}

/** Opens (creating on first use) the database of one space. */
export function openSpaceDb (idb: IDBFactory, spaceIdHex: string): Promise<IDBDatabase> {
  const r = idb.open(DB_PREFIX + spaceIdHex, 1)
  r.onupgradeneeded = () => {
    const db = r.result
    for (const s of STORES) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s, s === 'meta' ? undefined : { autoIncrement: true })
  }
  return req(r)
}

const bytes = (v: unknown): Uint8Array => v instanceof Uint8Array ? v : new Uint8Array(v as ArrayBuffer)

export function createIdbSpaceStore (spaceIdHex: string, idb: IDBFactory = globalThis.indexedDB): SpaceStore {
  let dbp: Promise<IDBDatabase> | undefined
  const db = (): Promise<IDBDatabase> => (dbp ??= openSpaceDb(idb, spaceIdHex))
  const tx = async (mode: IDBTransactionMode): Promise<IDBTransaction> => (await db()).transaction([...STORES], mode, { durability: 'strict' })

  return {
    async load (): Promise<StoredSpace> {
      const t = await tx('readonly')
      const [updates, outbox, meta] = await Promise.all([
        req(t.objectStore('updates').getAll()),
        req(t.objectStore('outbox').getAll()),
        req(t.objectStore('meta').get('meta'))
      ])
      return { meta: meta === undefined ? undefined : bytes(meta), updates: updates.map(bytes), outbox: outbox.map(bytes) }
    },
    async write (b: WriteBatch): Promise<void> {
      const t = await tx('readwrite')
      const u = t.objectStore('updates')
      for (const x of b.updates ?? []) u.add(x.slice())
      const o = t.objectStore('outbox')
      if (b.outboxDone !== undefined && b.outboxDone > 0) {
        // The first `outboxDone` keys in key order (= the order they were added). Deleted from the
        // request's callback, not after an await, so the transaction is still active.
        const keys = o.getAllKeys(null, b.outboxDone)
        keys.onsuccess = () => { for (const k of keys.result) o.delete(k) }
      }
      // New keys are always above existing ones, so the delete above never sees these.
      for (const e of b.outboxAdd ?? []) o.add(e.slice())
      if (b.meta !== undefined) t.objectStore('meta').put(b.meta.slice(), 'meta')
      await done(t)
    },
    async compact (state: Uint8Array, meta?: Uint8Array): Promise<void> {
      const t = await tx('readwrite')
      const u = t.objectStore('updates')
      u.clear()
      u.add(state.slice())
      if (meta !== undefined) t.objectStore('meta').put(meta.slice(), 'meta')
      await done(t)
    },
    async close (): Promise<void> {
      if (dbp === undefined) return
      const d = await dbp
      dbp = undefined
      d.close()
    }
  }
}

/** Deletes every local trace of a space (leaving it on this device). */
export function deleteSpaceDb (spaceIdHex: string, idb: IDBFactory = globalThis.indexedDB): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = idb.deleteDatabase(DB_PREFIX + spaceIdHex)
    r.onsuccess = () => resolve()
    r.onerror = () => reject(r.error ?? new Error('could not delete local data'))
    // Another tab still has it open: the delete completes once that tab closes it.
    r.onblocked = () => resolve()
  })
}
