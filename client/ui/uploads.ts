import { createSignal } from 'solid-js'
import { toB64u, toHex } from '../../shared/bytes.js'
import type { Sodium } from '../../shared/sodium.js'
import { encryptFile, uploadBlob, CHUNK_BYTES, type BlobKeys } from '../core/files.js'
import * as model from '../core/model.js'
import type * as Y from 'yjs'
import { makeThumbnail } from './thumbs.js'

/**
 * Files being encrypted and uploaded in this tab, with their progress. The file item is added to
 * the space only once the relay has the whole blob, so nobody sees a file they cannot download.
 */
export interface Upload {
  readonly id: number
  readonly name: string
  readonly phase: 'encrypting' | 'uploading' | 'failed'
  readonly done: number
  readonly total: number
  readonly error?: string
}

const [uploads, setUploads] = createSignal<readonly Upload[]>([])
export { uploads }
let next = 1

const update = (id: number, patch: Partial<Upload>): void => {
  setUploads(list => list.map(u => u.id === id ? { ...u, ...patch } : u))
}

export function dismissUpload (id: number): void {
  setUploads(list => list.filter(u => u.id !== id))
}

export async function uploadFile (sodium: Sodium, origin: string, keys: BlobKeys, doc: Y.Doc, file: File): Promise<void> {
  const id = next++
  setUploads(list => [...list, { id, name: file.name, phase: 'encrypting', done: 0, total: file.size }])
  try {
    const enc = await encryptFile(sodium, file, (done, total) => update(id, { done, total }))
    update(id, { phase: 'uploading', done: 0, total: enc.size })
    const r = await uploadBlob(sodium, origin, keys, enc, (done, total) => update(id, { done, total }))
    if (!r.ok) {
      update(id, { phase: 'failed', error: r.message })
      return
    }
    const thumb = await makeThumbnail(file)
    model.addFile(doc, {
      name: file.name,
      size: file.size,
      mime: file.type || 'application/octet-stream',
      blob: toHex(enc.blobId),
      key: toB64u(enc.key),
      chunk: CHUNK_BYTES,
      ...(thumb === undefined ? {} : { thumb })
    })
    dismissUpload(id)
  } catch (e) {
    update(id, { phase: 'failed', error: e instanceof Error ? e.message : String(e) })
  }
}
