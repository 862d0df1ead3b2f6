import { Show, createEffect, createMemo, createSignal, on, onCleanup, onMount } from 'solid-js'
import type { ItemView } from '../bridge.js'
import { readPlain, saveBlob, type FileSource } from '../file-bytes.js'
import { downloadFailure } from '../file-words.js'
import { throttled } from '../uploads.js'
import { follow, imageType, position, step, swipe } from '../photos.js'
import { createThumbUrl } from '../thumb-url.js'

/**
 * One photo at full size (issue 9, Photos), decrypted in the page, with previous and next (arrow
 * keys, buttons, a horizontal swipe), Download of the original bytes, and Escape to close.
 *
 * A native modal `<dialog>`: the browser makes the page behind inert and turns Escape into
 * `close`. The shown photo has one object URL, revoked as soon as another photo is shown or the
 * viewer closes; besides it only the last few photos' plaintext is held (full-size photos are
 * megabytes each), and nothing once the viewer is closed.
 * The list is live: a photo another member adds appears in the count at once, and when the
 * shown one is deleted the viewer moves to its neighbour (or closes when none is left).
 */
export interface PhotoViewerProps {
  /** The space's photos, in its order (live). */
  readonly photos: readonly ItemView[]
  /** The photo to show first. */
  readonly startId: string
  readonly source: FileSource
  /** Called once, with the photo shown last, so the grid can put focus back on its tile. */
  readonly onClose: (lastId: string) => void
}

interface Full { readonly id: string; readonly blob: Blob; readonly url: string }

/**
 * Why the full size is not shown, in words (file-words.ts), saying what is shown instead when
 * the photo is still on its adder's device: its preview, until the upload, which then shows by itself.
 */
function failureText (code: string, message: string, p: ItemView): string {
  const why = downloadFailure(code, message, p.pending, p.from, navigator.onLine)
  return code === 'file/not-found' && p.pending && p.hasThumb ? `${why} This is its preview; the full size shows here once it is uploaded.` : why
}

/** Decrypted photos kept while the viewer is open (the shown one included). */
const RECENT = 4

export function PhotoViewer (props: PhotoViewerProps) {
  let dialog: HTMLDialogElement | undefined
  let closeButton: HTMLButtonElement | undefined
  const [id, setId] = createSignal(props.startId)
  /** Where the shown photo was: where to go should it be deleted while shown. */
  let lastIndex = 0
  const index = createMemo(() => {
    const i = props.photos.findIndex(p => p.id === id())
    if (i >= 0) lastIndex = i
    return i
  })
  const count = (): number => props.photos.length
  const current = (): ItemView | undefined => props.photos[index()]
  createEffect(() => {
    if (index() >= 0) return
    const next = follow(props.photos.map(p => p.id), id(), lastIndex)
    if (next === undefined) dialog?.close()
    else setId(next)
  })

  const go = (delta: number): void => {
    const i = index()
    if (i < 0 || count() < 2) return
    const p = props.photos[step(i, delta, count())]
    if (p !== undefined) setId(p.id)
  }

  // The shown photo's plaintext. A token drops the answer to a photo no longer shown (quick
  // arrows: decryptions finish out of order).
  const [full, setFull] = createSignal<Full | undefined>()
  const [failure, setFailure] = createSignal<string | undefined>()
  const [undecodable, setUndecodable] = createSignal(false)
  /** How much of the shown photo is decrypted (0..1), while it is. */
  const [progress, setProgress] = createSignal(0)
  let token = 0
  const drop = (): void => { const f = full(); if (f !== undefined) URL.revokeObjectURL(f.url); setFull(undefined) }
  const typeOf = (p: ItemView): string => imageType(p) ?? 'application/octet-stream'
  // The last few photos' plaintext, so going back and forth neither fetches nor decrypts again:
  // plain Blobs (no URL to revoke), a handful at most, gone with the viewer.
  const recent = new Map<string, Blob>()
  const remember = (key: string, b: Blob): void => {
    recent.delete(key)
    recent.set(key, b)
    for (const old of recent.keys()) {
      if (recent.size <= RECENT) break
      recent.delete(old)
    }
  }
  const load = async (p: ItemView): Promise<void> => {
    const mine = ++token
    const hit = recent.get(p.id)
    setProgress(0)
    const onProgress = throttled((done, total) => { if (mine === token && total > 0) setProgress(Math.min(1, done / total)) })
    const r = hit !== undefined ? { ok: true as const, value: hit } : await readPlain(props.source, p.id, typeOf(p), onProgress)
    if (r.ok) remember(p.id, r.value)
    if (mine !== token) return
    if (r.ok) setFull({ id: p.id, blob: r.value, url: URL.createObjectURL(r.value) })
    else setFailure(failureText(r.code, r.message, p))
  }
  createEffect(on(id, () => {
    drop()
    setFailure(undefined)
    setUndecodable(false)
    const p = current()
    if (p !== undefined) void load(p)
  }))
  // A photo shown before its adder uploaded it: its bytes are on the relay once `pending` clears.
  // (Not `defer`: a deferred `on` does not record its first input, so `was` would be undefined.)
  createEffect(on(() => [id(), current()?.pending] as const, ([shownId, pending], was) => {
    const p = current()
    if (was?.[0] !== shownId || was[1] !== true || pending !== false || p === undefined || shown() !== undefined) return
    setFailure(undefined)
    void load(p)
  }))
  onCleanup(() => { token++; drop(); recent.clear() })

  const thumb = createThumbUrl(() => props.source.doc, id, () => current()?.hasThumb === true)
  const shown = (): Full | undefined => { const f = full(); return f?.id === id() ? f : undefined }

  const [saving, setSaving] = createSignal(false)
  const download = async (): Promise<void> => {
    const p = current()
    if (p === undefined) return
    const have = shown()?.blob ?? recent.get(p.id)
    if (have !== undefined) return saveBlob(have, p.name)
    setSaving(true)
    const r = await readPlain(props.source, p.id, typeOf(p))
    setSaving(false)
    if (r.ok) saveBlob(r.value, p.name)
    else setFailure(failureText(r.code, r.message, p))
  }

  // Swipes: a pointer's way from down to up; one pointer at a time (a second finger is a pinch).
  let start: { readonly pointer: number; readonly x: number; readonly y: number } | undefined
  const onDown = (e: PointerEvent): void => { if (e.isPrimary) start = { pointer: e.pointerId, x: e.clientX, y: e.clientY } }
  const onUp = (e: PointerEvent): void => {
    const s = start
    start = undefined
    if (s === undefined || s.pointer !== e.pointerId) return
    const d = swipe(e.clientX - s.x, e.clientY - s.y)
    if (d !== 0) go(d)
  }

  // A modal <dialog> makes the page inert, but Tab past its last control still leaves for the
  // browser's own UI; wrap it round instead, so keyboard users stay with the photo.
  const trapTab = (e: KeyboardEvent): void => {
    const els = Array.from(dialog?.querySelectorAll<HTMLElement>('button:not(:disabled)') ?? [])
    const first = els[0]
    const last = els[els.length - 1]
    if (first === undefined || last === undefined) return void e.preventDefault()
    const at = document.activeElement
    if (e.shiftKey && (at === first || !dialog?.contains(at))) { e.preventDefault(); last.focus() }
    else if (!e.shiftKey && (at === last || !dialog?.contains(at))) { e.preventDefault(); first.focus() }
  }

  const onKey = (e: KeyboardEvent): void => {
    if (e.key === 'Tab') return trapTab(e)
    if (e.altKey || e.ctrlKey || e.metaKey) return
    if (e.key === 'ArrowRight') { e.preventDefault(); go(1) }
    else if (e.key === 'ArrowLeft') { e.preventDefault(); go(-1) }
  }

  onMount(() => {
    if (dialog?.open === false) dialog.showModal()
    // Focus on Close, not on a photo control: Enter or Space then never changes the photo by surprise.
    closeButton?.focus()
  })

  return (
    <dialog
      ref={dialog}
      class="viewer"
      aria-label="Photo viewer"
      aria-describedby="viewer-position"
      data-testid="photo-viewer"
      onKeyDown={onKey}
      onClose={() => props.onClose(id())}
    >
      <div class="viewer-bar">
        <div class="viewer-title">
          <strong class="viewer-name" data-testid="viewer-name">{current()?.name ?? ''}</strong>
          <span id="viewer-position" class="viewer-position" data-testid="viewer-position" aria-live="polite">{index() >= 0 ? position(index(), count()) : ''}</span>
        </div>
        <button type="button" onClick={() => void download()} disabled={saving()} data-testid="viewer-download">Download</button>
        <button type="button" ref={closeButton} onClick={() => dialog?.close()} aria-label="Close viewer" data-testid="viewer-close">✕</button>
      </div>
      <div class="viewer-stage" onPointerDown={onDown} onPointerUp={onUp} onPointerCancel={() => { start = undefined }} data-testid="viewer-stage">
        <Show when={shown()?.url ?? thumb()}>
          {src => (
            <img
              class="viewer-img"
              classList={{ preview: shown() === undefined }}
              src={src()}
              alt={current()?.name ?? ''}
              draggable={false}
              data-file-id={id()}
              data-state={shown() === undefined ? 'preview' : 'full'}
              data-testid="viewer-img"
              onError={() => { if (shown() !== undefined) setUndecodable(true) }}
            />
          )}
        </Show>
        <Show when={shown() === undefined && failure() === undefined}>
          <p class="viewer-note" role="status">Decrypting…<span aria-hidden="true">{progress() > 0 ? ` ${Math.floor(progress() * 100)} %` : ''}</span></p>
        </Show>
        <Show when={failure()}>{f => <p class="viewer-note" role="alert" data-testid="viewer-error">{f()}</p>}</Show>
        <Show when={undecodable()}>
          <p class="viewer-note" role="alert">This browser cannot show this image. Download saves it as it was added.</p>
        </Show>
        <Show when={count() > 1}>
          <button type="button" class="viewer-nav prev" onClick={() => go(-1)} aria-label="Previous photo" data-testid="viewer-prev">‹</button>
          <button type="button" class="viewer-nav next" onClick={() => go(1)} aria-label="Next photo" data-testid="viewer-next">›</button>
        </Show>
      </div>
    </dialog>
  )
}
