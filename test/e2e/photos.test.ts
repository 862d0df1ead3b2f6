import fs from 'node:fs'
import path from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { ARTIFACTS, hasChromium, makePng, newTraffic, twoPeople, type AppRelay, type Traffic } from './support.js'

/**
 * Issue 9, Photos: Alice adds three images and a text file; Bob, a view-only member on the same
 * relay, sees the three (and not the text file) in the photos grid as they arrive, opens the
 * viewer, goes through them by arrow keys, buttons and a touch swipe on a phone-sized screen
 * (the shown image's decoded size says which one it is), downloads the original bytes, and closes
 * with Escape (focus back on the tile, the object URL revoked). A photo Alice adds offline is in
 * her grid and opens full size at once, and reaches Bob's grid when she is back.
 */
interface Photo { readonly name: string; readonly w: number; readonly h: number; readonly bytes: Buffer }
const photo = (name: string, w: number, h: number, color: readonly [number, number, number]): Photo => ({ name, w, h, bytes: makePng(w, h, color) })
const RED = photo('red.png', 64, 48, [220, 40, 40])
const GREEN = photo('green.png', 120, 80, [40, 180, 60])
const BLUE = photo('blue.png', 200, 100, [40, 80, 220])
const YELLOW = photo('yellow.png', 90, 90, [230, 200, 30])
const PHONE = { width: 390, height: 844 }
const DESKTOP = { width: 1100, height: 900 }

const shot = (p: Page, name: string): Promise<Buffer> => p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true })
const status = (p: Page): Promise<string> => p.locator('[data-testid=status]').innerText()
const tileNames = (p: Page): Promise<string[]> => p.getByTestId('photo-tile').evaluateAll(els => els.map(e => (e.getAttribute('aria-label') ?? '').split(',')[0] ?? ''))
const position = (p: Page): Promise<string> => p.getByTestId('viewer-position').innerText()

/** The decoded size of the full-size image the viewer shows; 'preview' or 'loading' until it has decrypted it. */
function shownSize (p: Page): Promise<string> {
  return p.getByTestId('viewer-img').evaluate((i: HTMLImageElement) => i.dataset['state'] !== 'full'
    ? i.dataset['state'] ?? 'none'
    : i.complete && i.naturalWidth > 0 ? `${i.naturalWidth}x${i.naturalHeight}` : 'loading')
}
const size = (f: Photo): string => `${f.w}x${f.h}`
/** Waits until the viewer shows `f` at full size (told apart by its decoded size). */
const showing = (p: Page, f: Photo): Promise<void> => expect.poll(() => shownSize(p), { timeout: 15_000 }).toBe(size(f))

/** A horizontal (or vertical) touch drag over the viewer's photo, as pointer events. */
async function drag (p: Page, dx: number, dy = 0): Promise<void> {
  await p.getByTestId('viewer-stage').evaluate((el, d) => {
    const r = el.getBoundingClientRect()
    const x = r.left + r.width / 2
    const y = r.top + r.height / 2
    const ev = (type: string, cx: number, cy: number): PointerEvent =>
      new PointerEvent(type, { bubbles: true, cancelable: true, composed: true, pointerId: 7, pointerType: 'touch', isPrimary: true, clientX: cx, clientY: cy })
    el.dispatchEvent(ev('pointerdown', x, y))
    el.dispatchEvent(ev('pointermove', x + d.dx / 2, y + d.dy / 2))
    el.dispatchEvent(ev('pointerup', x + d.dx, y + d.dy))
  }, { dx, dy })
}

/** The controls matching `selector` smaller than 44 px either way (a finger's tap target). */
function smallControls (p: Page, selector: string): Promise<string[]> {
  return p.locator(selector).evaluateAll(els => els
    .map(e => ({ label: e.getAttribute('aria-label') ?? e.textContent ?? '', r: e.getBoundingClientRect() }))
    .filter(x => x.r.width < 44 || x.r.height < 44)
    .map(x => `${x.label} ${x.r.width}x${x.r.height}`))
}

async function setName (p: Page, name: string): Promise<void> {
  await p.getByTestId('profile-name').fill(name)
  await p.getByTestId('profile-name').press('Enter')
}

describe.skipIf(!hasChromium)('photos grid and viewer (issue 9, Photos)', () => {
  let app: AppRelay
  const traffic: Traffic = newTraffic()
  let a: { context: BrowserContext; page: Page }
  let b: { context: BrowserContext; page: Page }

  twoPeople(traffic, e => { ({ app, a, b } = e) })

  it('Alice makes a space; Bob opens its view-only link; both grids say what to do', async () => {
    await a.page.goto(app.origin + '/')
    await setName(a.page, 'Alice')
    await a.page.getByTestId('new-space-title').fill('Holiday')
    await a.page.getByTestId('create-space').click()
    await expect.poll(() => status(a.page), { timeout: 15_000 }).toContain('All changes on the relay')
    await a.page.getByTestId('share-button').click()
    const viewLink = await a.page.getByTestId('view-link').inputValue()
    await a.page.getByTestId('share-button').click()
    await b.page.goto(viewLink)
    await setName(b.page, 'Bob')
    await expect.poll(() => b.page.getByTestId('space-title').inputValue()).toBe('Holiday')
    await b.page.getByTestId('view-only').waitFor()
    // The service worker must hold the app shell before Alice's network goes away (last test).
    await a.page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined))

    await a.page.getByTestId('photos-button').click()
    expect(await a.page.getByTestId('photos-empty').innerText()).toContain('No photos yet — add an image file')
    // Keyboard reachable: focus it and press Enter.
    await b.page.getByTestId('photos-button').focus()
    await b.page.keyboard.press('Enter')
    expect(await b.page.getByTestId('photos-button').getAttribute('aria-pressed')).toBe('true')
    expect(await b.page.getByTestId('photos-empty').innerText()).toContain('No photos yet')
  })

  it('Alice adds three images and a text file; Bob\'s open grid shows the three, in the space\'s order', async () => {
    await a.page.getByTestId('file-input').setInputFiles([
      { name: RED.name, mimeType: 'image/png', buffer: RED.bytes },
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo\n') },
      { name: GREEN.name, mimeType: 'image/png', buffer: GREEN.bytes },
      { name: BLUE.name, mimeType: 'image/png', buffer: BLUE.bytes }
    ])
    // Newest first, as the items list shows them.
    const order = [BLUE.name, GREEN.name, RED.name]
    await expect.poll(() => tileNames(a.page), { timeout: 15_000 }).toEqual(order)
    await expect.poll(() => tileNames(b.page), { timeout: 20_000 }).toEqual(order)
    // Every tile has its thumbnail, made on Alice's device and decrypted in Bob's page.
    await expect.poll(() => b.page.locator('[data-testid=photo-tile] img').evaluateAll((els: HTMLImageElement[]) => els.filter(i => i.complete && i.naturalWidth > 0).length)).toBe(3)
    // Wait until the relay has all three, so Bob's viewer finds their bytes there.
    await expect.poll(() => b.page.locator('.photo-badge').count(), { timeout: 30_000 }).toBe(0)
    // The text file is in the space, just not among the photos.
    await b.page.getByTestId('photos-button').click()
    expect(await b.page.getByTestId('item-file').count()).toBe(4)
    await b.page.getByTestId('item-file').filter({ hasText: 'notes.txt' }).waitFor()
    await b.page.getByTestId('photos-button').click()
    await b.page.getByTestId('photos').waitFor()
    expect(await tileNames(b.page)).not.toContain('notes.txt')

    await shot(b.page, 'photos-grid-desktop')
    await b.page.setViewportSize(PHONE)
    await shot(b.page, 'photos-grid-phone')
    expect(await smallControls(b.page, '[data-testid=photos-button], [data-testid=photos] button')).toEqual([])
    await b.page.setViewportSize(DESKTOP)
  })

  it('Bob opens the viewer: arrow keys and buttons go through the photos, wrapping at the ends', async () => {
    const p = b.page
    await p.getByTestId('photo-tile').first().click()
    await p.getByTestId('photo-viewer').waitFor()
    expect(await position(p)).toBe('1 of 3')
    expect(await p.getByTestId('viewer-name').innerText()).toBe(BLUE.name)
    await showing(p, BLUE)
    await shot(p, 'photos-viewer-desktop')

    await p.keyboard.press('ArrowRight')
    expect(await position(p)).toBe('2 of 3')
    await showing(p, GREEN)
    await p.keyboard.press('ArrowRight')
    await showing(p, RED)
    expect(await position(p)).toBe('3 of 3')
    await p.keyboard.press('ArrowRight')
    await showing(p, BLUE)
    expect(await position(p)).toBe('1 of 3')
    await p.keyboard.press('ArrowLeft')
    await showing(p, RED)
    await p.getByTestId('viewer-next').click()
    await showing(p, BLUE)
    await p.getByTestId('viewer-prev').click()
    await showing(p, RED)
    expect(await p.getByTestId('viewer-name').innerText()).toBe(RED.name)
    // The file id of the shown image is the tile's.
    const tileId = await p.getByTestId('photo-tile').nth(2).getAttribute('data-photo-id')
    expect(await p.getByTestId('viewer-img').getAttribute('data-file-id')).toBe(tileId)
    // Seven photos shown, three fetched: going back to one seen a moment ago reuses its plaintext.
    expect(app.requests.filter(r => r.startsWith('GET /blobs/'))).toHaveLength(3)
  })

  it('on a phone, a horizontal swipe goes to the next or previous photo, and every control is ≥ 44 px', async () => {
    const p = b.page
    await p.setViewportSize(PHONE)
    await drag(p, -150)
    await showing(p, BLUE)
    expect(await position(p)).toBe('1 of 3')
    await drag(p, -150)
    await showing(p, GREEN)
    await drag(p, 150)
    await showing(p, BLUE)
    // A short or mostly vertical drag is no swipe.
    await drag(p, -15)
    await drag(p, -60, 200)
    await p.waitForTimeout(200)
    expect(await position(p)).toBe('1 of 3')

    expect(await smallControls(p, '[data-testid=photo-viewer] button')).toEqual([])
    await shot(p, 'photos-viewer-phone')
    await p.setViewportSize(DESKTOP)
  })

  it('Download saves the original bytes under the file\'s name', async () => {
    const p = b.page
    await p.keyboard.press('ArrowRight')
    await showing(p, GREEN)
    const [d] = await Promise.all([p.waitForEvent('download'), p.getByTestId('viewer-download').click()])
    expect(d.suggestedFilename()).toBe(GREEN.name)
    expect(Buffer.compare(fs.readFileSync((await d.path())!), GREEN.bytes)).toBe(0)
  })

  it('focus stays in the viewer; Escape closes it, revokes the photo\'s URL and puts focus back on its tile', async () => {
    const p = b.page
    for (let i = 0; i < 6; i++) {
      await p.keyboard.press('Tab')
      expect(await p.evaluate(() => document.activeElement?.closest('[data-testid=photo-viewer]') !== null)).toBe(true)
    }
    await p.evaluate(() => {
      const w = window as unknown as { revoked: string[] }
      w.revoked = []
      const revoke = URL.revokeObjectURL.bind(URL)
      URL.revokeObjectURL = (u: string) => { w.revoked.push(u); revoke(u) }
    })
    const src = await p.locator('[data-testid=viewer-img][data-state=full]').getAttribute('src')
    const id = await p.getByTestId('viewer-img').getAttribute('data-file-id')
    await p.keyboard.press('Escape')
    await expect.poll(() => p.getByTestId('photo-viewer').count()).toBe(0)
    expect(await p.evaluate(() => (window as unknown as { revoked: string[] }).revoked)).toContain(src)
    expect(await p.evaluate(() => document.activeElement?.getAttribute('data-photo-id'))).toBe(id)
    // Enter on the focused tile opens it again.
    await p.keyboard.press('Enter')
    expect(await p.getByTestId('viewer-name').innerText()).toBe(GREEN.name)
    await p.keyboard.press('Escape')
    await expect.poll(() => p.getByTestId('photo-viewer').count()).toBe(0)
  })

  it('a photo Alice adds offline is in her grid and opens full size at once; Bob sees it when she is back, full size once uploaded', async () => {
    await a.context.setOffline(true)
    await expect.poll(() => status(a.page), { timeout: 15_000 }).toContain('Offline')
    await a.page.getByTestId('file-input').setInputFiles([{ name: YELLOW.name, mimeType: 'image/png', buffer: YELLOW.bytes }])
    await expect.poll(() => tileNames(a.page), { timeout: 15_000 }).toEqual([YELLOW.name, BLUE.name, GREEN.name, RED.name])
    expect(await a.page.locator('.photo-badge').count()).toBe(1)
    await a.page.getByTestId('photo-tile').first().click()
    await expect.poll(() => shownSize(a.page), { timeout: 15_000 }).toBe(size(YELLOW))
    expect(await position(a.page)).toBe('1 of 4')
    await a.page.keyboard.press('Escape')
    expect(await tileNames(b.page)).toHaveLength(3)

    // The relay holds the upload a while: Bob has the photo's entry (and thumbnail) before its bytes.
    const release = app.holdBlobPuts()
    await a.context.setOffline(false)
    await expect.poll(() => tileNames(b.page), { timeout: 30_000 }).toEqual([YELLOW.name, BLUE.name, GREEN.name, RED.name])
    expect(await b.page.locator('.photo-badge').count()).toBe(1)
    await b.page.getByTestId('photo-tile').first().click()
    await expect.poll(() => b.page.getByTestId('viewer-error').innerText(), { timeout: 15_000 }).toContain('Not uploaded yet by Alice')
    expect(await shownSize(b.page)).toBe('preview')
    await shot(b.page, 'photos-viewer-pending-desktop')
    release()
    await expect.poll(() => b.page.locator('.photo-badge').count(), { timeout: 30_000 }).toBe(0)
    // Uploaded: the open viewer fetches the full size by itself.
    await expect.poll(() => shownSize(b.page), { timeout: 15_000 }).toBe(size(YELLOW))
    expect(await b.page.getByTestId('viewer-error').count()).toBe(0)
  })

  it('the shown photo deleted by another member: the viewer moves to its neighbour and the count follows', async () => {
    expect(await position(b.page)).toBe('1 of 4')
    await a.page.getByTestId('photos-button').click()
    await a.page.getByTestId('item-file').filter({ hasText: YELLOW.name }).getByRole('button', { name: 'Delete file' }).click()
    await expect.poll(() => position(b.page), { timeout: 15_000 }).toBe('1 of 3')
    expect(await b.page.getByTestId('viewer-name').innerText()).toBe(BLUE.name)
    await showing(b.page, BLUE)
    await b.page.keyboard.press('Escape')
    expect(await tileNames(b.page)).toEqual([BLUE.name, GREEN.name, RED.name])
  })

  it('left no page errors', () => {
    expect(traffic.errors.filter(e => !/Failed to load resource|WebSocket|ERR_INTERNET_DISCONNECTED/.test(e))).toEqual([])
  })
})
