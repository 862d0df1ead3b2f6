import { BACKOFF } from '../core/upload-queue.js'
import { formatBytes } from './format.js'
import type { UploadRow } from './uploads.js'

/**
 * What a person reads about a file that is not simply downloadable (issue 9.5): where its bytes
 * are, what is being done, and what they can do. Never a bare "Failed to fetch" or status code.
 */
const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)
const percent = (r: UploadRow): string => `${Math.floor(100 * r.done / Math.max(1, r.bytes))} %`

/** The line of the upload queue, for a file kept on this device. */
export function rowText (r: UploadRow): string {
  switch (r.phase) {
    case 'encrypting': return `Encrypting ${r.name} (${formatBytes(r.done)} of ${formatBytes(r.bytes)})`
    case 'not-kept': return `${r.name} was not added: ${r.error?.message ?? 'it could not be kept on this device'}.`
    case 'uploading': return r.done >= r.bytes
      ? `Uploading ${r.name}: all ${formatBytes(r.bytes)} sent, waiting for the relay to confirm`
      : `Uploading ${r.name}: ${percent(r)} of ${formatBytes(r.bytes)}`
    case 'uploaded': return `${r.name} is on the relay.`
    case 'waiting':
      if (r.error === undefined) return `${r.name} is kept on this device, waiting for the relay; it uploads by itself.`
      if (r.error.code === 'file/network') return `${r.name} is kept on this device: the relay cannot be reached (no network, or the relay is down). It uploads by itself when the relay is back.`
      return `${r.name} is kept on this device: ${r.error.message}. Trying again by itself.`
    case 'held':
      return `${r.name} is not uploaded: the relay's file space for this space is full. It stays on this device and is tried again every ${BACKOFF.heldMs / 60_000} minutes; make room (or ask the relay's operator), then press Retry.`
    case 'failed':
      return `${r.name} is not uploaded: ${r.error?.message ?? 'the relay refused it'}. It stays on this device; press Retry to try again.`
  }
}

/** Whether the person can do something about a row by pressing Retry. */
export const canRetry = (r: UploadRow): boolean => r.phase === 'held' || r.phase === 'failed' || (r.phase === 'waiting' && r.error !== undefined)

/** The short status on a file's card. `row` is this device's entry, when it added the file. */
export function cardStatus (pending: boolean, from: string, row: UploadRow | undefined): string {
  if (row !== undefined) {
    switch (row.phase) {
      case 'uploaded': return 'On the relay, and kept on this device'
      case 'uploading': return `On this device · uploading, ${percent(row)}`
      case 'held': return 'On this device · not uploaded: the relay\'s file space is full'
      case 'failed': return 'On this device · not uploaded (see above)'
      default: return 'On this device · waiting for the relay'
    }
  }
  if (!pending) return ''
  const who = from === '' ? 'the member who added it' : from
  return `Uploading from ${from === '' ? 'their' : `${from}'s`} device · not uploaded yet by ${who}`
}

/** Why a download failed, in words. `online` is what the browser believes (navigator.onLine). */
export function downloadFailure (code: string, message: string, pending: boolean, from: string, online: boolean): string {
  switch (code) {
    case 'file/network':
      return online
        ? 'The relay cannot be reached right now (it may be down); try again in a moment.'
        : 'This device is offline and the file is not kept on it: download it once back online.'
    case 'file/not-found':
      if (pending) return `Not uploaded yet by ${from === '' ? 'the member who added it' : from}: it is still on their device.`
      return 'The relay does not have this file.'
    default:
      return cap(message) + '.'
  }
}
