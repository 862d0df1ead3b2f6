import type { Readable, Writable } from 'node:stream'

/**
 * Where encrypted file blobs live (issue 12): a port, so k relays can keep them in the database
 * they share instead of each on its own disk. The relay's HTTP handler (relay/blobs.ts) checks
 * membership, capabilities and quotas; a store only keeps opaque, immutable bytes under
 * (space, blob id), both lowercase hex. Every adapter passes test/relay/blob-store-contract.ts.
 */
export interface BlobUpload {
  /** Takes the body; backpressure as any Writable. Nothing is visible under the id yet. */
  readonly sink: Writable
  /**
   * After `sink` finished: makes the blob visible under its id, durably (the upload is answered
   * 201 only after this). `exists` when the id was taken meanwhile (blobs are immutable; the first
   * upload wins), and this upload's bytes are dropped.
   */
  commit (): Promise<'stored' | 'exists'>
  /** Drops what was written (a refused or cut upload); never throws. */
  abort (): Promise<void>
}

export interface BlobStore {
  /** Bytes of a stored blob, undefined when there is none. */
  size (space: string, blob: string): Promise<number | undefined>
  /** The blob's bytes, streamed (a 2 GiB blob is never held whole); call after `size`. */
  read (space: string, blob: string): Readable
  begin (space: string, blob: string): Promise<BlobUpload>
  /** Committed blobs of a space and their bytes (the quota's starting point after a restart). */
  usage (space: string): Promise<{ bytes: number; count: number }>
}
