import { describe, expect, it } from 'vitest'
import { err, ok, type Result } from '../../shared/errors.js'
import type { FileErrorCode, Progress } from '../../client/core/files.js'
import { createMemoryLocalFileStore, newMemoryLocalFiles, type MemoryLocalFiles } from '../../client/core/local-files.js'
import { BACKOFF, newEntry, PHASE, type QueueEntry } from '../../client/core/upload-queue.js'
import { createUploader, type Uploader, type UploadView } from '../../client/core/uploader.js'

/**
 * The upload worker (issue 9.5) with a fake clock, fake timers and a fake relay: drains in order,
 * one at a time, backs off while the relay is unreachable, goes at once when it is back, holds on
 * a full quota, resumes after a "reload" (a new worker over the same stored data).
 */
type Mode = 'ok' | 'offline' | 'quota' | 'too-large' | 'hang'

function world () {
  let t = 1_000
  const timers: { at: number; fn: () => void; live: boolean }[] = []
  const relay = { mode: 'ok' as Mode, calls: [] as string[], stored: new Set<string>(), signals: [] as AbortSignal[] }
  const upload = (e: QueueEntry, ct: Blob, onProgress: Progress, signal: AbortSignal): Promise<Result<void, FileErrorCode>> => {
    relay.calls.push(e.blob)
    relay.signals.push(signal)
    switch (relay.mode) {
      case 'offline': return Promise.resolve(err('file/network', 'unreachable'))
      case 'quota': return Promise.resolve(err('file/quota', 'full'))
      case 'too-large': return Promise.resolve(err('file/too-large', 'too large'))
      case 'hang': return new Promise(resolve => {
        onProgress(1, ct.size)
        signal.addEventListener('abort', () => resolve(err('file/network', 'stopped')))
      })
      case 'ok':
        onProgress(ct.size, ct.size)
        relay.stored.add(e.blob)
        return Promise.resolve(ok(undefined))
    }
  }
  const settle = async (): Promise<void> => { for (let i = 0; i < 10; i++) await new Promise(resolve => setImmediate(resolve)) }
  /** Moves the clock, firing timers as they come due. */
  const advance = async (ms: number): Promise<void> => {
    const end = t + ms
    await settle()
    for (;;) {
      const next = timers.filter(x => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0]
      if (next === undefined) break
      t = Math.max(t, next.at)
      next.live = false
      next.fn()
      await settle()
    }
    t = end
    await settle()
  }
  const held: MemoryLocalFiles = newMemoryLocalFiles()
  const uploaded: string[] = []
  const views: (readonly UploadView[])[] = []
  const device = { offline: false }
  const worker = (keepBytes?: number): Uploader => createUploader({
    offline: () => device.offline,
    store: createMemoryLocalFileStore(held),
    upload,
    onUploaded: e => uploaded.push(e.item),
    onChange: v => views.push(v),
    now: () => t,
    random: () => 1,
    setTimer: (fn, ms) => { const x = { at: t + ms, fn, live: true }; timers.push(x); return () => { x.live = false } },
    ...(keepBytes === undefined ? {} : { keepBytes })
  })
  const add = async (blob: string, bytes = 10): Promise<void> => {
    await createMemoryLocalFileStore(held).add(newEntry({ blob, item: `item-${blob}`, name: `${blob}.bin`, bytes }, t), new Blob([new Uint8Array(bytes)]))
    t += 1
  }
  const entry = (blob: string): QueueEntry | undefined => held.entries.get(blob)
  return { relay, device, held, uploaded, views, worker, add, entry, advance, settle, now: () => t }
}

describe('upload worker', () => {
  it('uploads what is queued, oldest first, and marks each file uploaded', async () => {
    const w = world()
    await w.add('a')
    await w.add('b')
    const up = w.worker()
    await up.start()
    await w.settle()
    expect(w.relay.calls).toEqual(['a', 'b'])
    expect(w.uploaded).toEqual(['item-a', 'item-b'])
    expect(w.entry('a')?.phase).toBe(PHASE.uploaded)
    // The local copy is kept (within the budget): the file still opens on this device.
    expect(w.held.blobs.has('a')).toBe(true)
    // Progress was shown while uploading.
    expect(w.views.some(v => v.some(x => x.blob === 'a' && x.phase === 'uploading' && x.done === 10))).toBe(true)
    await up.stop()
  })

  it('while the relay is unreachable it backs off, and goes at once when the relay is back', async () => {
    const w = world()
    w.relay.mode = 'offline'
    await w.add('a')
    const up = w.worker()
    await up.start()
    await w.settle()
    expect(w.relay.calls).toHaveLength(1)
    expect(w.entry('a')).toMatchObject({ phase: PHASE.waiting, attempts: 1, error: { code: 'file/network' } })
    // Tries again after 1 s, then 2 s, then 4 s: not before.
    await w.advance(999)
    expect(w.relay.calls).toHaveLength(1)
    await w.advance(1)
    expect(w.relay.calls).toHaveLength(2)
    await w.advance(2000)
    expect(w.relay.calls).toHaveLength(3)
    await w.advance(3999)
    expect(w.relay.calls).toHaveLength(3)
    // Many failures later the wait is capped.
    await w.advance(10 * BACKOFF.maxMs)
    const n = w.relay.calls.length
    await w.advance(BACKOFF.maxMs)
    expect(w.relay.calls.length).toBe(n + 1)
    // The relay is back: no waiting out the backoff.
    w.relay.mode = 'ok'
    up.reachable()
    await w.settle()
    expect(w.entry('a')?.phase).toBe(PHASE.uploaded)
    expect(w.uploaded).toEqual(['item-a'])
    await up.stop()
  })

  it('on a device that knows it is offline, nothing is tried and the row never says "uploading"; back online, it goes', async () => {
    const w = world()
    w.device.offline = true
    w.relay.mode = 'offline'
    await w.add('a')
    const up = w.worker()
    await up.start()
    await w.advance(10 * BACKOFF.maxMs)
    expect(w.relay.calls).toEqual([])
    expect(w.entry('a')).toMatchObject({ phase: PHASE.waiting, error: { code: 'file/network' } })
    expect(w.views.some(v => v.some(x => x.phase === 'uploading'))).toBe(false)
    // The network is back: the relay's reconnect wakes the queue.
    w.device.offline = false
    w.relay.mode = 'ok'
    up.reachable()
    await w.settle()
    expect(w.relay.calls).toEqual(['a'])
    expect(w.entry('a')?.phase).toBe(PHASE.uploaded)
    await up.stop()
  })

  it('survives a reload: a new worker over the same stored queue picks up where the last stopped', async () => {
    const w = world()
    w.relay.mode = 'offline'
    await w.add('a')
    await w.add('b')
    const first = w.worker()
    await first.start()
    await w.settle()
    await first.stop()
    expect(w.entry('a')?.attempts).toBe(1)
    expect(w.entry('b')?.attempts).toBe(1)
    // "Reload" with the relay reachable again.
    w.relay.mode = 'ok'
    const second = w.worker()
    await second.start()
    await w.advance(BACKOFF.baseMs)
    expect(w.uploaded.sort()).toEqual(['item-a', 'item-b'])
    expect(w.relay.stored).toEqual(new Set(['a', 'b']))
    await second.stop()
  })

  it('stopping aborts the upload in flight and leaves it queued as it was', async () => {
    const w = world()
    w.relay.mode = 'hang'
    await w.add('a')
    const up = w.worker()
    await up.start()
    await w.settle()
    expect(up.views()[0]).toMatchObject({ phase: 'uploading', done: 1 })
    await up.stop()
    expect(w.relay.signals[0]?.aborted).toBe(true)
    expect(w.entry('a')).toMatchObject({ phase: PHASE.waiting, attempts: 0 })
  })

  it('uploads one file at a time', async () => {
    const w = world()
    w.relay.mode = 'hang'
    await w.add('a')
    await w.add('b')
    const up = w.worker()
    await up.start()
    await w.settle()
    expect(w.relay.calls).toEqual(['a'])
    await up.stop()
  })

  it('a full quota holds the file with its reason; not retried on reconnect; Retry tries at once', async () => {
    const w = world()
    w.relay.mode = 'quota'
    await w.add('a')
    const up = w.worker()
    await up.start()
    await w.settle()
    expect(w.entry('a')).toMatchObject({ phase: PHASE.held, error: { code: 'file/quota', message: 'full' } })
    expect(w.held.blobs.has('a')).toBe(true)
    up.reachable()
    await w.advance(BACKOFF.maxMs)
    expect(w.relay.calls).toHaveLength(1)
    up.retry('a')
    await w.settle()
    expect(w.relay.calls).toHaveLength(2)
    // By itself, rarely.
    await w.advance(BACKOFF.heldMs)
    expect(w.relay.calls).toHaveLength(3)
    w.relay.mode = 'ok'
    up.retry('a')
    await w.settle()
    expect(w.entry('a')?.phase).toBe(PHASE.uploaded)
    await up.stop()
  })

  it('a refusal for good (too large) waits for Retry; a lost local copy is said, not retried', async () => {
    const w = world()
    w.relay.mode = 'too-large'
    await w.add('a')
    const up = w.worker()
    await up.start()
    await w.settle()
    expect(w.entry('a')?.phase).toBe(PHASE.failed)
    await w.advance(BACKOFF.heldMs * 3)
    expect(w.relay.calls).toHaveLength(1)
    await up.stop()

    const v = world()
    await v.add('gone')
    v.held.blobs.delete('gone')
    const up2 = v.worker()
    await up2.start()
    await v.settle()
    expect(v.entry('gone')).toMatchObject({ phase: PHASE.failed, error: { code: 'file/missing-local' } })
    expect(v.relay.calls).toEqual([])
    await up2.stop()
  })

  it('refresh takes files another tab added; a known entry is not overwritten by the store', async () => {
    const w = world()
    w.relay.mode = 'offline'
    const up = w.worker()
    await up.start()
    await w.add('a')
    await up.refresh()
    await w.settle()
    expect(w.relay.calls).toEqual(['a'])
    expect(up.views().map(v => v.blob)).toEqual(['a'])
    await up.refresh()
    expect(up.views()[0]?.attempts).toBe(1)
    await up.stop()
  })

  it('drops uploaded local copies past the budget, oldest first', async () => {
    const w = world()
    await w.add('a', 60)
    await w.add('b', 60)
    const up = w.worker(100)
    await up.start()
    await w.settle()
    expect(w.uploaded).toEqual(['item-a', 'item-b'])
    expect([...w.held.blobs.keys()]).toEqual(['b'])
    expect([...w.held.entries.keys()]).toEqual(['b'])
    await up.stop()
  })
})
