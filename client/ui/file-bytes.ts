import type * as Y from 'yjs'
import { fromB64u, fromHex } from '../../shared/bytes.js'
import { err, type Result } from '../../shared/errors.js'
import type { Sodium } from '../../shared/sodium.js'
import { decryptBlob, downloadFile, type BlobKeys, type FileErrorCode, type Progress } from '../core/files.js'
import * as model from '../core/model.js'
import type { SpaceFiles } from './uploads.js'

/**
 * A file's plaintext, decrypted in the page (issue 9, Photos): from the ciphertext kept on this
 * device when it was added here (so a photo added offline opens before it is uploaded), else
 * from the relay. The key comes from the encrypted document and never leaves the page.
 */
export interface FileSource {
  readonly doc: Y.Doc
  readonly sodium: Sodium
  readonly origin: string
  readonly keys: BlobKeys
  /** This device's kept files of the space, when the caller has them (SpaceFilesContext). */
  readonly files: SpaceFiles | undefined
}

/** The file's plaintext as a Blob of `type`; `file/damaged` when its entry lacks a key or blob id. */
export async function readPlain (src: FileSource, itemId: string, type: string, onProgress?: Progress): Promise<Result<Blob, FileErrorCode | 'file/damaged'>> {
  const m = model.findItem(src.doc, itemId)
  const blob = String(m?.get('blob') ?? '')
  const key = fromB64u(String(m?.get('key') ?? ''))
  const blobId = fromHex(blob)
  if (key === undefined || blobId?.length !== 16) return err('file/damaged', 'This file entry is damaged.')
  const kept = await src.files?.local(blob)
  const r = kept !== undefined
    ? await decryptBlob(src.sodium, kept, key, blobId, onProgress)
    : await downloadFile(src.sodium, src.origin, src.keys, blobId, key, onProgress)
  // The decrypted parts carry no type; an <img> and a saved file want the real one.
  return r.ok ? { ok: true, value: new Blob([r.value], { type }) } : r
}

/**
 * Saves `blob` as a download named `name` (the original bytes, as added). The object URL lives a
 * minute: the browser reads it asynchronously after the click, and revoking at once can cut a
 * large save short.
 */
export function saveBlob (blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name || 'file'
  a.rel = 'noopener'
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
