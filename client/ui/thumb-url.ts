import { createMemo, onCleanup, type Accessor } from 'solid-js'
import type * as Y from 'yjs'
import * as model from '../core/model.js'

/**
 * A blob: URL of a file item's thumbnail (made on the adding device by thumbs.ts and kept in the
 * encrypted document, so it shows offline and with nothing downloaded). The CSP allows img-src
 * blob:. The URL is revoked when the item or its thumbnail changes and when the owner goes, so a
 * grid of hundreds of photos does not pin hundreds of JPEGs in memory after it closes.
 */
export function createThumbUrl (doc: () => Y.Doc, id: () => string, hasThumb: () => boolean): Accessor<string | undefined> {
  const url = createMemo<string | undefined>(prev => {
    if (prev !== undefined) URL.revokeObjectURL(prev)
    if (!hasThumb()) return undefined
    const t = model.findItem(doc(), id())?.get('thumb')
    return t instanceof Uint8Array ? URL.createObjectURL(new Blob([t as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' })) : undefined
  }, undefined)
  onCleanup(() => { const u = url(); if (u !== undefined) URL.revokeObjectURL(u) })
  return url
}
