import type { QueueEntry } from './upload-queue.js'

/**
 * Files kept on this device, encrypted (issue 9.5): the ciphertext of every file added here, beside
 * its upload-queue entry, one store per space. Adding a file writes both in one step, so there is
 * never a queued upload without its bytes, nor bytes nobody will send.
 *
 * The ciphertext is kept exactly as it goes to the relay (client/core/files.ts): the key lives only
 * in the space's encrypted document, so what sits here reads like what the relay holds. Opening a
 * file added on this device decrypts this copy, with or without a relay.
 *
 * Adapters: IndexedDB in the browser (idb-local-files.ts), memory for tests. Both run
 * test/client/local-files-contract.ts.
 */
export interface LocalFileStore {
  /** Keeps a new file's ciphertext and its queue entry, together. */
  add (entry: QueueEntry, ciphertext: Blob): Promise<void>
  /** Every entry, in no particular order. */
  list (): Promise<QueueEntry[]>
  /** Replaces the entry of `entry.blob`; ignored when that file is no longer kept. */
  put (entry: QueueEntry): Promise<void>
  ciphertext (blob: string): Promise<Blob | undefined>
  /** Forgets a file: its entry and its ciphertext. */
  drop (blob: string): Promise<void>
  close (): Promise<void>
}

/** What a memory store holds; pass the same one to a second store to "reload". */
export interface MemoryLocalFiles { readonly entries: Map<string, QueueEntry>; readonly blobs: Map<string, Blob> }

export const newMemoryLocalFiles = (): MemoryLocalFiles => ({ entries: new Map(), blobs: new Map() })

/** In memory (tests, a browser without IndexedDB): survives a "reload" only through `held`. */
export function createMemoryLocalFileStore (held: MemoryLocalFiles = newMemoryLocalFiles()): LocalFileStore {
  let closed = false
  const open = (): void => { if (closed) throw new Error('local file store is closed') }
  return {
    async add (entry, ciphertext) {
      open()
      held.entries.set(entry.blob, entry)
      held.blobs.set(entry.blob, ciphertext)
    },
    async list () { open(); return [...held.entries.values()] },
    async put (entry) {
      open()
      if (held.entries.has(entry.blob)) held.entries.set(entry.blob, entry)
    },
    async ciphertext (blob) { open(); return held.blobs.get(blob) },
    async drop (blob) {
      open()
      held.entries.delete(blob)
      held.blobs.delete(blob)
    },
    async close () { closed = true }
  }
}
