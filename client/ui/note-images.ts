import type * as Y from 'yjs'
import { fromB64u, fromHex } from '../../shared/bytes.js'
import type { Sodium } from '../../shared/sodium.js'
import { decryptBlob, downloadFile, type BlobKeys } from '../core/files.js'
import * as model from '../core/model.js'
import type { ImageResult, ImageSource } from './editor/markdown-widgets.js'

/**
 * Images in notes (`![name](cove-file:<id>)`) decrypted in the page, as a file download is
 * (FileItem.tsx): from the copy kept on this device when it was added here, so it shows offline,
 * else from the relay. Until that works (a file still on another member's device, no network)
 * the thumbnail stored in the encrypted document stands in. Only `image/*` files are shown, and
 * only up to MAX_BYTES, so a note cannot make every reader download a huge file.
 */
export const MAX_BYTES = 25 * 1024 * 1024

export interface NoteImageDeps {
  readonly doc: Y.Doc
  readonly sodium: Sodium
  readonly origin: string
  readonly keys: BlobKeys
  /** The ciphertext kept on this device (SpaceFiles.local), if any. */
  readonly local?: (blob: string) => Promise<Blob | undefined>
}

export interface NoteImages extends ImageSource {
  /** Revokes every object URL made (the note's editor is gone). */
  dispose (): void
}

export function createNoteImages (deps: NoteImageDeps): NoteImages {
  const full = new Map<string, Promise<string | undefined>>()
  const thumbs = new Map<string, string | undefined>()
  const urls: string[] = []
  let disposed = false
  const objectUrl = (data: Blob | Uint8Array, type: string): string | undefined => {
    if (disposed) return undefined
    const u = URL.createObjectURL(data instanceof Blob ? new Blob([data], { type }) : new Blob([data as Uint8Array<ArrayBuffer>], { type }))
    urls.push(u)
    return u
  }

  const decrypt = async (m: Y.Map<unknown>): Promise<string | undefined> => {
    const mime = String(m.get('mime') ?? '')
    const blob = String(m.get('blob') ?? '')
    const key = fromB64u(String(m.get('key') ?? ''))
    const blobId = fromHex(blob)
    const size = Number(m.get('size') ?? 0)
    if (!mime.startsWith('image/') || key === undefined || blobId?.length !== 16 || !(size <= MAX_BYTES)) return undefined
    const kept = await deps.local?.(blob).catch(() => undefined)
    if (kept === undefined && m.get('pending') === true) return undefined
    const r = kept !== undefined
      ? await decryptBlob(deps.sodium, kept, key, blobId)
      : await downloadFile(deps.sodium, deps.origin, deps.keys, blobId, key)
    return r.ok ? objectUrl(r.value, mime) : undefined
  }

  return {
    async url (fileId): Promise<ImageResult> {
      const m = model.findItem(deps.doc, fileId)
      if (m === undefined || m.get('kind') !== 'file' || model.isTrashed(m)) return { url: undefined, final: false }
      let p = full.get(fileId)
      if (p === undefined) {
        p = decrypt(m).catch(() => undefined)
        full.set(fileId, p)
      }
      const u = await p
      if (u !== undefined) return { url: u, final: true }
      // Not decrypted (yet): try again next time, and show the thumbnail meanwhile.
      full.delete(fileId)
      if (!thumbs.has(fileId)) {
        const t = m.get('thumb')
        thumbs.set(fileId, t instanceof Uint8Array ? objectUrl(t, 'image/jpeg') : undefined)
      }
      return { url: thumbs.get(fileId), final: false }
    },
    dispose () {
      disposed = true
      for (const u of urls) URL.revokeObjectURL(u)
      urls.length = 0
    }
  }
}
