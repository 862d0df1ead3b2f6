import type { Result } from '../../shared/errors.js'
import type { FileErrorCode, Progress } from './files.js'
import type { LocalFileStore } from './local-files.js'
import * as queue from './upload-queue.js'
import type { QueueEntry } from './upload-queue.js'

/**
 * The worker that drains a space's upload queue (upload-queue.ts has the rules): one upload at a
 * time, oldest first; after each attempt the entry is stored before anything else happens, so a
 * reload resumes where it stopped. Timers, the clock and the upload itself are passed in: tests
 * drive it with a fake clock and a fake relay.
 *
 * One worker per space and browser profile (client/ui/uploads.ts holds a Web Lock for it), so
 * two tabs never send the same file. Should that ever happen anyway (a lock handed over mid
 * upload), the relay answers the second PUT with 409, which counts as uploaded: ids are random
 * and blobs immutable.
 */
export type UploadFn = (e: QueueEntry, ciphertext: Blob, onProgress: Progress, signal: AbortSignal) => Promise<Result<void, FileErrorCode>>

/** An entry as the UI shows it: `uploading` while its bytes are on the way, with progress. */
export interface UploadView {
  readonly blob: string
  readonly item: string
  readonly name: string
  readonly bytes: number
  readonly addedAt: number
  readonly phase: queue.Phase | 'uploading'
  /** Bytes sent so far, while uploading. */
  readonly done: number
  readonly attempts: number
  readonly nextAt: number
  readonly error?: QueueEntry['error']
}

export interface UploaderDeps {
  readonly store: LocalFileStore
  readonly upload: UploadFn
  /** Called once a file is on the relay (the UI clears the item's `pending` mark). */
  readonly onUploaded?: (e: QueueEntry) => void
  readonly onChange?: (views: readonly UploadView[]) => void
  /**
   * The device knows it has no network (the browser's `navigator.onLine` is false): a due entry is
   * not tried (its row would flash "Uploading 0 %" at every backoff while offline); it waits on, and
   * the relay's reconnect (`reachable`) wakes the queue.
   */
  readonly offline?: () => boolean
  readonly now?: () => number
  readonly random?: () => number
  /** Runs `fn` after `ms`; returns a cancel. */
  readonly setTimer?: (fn: () => void, ms: number) => () => void
  /** Bytes of uploaded files' ciphertext kept on the device (upload-queue.ts `evictable`). */
  readonly keepBytes?: number
}

export interface Uploader {
  /** Loads the queue and starts draining it. */
  start (): Promise<void>
  /** The store has entries this worker has not seen (another tab added a file). */
  refresh (): Promise<void>
  /** The relay is reachable again: what waits out a network backoff goes now. */
  reachable (): void
  /** The person pressed Retry. */
  retry (blob: string): void
  views (): readonly UploadView[]
  /** Stops draining; an upload in flight is aborted and stays queued. */
  stop (): Promise<void>
}

const NO_NETWORK = 'this device is offline'

const defaultTimer = (fn: () => void, ms: number): (() => void) => {
  // setTimeout's delay is a 32-bit int: a longer wait fires at once. Wake up early instead.
  const h = setTimeout(fn, Math.min(ms, 2 ** 31 - 1))
  return () => clearTimeout(h)
}

export function createUploader (deps: UploaderDeps): Uploader {
  const now = deps.now ?? Date.now
  const random = deps.random ?? Math.random
  const setTimer = deps.setTimer ?? defaultTimer
  let entries: QueueEntry[] = []
  let current: { blob: string; done: number; abort: AbortController } | undefined
  let running: Promise<void> | undefined
  let cancelTimer: (() => void) | undefined
  let stopped = false

  const views = (): UploadView[] => entries
    .map(e => ({
      blob: e.blob, item: e.item, name: e.name, bytes: e.bytes, addedAt: e.addedAt, attempts: e.attempts, nextAt: e.nextAt,
      phase: current?.blob === e.blob ? 'uploading' as const : e.phase,
      done: current?.blob === e.blob ? current.done : e.phase === queue.PHASE.uploaded ? e.bytes : 0,
      ...(e.error === undefined ? {} : { error: e.error })
    }))
    .sort((x, y) => x.addedAt - y.addedAt)
  const emit = (): void => { deps.onChange?.(views()) }
  const replace = (e: QueueEntry): void => { entries = entries.map(x => x.blob === e.blob ? e : x) }

  const schedule = (): void => {
    cancelTimer?.()
    cancelTimer = undefined
    if (stopped || running !== undefined) return
    const at = queue.wakeAt(entries)
    if (at === undefined || !Number.isFinite(at)) return
    cancelTimer = setTimer(pump, Math.max(0, at - now()))
  }

  function pump (): void {
    if (stopped || running !== undefined) return
    cancelTimer?.()
    cancelTimer = undefined
    running = drain().catch(e => { console.error('cove: the upload queue stopped', e) }).finally(() => { running = undefined; schedule() })
  }

  /** One attempt at `e`; the entry it leaves behind, or undefined when stopped mid-way. */
  async function attempt (e: QueueEntry): Promise<QueueEntry | undefined> {
    // Before reading the file back: offline, each backoff would read megabytes for nothing.
    if (deps.offline?.() === true) return queue.failed(e, 'file/network', NO_NETWORK, now(), random)
    const ct = await deps.store.ciphertext(e.blob)
    if (stopped) return undefined
    if (ct === undefined) return queue.failed(e, 'file/missing-local', 'the copy kept on this device is gone (browser storage was cleared)', now(), random)
    const abort = new AbortController()
    current = { blob: e.blob, done: 0, abort }
    emit()
    try {
      const r = await deps.upload(e, ct, done => { if (current?.blob === e.blob) { current.done = done; emit() } }, abort.signal)
      // Stopped mid-way: a finished upload is still recorded; an aborted one stays queued as it was.
      if (stopped && !r.ok) return undefined
      return r.ok ? queue.uploaded(e, now()) : queue.failed(e, r.code, r.message, now(), random)
    } catch (x) {
      // A bug or a storage failure: retried with backoff like a network failure, and said.
      return queue.failed(e, 'file/http', x instanceof Error ? x.message : String(x), now(), random)
    } finally {
      current = undefined
    }
  }

  async function drain (): Promise<void> {
    for (;;) {
      if (stopped) return
      const e = queue.due(entries, now())
      if (e === undefined) return
      const next = await attempt(e)
      if (next === undefined) { emit(); return }
      // Stored first: what the UI and other tabs are told has been committed.
      await deps.store.put(next)
      replace(next)
      if (next.phase === queue.PHASE.uploaded) {
        deps.onUploaded?.(next)
        for (const blob of queue.evictable(entries, deps.keepBytes)) {
          await deps.store.drop(blob)
          entries = entries.filter(x => x.blob !== blob)
        }
      }
      emit()
    }
  }

  return {
    async start () {
      entries = await deps.store.list()
      emit()
      pump()
    },
    async refresh () {
      // Entries this worker knows are its own to change; only new ones come from the store.
      const known = new Set(entries.map(e => e.blob))
      const fresh = (await deps.store.list()).filter(e => !known.has(e.blob))
      if (fresh.length === 0) return
      entries = [...entries, ...fresh]
      emit()
      pump()
      schedule()
    },
    reachable () {
      entries = queue.reachable(entries, now())
      pump()
    },
    retry (blob) {
      const e = entries.find(x => x.blob === blob)
      if (e === undefined || current?.blob === blob) return
      const next = queue.retry(e, now())
      replace(next)
      void deps.store.put(next).catch(() => {})
      emit()
      pump()
      schedule()
    },
    views,
    async stop () {
      stopped = true
      cancelTimer?.()
      current?.abort.abort()
      await running
    }
  }
}
