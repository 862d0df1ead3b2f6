import { createContext, createSignal, type Accessor } from 'solid-js'
import type * as Y from 'yjs'
import { fromHex, toB64u, toHex } from '../../shared/bytes.js'
import type { Sodium } from '../../shared/sodium.js'
import { CHUNK_BYTES, encryptFile, uploadBlob, type BlobKeys } from '../core/files.js'
import { createIdbLocalFileStore } from '../core/idb-local-files.js'
import type { LocalFileStore } from '../core/local-files.js'
import * as model from '../core/model.js'
import { newEntry } from '../core/upload-queue.js'
import { createUploader, type Uploader, type UploadFn, type UploadView } from '../core/uploader.js'
import { makeThumbnail } from './thumbs.js'

/**
 * The files of one open space on this device (issue 9.5): adding one encrypts it, keeps the
 * ciphertext and its queued upload in IndexedDB (client/core/idb-local-files.ts) and lists it in
 * the space at once, marked `pending` with the adder's name; the upload worker
 * (client/core/uploader.ts) sends it when the relay takes it, and clears the mark.
 *
 * Several tabs of one browser profile may have the space open. Exactly one runs the worker: the
 * one holding the Web Lock `cove-uploads-<space>` (the others queue for it, and take over when it
 * closes), so no file is sent twice. Tabs talk over a BroadcastChannel of the same name: a tab
 * that adds a file tells the worker to look at the store again; the worker tells every tab how
 * the queue stands (progress included); Retry and "the relay is back" go to the worker.
 */
export type RowPhase = UploadView['phase'] | 'encrypting' | 'not-kept'

/** A file of this device as the UI shows it: queued, uploading, uploaded, or still being encrypted. */
export interface UploadRow extends Omit<UploadView, 'phase' | 'error'> {
  readonly phase: RowPhase
  readonly error?: { readonly code: string; readonly message: string }
}

export interface SpaceFiles {
  /** Every file kept on this device for the space (and those being encrypted), oldest first. */
  readonly rows: Accessor<readonly UploadRow[]>
  /**
   * Encrypts, keeps and lists each file at once; the upload follows by itself. Resolves with each
   * file's item id once listed (undefined for one that could not be kept): a note pasting an image
   * refers to it by that id.
   */
  add (files: readonly File[], from: string): Promise<ReadonlyArray<string | undefined>>
  retry (blob: string): void
  /** Hides a file that could not be kept (nothing else can be dismissed: a kept file is never dropped). */
  dismiss (blob: string): void
  /** The ciphertext kept on this device, if any: a file added here opens without the relay. */
  local (blob: string): Promise<Blob | undefined>
  /** The relay answers again (the space's socket is back): queued uploads go now. */
  reachable (): void
  close (): Promise<void>
}

export interface SpaceFilesDeps {
  readonly spaceId: string
  readonly keys: BlobKeys
  readonly sodium: Sodium
  readonly origin: string
  /** The space's document now (it changes when a follower tab becomes the leader). */
  readonly doc: () => Y.Doc
  /** Store factory, for tests; IndexedDB by default. */
  readonly openStore?: (spaceId: string) => LocalFileStore
}

/** Given by SpacePage to the file cards under it. */
export const SpaceFilesContext = createContext<SpaceFiles>()

type Msg =
  | { t: 'changed' }
  | { t: 'views'; views: readonly UploadView[] }
  | { t: 'retry'; blob: string }
  | { t: 'reachable' }
  | { t: 'hello' }

/** A user timing entry (DevTools, and the e2e test's MB/s figures); never fails. */
function measure (name: string, start: number, bytes: number): void {
  try { performance.measure(name, { start, end: performance.now(), detail: { bytes } }) } catch {}
}

/**
 * At most one call per `ms` (and the last one always): progress comes every 64 KiB, 1,600 times
 * for 100 MB, and each call re-renders the row and every file card looking for its own.
 */
export function throttled (fn: (done: number, total: number) => void, ms = 100): (done: number, total: number) => void {
  let last = 0
  return (done, total) => {
    const t = Date.now()
    if (done < total && t - last < ms) return
    last = t
    fn(done, total)
  }
}

/** Why a file could not be kept, in words. */
function keepFailure (e: unknown): string {
  if (e instanceof DOMException && e.name === 'QuotaExceededError') return 'this browser has no room left to keep it'
  return e instanceof Error ? e.message : String(e)
}

export function openSpaceFiles (deps: SpaceFilesDeps): SpaceFiles {
  const name = `cove-uploads-${deps.spaceId}`
  const open = deps.openStore ?? createIdbLocalFileStore
  const store = open(deps.spaceId)
  const [queued, setQueued] = createSignal<readonly UploadView[]>([])
  const [encrypting, setEncrypting] = createSignal<readonly UploadRow[]>([])
  const rows = (): readonly UploadRow[] => [...queued(), ...encrypting()]
  const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(name) : undefined
  const post = (m: Msg): void => { try { channel?.postMessage(m) } catch {} }
  const abort = new AbortController()
  let worker: Uploader | undefined
  let closed = false
  let release: () => void = () => {}
  const held = new Promise<void>(resolve => { release = resolve })
  let nextTmp = 1

  // Progress events come many times a second: the UI and the other tabs hear at most ~10 a second.
  let latest: readonly UploadView[] | undefined
  let flushTimer: ReturnType<typeof setTimeout> | undefined
  const flush = (): void => {
    flushTimer = undefined
    if (latest === undefined) return
    setQueued(latest)
    post({ t: 'views', views: latest })
  }
  const onChange = (v: readonly UploadView[]): void => {
    latest = v
    flushTimer ??= setTimeout(flush, 100)
  }

  const upload: UploadFn = async (e, ciphertext, onProgress, signal) => {
    const start = performance.now()
    const r = await uploadBlob(deps.sodium, deps.origin, deps.keys, { blobId: fromHex(e.blob) ?? new Uint8Array(0), ciphertext, size: ciphertext.size }, onProgress, signal)
    if (r.ok) measure('cove:upload', start, ciphertext.size)
    return r
  }

  /** The worker's run, while this tab holds the lock: `close` waits for it to stop before closing the store. */
  let working: Promise<void> | undefined
  const work = (): Promise<void> => (working = run())
  const run = async (): Promise<void> => {
    if (closed) return
    const w = createUploader({
      store,
      upload,
      onUploaded: e => { if (!closed) model.markFileUploaded(deps.doc(), e.item, e.blob) },
      onChange,
      offline: () => globalThis.navigator?.onLine === false
    })
    worker = w
    try {
      await w.start()
      await held
    } finally {
      worker = undefined
      await w.stop()
      flush()
    }
  }

  /** A tab without the worker: the queue as stored, until the worker says more. */
  const readStored = async (): Promise<void> => {
    if (worker !== undefined || closed) return
    const list = await store.list().catch(() => [])
    if (worker !== undefined || closed) return
    setQueued(list.map(e => ({ ...e, done: 0 })).sort((x, y) => x.addedAt - y.addedAt))
  }

  if (channel !== undefined) {
    channel.onmessage = (ev: MessageEvent<Msg>) => {
      const m = ev.data
      if (closed || typeof m !== 'object' || m === null) return
      switch (m.t) {
        case 'changed': if (worker !== undefined) void worker.refresh(); else void readStored(); return
        case 'views': if (worker === undefined) setQueued(m.views); return
        case 'retry': worker?.retry(m.blob); return
        case 'reachable': worker?.reachable(); return
        case 'hello': if (worker !== undefined) post({ t: 'views', views: worker.views() })
      }
    }
  }

  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
  if (locks === undefined) {
    // No Web Locks (an insecure origin): this tab assumes it is the only one.
    void work().catch(e => console.error('cove: the upload queue failed', e))
  } else {
    // Queue for the lock: granted at once, or when the tab holding it closes the space.
    locks.request(name, { signal: abort.signal }, work).catch(e => { if (!closed) console.error('cove: the upload queue failed', e) })
    void readStored()
    post({ t: 'hello' })
  }

  const onOnline = (): void => { filesApi.reachable() }
  if (typeof addEventListener === 'function') addEventListener('online', onOnline)

  const updateRow = (id: string, patch: Partial<UploadRow>): void => {
    setEncrypting(list => list.map(r => r.blob === id ? { ...r, ...patch } : r))
  }

  /** Encrypt, keep, list: in that order, so nothing is listed that this device does not hold. */
  const addOne = async (file: File, from: string): Promise<string | undefined> => {
    const tmp = `encrypting-${nextTmp++}`
    setEncrypting(list => [...list, { blob: tmp, item: '', name: file.name, bytes: file.size, addedAt: Date.now(), phase: 'encrypting', done: 0, attempts: 0, nextAt: 0 }])
    try {
      const start = performance.now()
      const enc = await encryptFile(deps.sodium, file, throttled(done => updateRow(tmp, { done })))
      measure('cove:encrypt', start, file.size)
      const thumb = await makeThumbnail(file)
      const blob = toHex(enc.blobId)
      const item = model.newId()
      const kept = performance.now()
      await store.add(newEntry({ blob, item, name: file.name, bytes: enc.size }, Date.now()), enc.ciphertext)
      measure('cove:keep', kept, enc.size)
      if (closed) return undefined
      model.addFile(deps.doc(), {
        id: item,
        name: file.name,
        size: file.size,
        mime: file.type || 'application/octet-stream',
        blob,
        key: toB64u(enc.key),
        chunk: CHUNK_BYTES,
        ...(thumb === undefined ? {} : { thumb }),
        from,
        pending: true
      })
      setEncrypting(list => list.filter(r => r.blob !== tmp))
      if (worker !== undefined) await worker.refresh()
      else await readStored()
      post({ t: 'changed' })
      return item
    } catch (e) {
      updateRow(tmp, { phase: 'not-kept', error: { code: 'file/not-kept', message: keepFailure(e) } })
      return undefined
    }
  }

  const filesApi: SpaceFiles = {
    rows,
    add (files, from) {
      // One after another: encryption is CPU-bound, and the queue keeps the order they were chosen in.
      return files.reduce<Promise<Array<string | undefined>>>((p, f) => p.then(async ids => [...ids, await addOne(f, from)]), Promise.resolve([]))
    },
    retry (blob) {
      if (worker !== undefined) worker.retry(blob)
      else post({ t: 'retry', blob })
    },
    dismiss (blob) { setEncrypting(list => list.filter(r => r.blob !== blob || r.phase !== 'not-kept')) },
    local: blob => store.ciphertext(blob).catch(() => undefined),
    reachable () {
      if (worker !== undefined) worker.reachable()
      else post({ t: 'reachable' })
    },
    async close () {
      if (closed) return
      closed = true
      if (typeof removeEventListener === 'function') removeEventListener('online', onOnline)
      abort.abort()
      release()
      channel?.close()
      // The worker stops (an upload in flight is aborted and stays queued) before the store closes.
      await working?.catch(() => {})
      if (flushTimer !== undefined) clearTimeout(flushTimer)
      await store.close()
    }
  }
  return filesApi
}
