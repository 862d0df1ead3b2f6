import { Show, createEffect, createMemo, createSignal, onCleanup, useContext } from 'solid-js'
import type * as Y from 'yjs'
import { fromB64u, fromHex } from '../../../shared/bytes.js'
import type { Sodium } from '../../../shared/sodium.js'
import { decryptBlob, downloadFile, type BlobKeys } from '../../core/files.js'
import * as model from '../../core/model.js'
import type { ItemView } from '../bridge.js'
import { cardStatus, downloadFailure } from '../file-words.js'
import { formatBytes } from '../format.js'
import { SpaceFilesContext, throttled } from '../uploads.js'

/**
 * A file or photo: its on-device thumbnail, where its bytes are, and a download that decrypts in
 * the browser: from the copy kept on this device when it was added here (so it opens offline),
 * else from the relay. A file still on another member's device cannot be downloaded yet, and
 * says so (issue 9.5).
 */
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

  const files = useContext(SpaceFilesContext)
  const blob = String(model.findItem(props.doc, props.item.id)?.get('blob') ?? '')
  /** This device's entry for the file, when it was added here. */
  const row = createMemo(() => files?.rows().find(r => r.blob === blob))
  const status = (): string => cardStatus(props.item.pending, props.item.from, row())
  // The worker clears `pending` as soon as the relay has the file; should that edit have missed
  // (the item reached this tab's document after the upload), any tab that sees both clears it.
  createEffect(() => { if (props.item.pending && row()?.phase === 'uploaded') model.markFileUploaded(props.doc, props.item.id, blob) })

  const download = async (): Promise<void> => {
    setError(undefined)
    const m = model.findItem(props.doc, props.item.id)
    const key = fromB64u(String(m?.get('key') ?? ''))
    const blobId = fromHex(blob)
    if (key === undefined || blobId?.length !== 16) return void setError('This file entry is damaged.')
    setProgress({ done: 0, total: props.item.size })
    const start = performance.now()
    const kept = await files?.local(blob)
    const onProgress = throttled((done, total) => { setProgress({ done, total }) })
    const r = kept !== undefined
      ? await decryptBlob(props.sodium, kept, key, blobId, onProgress)
      : await downloadFile(props.sodium, props.origin, props.keys, blobId, key, onProgress)
    setProgress(undefined)
    if (!r.ok) return void setError(downloadFailure(r.code, r.message, props.item.pending, props.item.from, navigator.onLine))
    try { performance.measure(kept === undefined ? 'cove:download' : 'cove:open-kept', { start, end: performance.now(), detail: { bytes: props.item.size } }) } catch {}
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
        <span class="muted file-status" data-testid="file-status">{status()}</span>
        <button type="button" onClick={() => void download()} disabled={progress() !== undefined || (props.item.pending && row() === undefined)} data-testid="download">Download</button>
        <Show when={progress()}>{p => <progress max={Math.max(1, p().total)} value={p().done} aria-label="Download progress" />}</Show>
        <Show when={error()}>{e => <span class="error-text" role="alert">{e()}</span>}</Show>
      </div>
    </div>
  )
}
