import { describe, expect, it } from 'vitest'
import { extension, follow, imageType, isPhoto, photosOf, position, step, swipe } from '../../client/ui/photos.js'

/** The photos view's rules (issue 9, Photos): which files are photos, wrap-around, swipes. */
const file = (name: string, mime: string) => ({ kind: 'file', name, mime })

describe('which files are photos', () => {
  it('an image MIME type is a photo whatever the name', () => {
    expect(imageType(file('IMG_1.JPG', 'image/jpeg'))).toBe('image/jpeg')
    expect(imageType(file('scan', 'image/png'))).toBe('image/png')
    expect(imageType(file('x', 'Image/WebP '))).toBe('image/webp')
  })

  it('a generic or missing type falls back to the extension, case-insensitively', () => {
    expect(imageType(file('beach.PNG', 'application/octet-stream'))).toBe('image/png')
    expect(imageType(file('cat.jpeg', ''))).toBe('image/jpeg')
    expect(imageType(file('notes.txt', ''))).toBeUndefined()
    expect(imageType(file('archive.tar.gz', 'application/octet-stream'))).toBeUndefined()
  })

  it('a specific non-image type wins over an image-like name', () => {
    expect(isPhoto(file('report.png', 'application/pdf'))).toBe(false)
    expect(isPhoto(file('a.bin', 'application/octet-stream'))).toBe(false)
  })

  it('only file items count, and the space order is kept', () => {
    expect(isPhoto({ kind: 'note', name: 'x.png', mime: 'image/png' })).toBe(false)
    const items = [file('a.png', 'image/png'), file('b.txt', 'text/plain'), { kind: 'link', name: '', mime: '' }, file('c.gif', ''), file('d.jpg', 'image/jpeg')]
    expect(photosOf(items).map(f => f.name)).toEqual(['a.png', 'c.gif', 'd.jpg'])
  })

  it('extensions: none, a leading dot, a trailing dot', () => {
    expect(extension('photo')).toBe('')
    expect(extension('.png')).toBe('')
    expect(extension('photo.')).toBe('')
    expect(extension('a.b.Png')).toBe('png')
  })
})

describe('previous and next', () => {
  it('wrap at both ends', () => {
    expect(step(0, 1, 3)).toBe(1)
    expect(step(2, 1, 3)).toBe(0)
    expect(step(0, -1, 3)).toBe(2)
    expect(step(1, -1, 3)).toBe(0)
    expect(step(0, 1, 1)).toBe(0)
    expect(step(0, -1, 0)).toBe(0)
  })

  it('say where the photo is, counted from one', () => {
    expect(position(2, 7)).toBe('3 of 7')
  })
})

describe('swipes', () => {
  it('a long horizontal drag to the left is next, to the right previous', () => {
    expect(swipe(-120, 10)).toBe(1)
    expect(swipe(120, -10)).toBe(-1)
  })

  it('a short drag, or a mostly vertical one, is no swipe', () => {
    expect(swipe(-20, 0)).toBe(0)
    expect(swipe(-60, 80)).toBe(0)
    expect(swipe(0, 0)).toBe(0)
  })
})

describe('the viewer when the list changes under it', () => {
  it('keeps the shown photo wherever it moved', () => {
    expect(follow(['n', 'a', 'b'], 'a', 0)).toBe('a')
  })

  it('a deleted photo gives way to the one at its place, or the new last', () => {
    expect(follow(['a', 'c'], 'b', 1)).toBe('c')
    expect(follow(['a', 'b'], 'c', 2)).toBe('b')
    expect(follow([], 'a', 0)).toBeUndefined()
  })
})
