import { Show, createMemo, createSignal, onCleanup } from 'solid-js'
import type * as Y from 'yjs'
import { fromB64u, fromHex } from '../../../shared/bytes.js'
import type { Sodium } from '../../../shared/sodium.js'
import { downloadFile, type BlobKeys } from '../../core/files.js'
import * as model from '../../core/model.js'
import type { ItemView } from '../bridge.js'
import { formatBytes } from '../format.js'

/** A file or photo: its on-device thumbnail, and a download that decrypts in the browser. */
export interface FileItemProps {
  readonly doc: Y.Doc
  readonly item: ItemView
  readonly sodium: Sodium
  readonly origin: string
  readonly keys: BlobKeys
}


export function FileItem (props: FileItemProps) {
  const [progress, setProgress] = createSignal<{ done: number; total: number } | undefined>()
  const [error, setError] = createSignal<string | undefined>()
  // The thumbnail's bytes come from the encrypted doc; shown through a blob: URL (the CSP allows
  // img-src blob:), revoked when it changes or the item goes.
  const thumbUrl = createMemo<string | undefined>(prev => {
    if (prev !== undefined) URL.revokeObjectURL(prev)
    if (!props.item.hasThumb) return undefined
    const t = model.findItem(props.doc, props.item.id)?.get('thumb')
    return t instanceof Uint8Array ? URL.createObjectURL(new Blob([t as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' })) : undefined
  }, undefined)
  onCleanup(() => { const u = thumbUrl(); if (u !== undefined) URL.revokeObjectURL(u) })

  const download = async (): Promise<void> => {
    setError(undefined)
    const m = model.findItem(props.doc, props.item.id)
    const key = fromB64u(String(m?.get('key') ?? ''))
    const blob = String(m?.get('blob') ?? '')
    const blobId = fromHex(blob)
    if (key === undefined || blobId?.length !== 16) return void setError('this file entry is damaged')
    setProgress({ done: 0, total: props.item.size })
    const r = await downloadFile(props.sodium, props.origin, props.keys, blobId, key, (done, total) => setProgress({ done, total }))
    setProgress(undefined)
    if (!r.ok) return void setError(r.message)
    const url = URL.createObjectURL(new Blob([r.value], { type: props.item.mime || 'application/octet-stream' }))
    const a = document.createElement('a')
    a.href = url
    a.download = props.item.name || 'file'
    a.rel = 'noopener'
    document.body.append(a)
    a.click()
    a.remove()
    setTimeout(() => URL.revokeObjectURL(url), 60_000)
  }

  return (
    <div class="file">
      <Show when={thumbUrl()}>{u => <img class="thumb" src={u()} alt={`Preview of ${props.item.name}`} />}</Show>
      <div class="file-meta">
        <strong class="file-name">{props.item.name}</strong>
        <span class="muted">{formatBytes(props.item.size)} · {props.item.mime || 'file'}</span>
        <button type="button" onClick={() => void download()} disabled={progress() !== undefined} data-testid="download">Download</button>
        <Show when={progress()}>{p => <progress max={Math.max(1, p().total)} value={p().done} aria-label="Download progress" />}</Show>
        <Show when={error()}>{e => <span class="error-text" role="alert">{e()}</span>}</Show>
      </div>
    </div>
  )
}
