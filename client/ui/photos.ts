/**
 * The rules of the photos view (issue 9, Photos), kept pure so they are tested without a browser:
 * which files count as photos, where previous and next lead, and when a drag is a swipe.
 */

/**
 * Extensions a browser shows in an `<img>`, by their type. Used when a file's recorded MIME type
 * says nothing (empty or `application/octet-stream`: the browser did not know it when it was
 * added, or the CLI added it), so a photo is still shown as one.
 */
const IMAGE_TYPES: Readonly<Record<string, string>> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  jfif: 'image/jpeg',
  png: 'image/png',
  apng: 'image/apng',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  bmp: 'image/bmp',
  svg: 'image/svg+xml',
  ico: 'image/x-icon',
  heic: 'image/heic',
  heif: 'image/heif'
}

/** What the photos view needs of a file item. */
export interface FileLike {
  readonly kind: string
  readonly name: string
  readonly mime: string
}

const GENERIC = new Set(['', 'application/octet-stream', 'binary/octet-stream'])

/** The file's extension, lower case, without the dot; '' when it has none. */
export function extension (name: string): string {
  const dot = name.lastIndexOf('.')
  return dot <= 0 || dot === name.length - 1 ? '' : name.slice(dot + 1).toLowerCase()
}

/**
 * The image type to show a file as, or undefined when it is not an image. A specific MIME type
 * wins over the name (a `report.png` recorded as `application/pdf` is a PDF); only a generic
 * one falls back to the extension.
 */
export function imageType (f: FileLike): string | undefined {
  if (f.kind !== 'file') return undefined
  const mime = f.mime.trim().toLowerCase()
  if (mime.startsWith('image/')) return mime
  if (!GENERIC.has(mime)) return undefined
  return IMAGE_TYPES[extension(f.name)]
}

/** Whether the file belongs in the photos grid. */
export const isPhoto = (f: FileLike): boolean => imageType(f) !== undefined

/** The photos among `items`, in the space's order (the order the items list shows). */
export function photosOf<T extends FileLike> (items: readonly T[]): T[] {
  return items.filter(isPhoto)
}

/**
 * The index `delta` steps from `index` among `count` photos, wrapping at both ends: next on the
 * last photo shows the first, as in a phone's gallery, so the arrows never go dead.
 */
export function step (index: number, delta: number, count: number): number {
  if (count <= 0) return 0
  return (((index + delta) % count) + count) % count
}

/** "3 of 7": where the shown photo is, for the viewer's heading and screen readers. */
export const position = (index: number, count: number): string => `${index + 1} of ${count}`

/** Horizontal distance (CSS px) a finger must travel for a swipe; less is a tap or a wobble. */
export const SWIPE_MIN_PX = 40

/**
 * What a pointer drag from (0, 0) to (dx, dy) asks for: +1 next (a swipe to the left, as the
 * next photo comes in from the right), -1 previous, 0 nothing. Mostly-vertical drags are not
 * swipes, so scrolling or a pull-down never changes the photo.
 */
export function swipe (dx: number, dy: number, min = SWIPE_MIN_PX): -1 | 0 | 1 {
  if (Math.abs(dx) < min || Math.abs(dx) < 1.5 * Math.abs(dy)) return 0
  return dx < 0 ? 1 : -1
}

/**
 * The photo the viewer shows after the list changed under it (another member added, moved or
 * deleted one): the same photo while it is still there, else the one that took its place (the
 * next, or the new last when it was the last), and none when no photo is left, so the viewer
 * never shows a deleted photo nor jumps back to the first.
 */
export function follow (ids: readonly string[], id: string, lastIndex: number): string | undefined {
  if (ids.includes(id)) return id
  return ids[Math.max(0, Math.min(lastIndex, ids.length - 1))]
}
