/** IndexedDB requests and transactions as promises, shared by the browser stores (idb-store.ts, idb-local-files.ts). */
export function req<T> (r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'))
  })
}

/** Resolves when the transaction commits: "written" means the browser committed it. */
export function done (tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'))
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'))
  })
}

/** Deletes a database; when another tab still has it open, the delete completes once that tab closes it. */
export function deleteDb (name: string, idb: IDBFactory = globalThis.indexedDB): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = idb.deleteDatabase(name)
    r.onsuccess = () => resolve()
    r.onerror = () => reject(r.error ?? new Error('could not delete local data'))
    r.onblocked = () => resolve()
  })
}
