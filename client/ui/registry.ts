/**
 * The spaces this browser has joined (the start page's list), in IndexedDB database `cove`.
 *
 * An entry keeps the invite fragment (`edit1.…` / `view1.…`) so the space can be reopened
 * without the link; it is as secret as the link itself and never leaves the device. Each
 * space's replica lives in its own database (client/core/idb-store.ts).
 */
export interface SpaceEntry {
  /** spaceId, hex. */
  readonly id: string
  title: string
  /** The invite fragment without '#'. */
  link: string
  mode: 'edit' | 'view'
  readonly addedAt: number
  openedAt: number
}

const DB = 'cove'
const STORE = 'spaces'

function openDb (): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 1)
    r.onupgradeneeded = () => { r.result.createObjectStore(STORE, { keyPath: 'id' }) }
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error ?? new Error('cannot open local storage'))
  })
}

async function run<T> (mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb()
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode)
      const r = fn(tx.objectStore(STORE))
      tx.oncomplete = () => resolve(r.result)
      tx.onerror = () => reject(tx.error ?? new Error('local storage failed'))
      tx.onabort = () => reject(tx.error ?? new Error('local storage failed'))
    })
  } finally {
    db.close()
  }
}

export async function listSpaces (): Promise<SpaceEntry[]> {
  const all = await run('readonly', s => s.getAll() as IDBRequest<SpaceEntry[]>)
  return all.sort((a, b) => b.openedAt - a.openedAt)
}

export function getSpace (id: string): Promise<SpaceEntry | undefined> {
  return run('readonly', s => s.get(id) as IDBRequest<SpaceEntry | undefined>)
}

export async function putSpace (e: SpaceEntry): Promise<void> {
  await run('readwrite', s => s.put(e))
}

export async function removeSpace (id: string): Promise<void> {
  await run('readwrite', s => s.delete(id))
}
