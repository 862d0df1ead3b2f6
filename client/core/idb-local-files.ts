import { deleteDb, done, req } from './idb.js'
import type { LocalFileStore } from './local-files.js'
import type { QueueEntry } from './upload-queue.js'

/**
 * Browser adapter of the local file store (local-files.ts) on IndexedDB: one database per space,
 * beside the space's own (idb-store.ts), deleted with it when the space is left.
 *
 *   files  blob id (hex) → ciphertext as a Blob (Chromium keeps large Blobs on disk, not in memory)
 *   queue  keyPath `blob` → QueueEntry (upload-queue.ts)
 *
 * Every write is one readwrite transaction with `durability: 'strict'`, resolved on `complete`:
 * once `add` resolves, a reload or a crash keeps the file and its queued upload. Several tabs
 * may open it; only the tab holding the upload lock writes entries after `add`
 * (client/ui/uploads.ts), so no two tabs race on one entry.
 */
export const FILES_DB_PREFIX = 'cove-files-'
const DB_VERSION = 1

function openDb (idb: IDBFactory, spaceIdHex: string): Promise<IDBDatabase> {
  const r = idb.open(FILES_DB_PREFIX + spaceIdHex, DB_VERSION)
  r.onupgradeneeded = () => {
    const db = r.result
    if (!db.objectStoreNames.contains('files')) db.createObjectStore('files')
    if (!db.objectStoreNames.contains('queue')) db.createObjectStore('queue', { keyPath: 'blob' })
  }
  return req(r).then(db => {
    // A newer version of the app in another tab wants to upgrade: let it rather than block it.
    db.onversionchange = () => db.close()
    return db
  })
}

/** The files kept on this device for one space. */
export function createIdbLocalFileStore (spaceIdHex: string, idb: IDBFactory = globalThis.indexedDB): LocalFileStore {
  let dbp: Promise<IDBDatabase> | undefined
  const db = (): Promise<IDBDatabase> => (dbp ??= openDb(idb, spaceIdHex))
  const tx = async (stores: ('files' | 'queue')[], mode: IDBTransactionMode): Promise<IDBTransaction> =>
    (await db()).transaction(stores, mode, { durability: 'strict' })
  return {
    async add (entry, ciphertext) {
      const t = await tx(['files', 'queue'], 'readwrite')
      t.objectStore('files').put(ciphertext, entry.blob)
      t.objectStore('queue').put(entry)
      await done(t)
    },
    async list () {
      const t = await tx(['queue'], 'readonly')
      return await req(t.objectStore('queue').getAll()) as QueueEntry[]
    },
    async put (entry) {
      const t = await tx(['queue'], 'readwrite')
      const q = t.objectStore('queue')
      // Only over an entry still there: a file dropped meanwhile (evicted, space left) stays gone.
      const c = q.openCursor(entry.blob)
      c.onsuccess = () => { c.result?.update(entry) }
      await done(t)
    },
    async ciphertext (blob) {
      const t = await tx(['files'], 'readonly')
      const v: unknown = await req(t.objectStore('files').get(blob))
      return v instanceof Blob ? v : undefined
    },
    async drop (blob) {
      const t = await tx(['files', 'queue'], 'readwrite')
      t.objectStore('files').delete(blob)
      t.objectStore('queue').delete(blob)
      await done(t)
    },
    async close () {
      if (dbp === undefined) return
      const d = await dbp
      dbp = undefined
      d.close()
    }
  }
}

/** Deletes the files kept for a space (leaving it); see idb-store.ts `deleteSpaceDb`. */
export function deleteLocalFilesDb (spaceIdHex: string, idb: IDBFactory = globalThis.indexedDB): Promise<void> {
  return deleteDb(FILES_DB_PREFIX + spaceIdHex, idb)
}
