import type { FileErrorCode } from './files.js'

/**
 * The upload queue's rules (issue 9.5), sans-IO: plain entries in, plain entries out, `now` passed
 * in. A file added to a space is encrypted and kept on the device at once (local-files.ts), listed
 * in the space at once, and its upload waits here until the relay takes it; the worker
 * (uploader.ts) stores every entry after each step, so the queue survives a reload.
 *
 * What a failure means decides what happens next:
 * - no answer (offline, relay down), a 5xx, or a 403 (a space created offline that the relay does
 *   not know yet, a clock far off): try again with exponential backoff, and at once when the relay
 *   is reachable again (`reachable`);
 * - the space's file quota is full (507): held, tried again rarely; the file stays on the device
 *   and the person is told why. Never dropped;
 * - refused for good (413, a view-only link, the local copy gone): failed, tried again only when
 *   the person presses Retry.
 */
export const PHASE = { waiting: 'waiting', held: 'held', failed: 'failed', uploaded: 'uploaded' } as const
export type Phase = typeof PHASE[keyof typeof PHASE]

/** `file/missing-local`: the ciphertext kept on this device is gone (storage cleared under us). */
export type UploadErrorCode = FileErrorCode | 'file/missing-local'

/** One file kept on this device, by its blob id; stored as is (IndexedDB structured clone). */
export interface QueueEntry {
  /** The blob id, hex: the key of the entry and of its ciphertext. */
  readonly blob: string
  /** The file item's id in the space, whose `pending` mark goes once uploaded. */
  readonly item: string
  readonly name: string
  /** Ciphertext bytes. */
  readonly bytes: number
  readonly addedAt: number
  readonly phase: Phase
  /** Failed attempts since the last success or Retry. */
  readonly attempts: number
  /** When to try next (waiting, held). */
  readonly nextAt: number
  readonly error?: { readonly code: UploadErrorCode; readonly message: string }
  readonly uploadedAt?: number
}

export const BACKOFF = {
  /** First retry after about this long; doubles each failure. */
  baseMs: 1000,
  /** The longest wait while the relay is unreachable (a reconnect also wakes the queue at once). */
  maxMs: 30_000,
  /** How often a file held by a full quota is tried again by itself. */
  heldMs: 10 * 60_000
} as const

/** Uploaded files' local copies are kept up to this many ciphertext bytes (newest kept, see `evictable`). */
export const KEEP_UPLOADED_BYTES = 256 * 1024 * 1024

export function newEntry (f: { blob: string; item: string; name: string; bytes: number }, now: number): QueueEntry {
  return { ...f, addedAt: now, phase: PHASE.waiting, attempts: 0, nextAt: now }
}

/** What a failure leads to (see the module comment). */
export function classify (code: UploadErrorCode): 'retry' | 'hold' | 'stop' {
  switch (code) {
    case 'file/quota': return 'hold'
    case 'file/too-large':
    case 'file/read-only':
    case 'file/missing-local': return 'stop'
    default: return 'retry'
  }
}

/** Wait before try `attempts + 1`: base·2^(attempts-1), capped, with jitter in [½, 1] so tabs and devices spread out. */
export function backoffMs (attempts: number, random: () => number = Math.random): number {
  const full = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** Math.max(0, attempts - 1))
  return Math.round(full * (0.5 + random() / 2))
}

const pendingPhase = (e: QueueEntry): boolean => e.phase === PHASE.waiting || e.phase === PHASE.held

/** The next entry to upload now: the oldest due one (files go in the order they were added). */
export function due (entries: readonly QueueEntry[], now: number): QueueEntry | undefined {
  let best: QueueEntry | undefined
  for (const e of entries) {
    if (!pendingPhase(e) || e.nextAt > now) continue
    if (best === undefined || e.addedAt < best.addedAt) best = e
  }
  return best
}

/** When the queue next has something to do by itself; undefined when nothing waits. */
export function wakeAt (entries: readonly QueueEntry[]): number | undefined {
  let at: number | undefined
  for (const e of entries) if (pendingPhase(e) && (at === undefined || e.nextAt < at)) at = e.nextAt
  return at
}

export function failed (e: QueueEntry, code: UploadErrorCode, message: string, now: number, random: () => number = Math.random): QueueEntry {
  const attempts = e.attempts + 1
  const error = { code, message }
  switch (classify(code)) {
    case 'retry': return { ...e, phase: PHASE.waiting, attempts, nextAt: now + backoffMs(attempts, random), error }
    case 'hold': return { ...e, phase: PHASE.held, attempts, nextAt: now + BACKOFF.heldMs, error }
    case 'stop': return { ...e, phase: PHASE.failed, attempts, nextAt: Number.POSITIVE_INFINITY, error }
  }
}

export function uploaded (e: QueueEntry, now: number): QueueEntry {
  const { error: _, ...rest } = e
  return { ...rest, phase: PHASE.uploaded, attempts: 0, nextAt: Number.POSITIVE_INFINITY, uploadedAt: now }
}

/** The person pressed Retry: try now, whatever the phase (an uploaded entry stays as it is). */
export function retry (e: QueueEntry, now: number): QueueEntry {
  return e.phase === PHASE.uploaded ? e : { ...e, phase: PHASE.waiting, attempts: 0, nextAt: now }
}

/**
 * The relay answers again (the socket reconnected, the browser is back online): entries waiting
 * out a network backoff are due now. Held and failed ones are not: the relay said no to them, and
 * being reachable does not change that.
 */
export function reachable (entries: readonly QueueEntry[], now: number): QueueEntry[] {
  return entries.map(e => e.phase === PHASE.waiting && e.nextAt > now ? { ...e, nextAt: now } : e)
}

/**
 * Local copies to drop: uploaded ones, oldest upload first, until those kept fit in `budget`
 * bytes. Files not uploaded yet are never dropped, whatever their size.
 */
export function evictable (entries: readonly QueueEntry[], budget: number = KEEP_UPLOADED_BYTES): string[] {
  const up = entries.filter(e => e.phase === PHASE.uploaded).sort((x, y) => (y.uploadedAt ?? 0) - (x.uploadedAt ?? 0) || y.addedAt - x.addedAt)
  const out: string[] = []
  let kept = 0
  for (const e of up) {
    if (kept + e.bytes <= budget) kept += e.bytes
    else out.push(e.blob)
  }
  return out
}
