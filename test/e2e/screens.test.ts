import fs from 'node:fs'
import path from 'node:path'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ARTIFACTS, buildApp, hasChromium, launch, makePng, newPage, newTraffic, noteText, startAppRelay, type AppRelay, type Traffic } from './support.js'

/**
 * Issue 9: a screenshot of every screen, at desktop size (1100×900) and on a phone (390×844), in
 * one place: test-artifacts/screens/<name>-desktop.png and <name>-phone.png, listed in
 * test-artifacts/screens/index.md. One realistic space, two editors (Alice and Bob, so presence
 * and a remote cursor show) and a view-only reader (Cleo). Before each shot the screen's heading
 * or test id must be visible at that size, so a screen that breaks fails the test rather than
 * leaving a picture of the wrong thing. The relay is stopped last, for the "relay unreachable" shot.
 *
 * Shots are of the viewport (what a person sees), the shown element scrolled into view; the space
 * itself is also taken whole (space-full-*) so every item is in one picture.
 */
const DIR = path.join(ARTIFACTS, 'screens')
const DESKTOP = { width: 1100, height: 900 }
const PHONE = { width: 390, height: 844 }

interface Shot { readonly name: string; readonly file: string; readonly what: string }
const taken: Shot[] = []

const status = (p: Page): Promise<string> => p.getByTestId('status').innerText()
/** A name and a colour of the palette (1–8): each person their own, the same every run. */
async function setName (p: Page, name: string, colour: number): Promise<void> {
  await p.getByRole('button', { name: `Colour ${colour}`, exact: true }).click()
  await p.getByTestId('profile-name').fill(name)
  await p.getByTestId('profile-name').press('Enter')
  await p.getByTestId('profile-name').blur()
}
/** Takes focus from whatever has it (an editor lives in a shadow root): notes show fully rendered. */
const blur = (p: Page): Promise<void> => p.evaluate(() => {
  const host = document.activeElement
  ;(host?.shadowRoot?.activeElement as HTMLElement | null | undefined)?.blur()
  ;(host as HTMLElement | null)?.blur()
})
/** Waits until every image matched has decoded (thumbnails are decrypted in the page). */
const imagesLoaded = (l: Locator, n: number): Promise<void> =>
  expect.poll(() => l.evaluateAll((els: HTMLImageElement[]) => els.filter(i => i.complete && i.naturalWidth > 0).length), { timeout: 30_000 }).toBe(n)

/** Two frames, so a resize or an opened panel has been laid out and painted. */
const settle = (p: Page): Promise<void> => p.evaluate(() => new Promise<void>(resolve => requestAnimationFrame(() => requestAnimationFrame(() => resolve()))))

async function shoot (p: Page, name: string, what: string, fullPage: boolean): Promise<void> {
  const file = `${name}.png`
  // No hover effect on whatever the last click left the pointer over.
  const size = p.viewportSize() ?? DESKTOP
  await p.mouse.move(size.width - 2, size.height - 2)
  await settle(p)
  await p.screenshot({ path: path.join(DIR, file), fullPage })
  taken.push({ name, file, what })
}

/**
 * The screen as it is now, at desktop size and at 390×844 (or only one of them), after checking
 * that `shows` is visible at that size. The page is left at its desktop size.
 */
interface ShotOptions {
  readonly sizes?: ReadonlyArray<'desktop' | 'phone'>
  /** The whole page (from its top) rather than the viewport. */
  readonly fullPage?: boolean
  /** On the phone, scroll `shows` to the top of the screen (a panel below the space's header). */
  readonly phoneTop?: boolean
}
async function shots (p: Page, name: string, what: string, shows: Locator, opts: ShotOptions = {}): Promise<void> {
  for (const size of opts.sizes ?? ['desktop', 'phone']) {
    await p.setViewportSize(size === 'desktop' ? DESKTOP : PHONE)
    const el = shows.first()
    await el.waitFor({ state: 'visible' })
    expect(await el.isVisible(), `${name} at ${size}`).toBe(true)
    if (opts.fullPage === true) await p.evaluate(() => window.scrollTo(0, 0))
    else if (opts.phoneTop === true && size === 'phone') await el.evaluate(e => e.scrollIntoView({ block: 'start' }))
    else await el.scrollIntoViewIfNeeded()
    const label = opts.fullPage === true ? `${size === 'desktop' ? '1100' : '390'} wide, the whole page` : size === 'desktop' ? '1100×900' : '390×844'
    await shoot(p, `${name}-${size}`, `${what} (${label})`, opts.fullPage ?? false)
  }
  await p.setViewportSize(DESKTOP)
}

/** A small landscape drawn on a canvas in the page, as a PNG: a realistic photo to show. */
async function drawLake (p: Page): Promise<Buffer> {
  const url = await p.evaluate(() => {
    const c = document.createElement('canvas')
    c.width = 480; c.height = 320
    const g = c.getContext('2d')!
    const sky = g.createLinearGradient(0, 0, 0, 190)
    sky.addColorStop(0, '#3b6fb6'); sky.addColorStop(1, '#f2c48d')
    g.fillStyle = sky; g.fillRect(0, 0, 480, 190)
    g.fillStyle = '#ffe6a0'; g.beginPath(); g.arc(340, 150, 30, 0, Math.PI * 2); g.fill()
    g.fillStyle = '#2f4858'; g.beginPath(); g.moveTo(0, 190); g.lineTo(110, 90); g.lineTo(210, 190); g.lineTo(300, 120); g.lineTo(480, 190); g.fill()
    const water = g.createLinearGradient(0, 190, 0, 320)
    water.addColorStop(0, '#4f86a8'); water.addColorStop(1, '#1d3d5c')
    g.fillStyle = water; g.fillRect(0, 190, 480, 130)
    g.fillStyle = '#2d6a3e'; g.fillRect(0, 290, 480, 30)
    return c.toDataURL('image/png')
  })
  return Buffer.from(url.split(',')[1]!, 'base64')
}
const TENT = makePng(120, 90, [40, 150, 80])
const SUNSET = makePng(160, 160, [230, 120, 40])

describe.skipIf(!hasChromium)('screenshots of every screen, desktop and phone (issue 9)', () => {
  let app: AppRelay
  let relayUp = true
  let browser: Browser
  const traffic: Traffic = newTraffic()
  let a: { context: BrowserContext; page: Page }
  let b: { context: BrowserContext; page: Page }
  let c: { context: BrowserContext; page: Page }
  let editLink = ''
  let viewLink = ''

  beforeAll(async () => {
    buildApp()
    fs.rmSync(DIR, { recursive: true, force: true })
    fs.mkdirSync(DIR, { recursive: true })
    app = await startAppRelay()
    browser = await launch()
    a = await newPage(browser, traffic, DESKTOP)
    b = await newPage(browser, traffic, DESKTOP)
    c = await newPage(browser, traffic, DESKTOP)
  })

  afterAll(async () => {
    await browser?.close()
    if (relayUp) await app?.close()
    if (taken.length > 0) {
      const lines = taken.map(s => `- [${s.file}](${s.file}): ${s.what}`)
      fs.writeFileSync(path.join(DIR, 'index.md'), `# Cove screens\n\nMade by test/e2e/screens.test.ts: every screen at 1100×900 (desktop) and 390×844 (phone).\n\n${lines.join('\n')}\n`)
    }
  })

  it('the spaces list with no spaces, and an empty space', async () => {
    const { page } = a
    await page.goto(app.origin + '/')
    await page.getByTestId('create-space').waitFor()
    await setName(page, 'Alice', 5)
    await shots(page, 'list-empty', 'The spaces list, no spaces yet', page.getByTestId('no-spaces'))
    await page.getByTestId('new-space-title').fill('Garden')
    await page.getByTestId('create-space').click()
    await expect.poll(() => page.getByTestId('space-title').inputValue()).toBe('Garden')
    await shots(page, 'space-empty', 'An empty space says what to add', page.getByTestId('empty-space'))
  })

  it('a space with a rich note, a checklist, a link and images; Bob joins and his cursor shows', async () => {
    const { page } = a
    await page.locator('a.brand').click()
    await page.getByTestId('new-space-title').fill('Weekend at the lake')
    await page.getByTestId('create-space').click()
    await expect.poll(() => page.getByTestId('space-title').inputValue()).toBe('Weekend at the lake')
    // Newest first: added from the bottom of the page up, so the photo of the lake is on the first screen.
    await page.getByTestId('file-input').setInputFiles([
      { name: 'sunset.png', mimeType: 'image/png', buffer: SUNSET },
      { name: 'tent.png', mimeType: 'image/png', buffer: TENT }
    ])
    await expect.poll(() => page.getByTestId('item-file').count(), { timeout: 15_000 }).toBe(2)
    await page.getByTestId('add-link').click()
    await page.getByLabel('Link URL').fill('https://example.org/lake-campsite')
    await page.getByLabel('Link title').fill('Campsite booking')
    await page.getByRole('button', { name: 'Add link' }).click()
    await page.getByTestId('item-link').waitFor()
    await page.getByTestId('file-input').setInputFiles([{ name: 'lake.png', mimeType: 'image/png', buffer: await drawLake(page) }])
    await expect.poll(() => page.getByTestId('item-file').count(), { timeout: 15_000 }).toBe(3)
    await page.getByTestId('add-checklist').click()
    await page.getByLabel('Checklist title').fill('Packing')
    for (const e of ['tent', 'stove', 'matches']) {
      await page.getByTestId('todo-input').fill(e)
      await page.getByTestId('todo-input').press('Enter')
    }
    await expect.poll(() => page.getByTestId('todo').count()).toBe(3)
    for (const i of [0, 1]) await page.getByTestId('todo').nth(i).getByRole('checkbox').check()
    await page.getByTestId('add-note').click()
    await page.locator('[data-testid=item-note] .cm-content').first().click()
    await page.keyboard.type('# Weekend plan')
    await page.keyboard.press('Enter')
    await page.keyboard.type('Meet at the ')
    await page.keyboard.press('Control+b')
    await page.keyboard.type('car park at 9')
    await page.keyboard.press('Control+b')
    await page.keyboard.type(', bring *warm* clothes.')
    await page.keyboard.press('Enter')
    await page.keyboard.type('- [x] book the campsite')
    await page.keyboard.press('Enter')
    await page.keyboard.type('buy gas for the stove')
    // Drawn, not just typed (the markup shows only on the cursor's line): a heading, bold, two tasks.
    await blur(page)
    const note = page.getByTestId('item-note')
    await expect.poll(() => note.locator('.cm-md-h1').innerText()).toBe('Weekend plan')
    expect(await note.locator('.cm-md-strong').innerText()).toContain('car park at 9')
    expect(await note.locator('input.cm-md-task').evaluateAll((els: HTMLInputElement[]) => els.map(e => e.checked))).toEqual([true, false])
    await expect.poll(() => status(page), { timeout: 20_000 }).toContain('All changes on the relay')

    await page.getByTestId('share-button').click()
    editLink = await page.getByTestId('edit-link').inputValue()
    viewLink = await page.getByTestId('view-link').inputValue()
    await page.getByTestId('share-button').click()

    await b.page.goto(editLink)
    await setName(b.page, 'Bob', 2)
    await expect.poll(() => noteText(b.page), { timeout: 20_000 }).toContain('buy gas for the stove')
    // Bob's caret at the end of the heading shows in Alice's note, with his name.
    await b.page.locator('[data-testid=item-note] .cm-content').click()
    await b.page.keyboard.press('Control+Home')
    await b.page.keyboard.press('End')
    await expect.poll(() => page.getByTestId('peer').allInnerTexts(), { timeout: 15_000 }).toContain('Bob')
    await expect.poll(() => page.locator('.cm-remote-name').allInnerTexts(), { timeout: 15_000 }).toContain('Bob')
    await blur(page)
    await imagesLoaded(page.locator('img.thumb'), 3)
    await shots(page, 'space', 'A space with content: a Markdown note (Bob’s cursor in it), a checklist, a link and images', page.locator('[data-testid=item-note] .cm-md-h1'))
    await shots(page, 'space-full', 'The same space, the whole page', page.getByTestId('item-file').last(), { fullPage: true })
  })

  it('the Share and Security panels', async () => {
    const { page } = a
    await page.getByTestId('share-button').click()
    const share = page.getByRole('region', { name: 'Share' })
    await expect.poll(() => share.getByRole('heading', { name: 'Share' }).count()).toBe(1)
    await shots(page, 'share', 'The Share panel: edit and view-only links', page.getByTestId('edit-link'))
    await page.getByTestId('share-button').click()
    await page.getByTestId('security-button').click()
    const security = page.getByTestId('security-panel')
    expect(await security.getByRole('heading', { name: 'Security' }).isVisible()).toBe(true)
    expect(await page.getByTestId('space-code').innerText()).not.toBe('')
    await shots(page, 'security', 'The Security panel: space code, what the relay sees, alerts', security, { phoneTop: true })
    await page.getByTestId('security-button').click()
  })

  it('the Trash panel with a deleted link in it', async () => {
    const { page } = a
    await page.getByTestId('add-link').click()
    await page.getByLabel('Link URL').fill('https://example.org/old-plan')
    await page.getByLabel('Link title').fill('Old plan')
    await page.getByRole('button', { name: 'Add link' }).click()
    const old = page.getByTestId('item-link').filter({ hasText: 'Old plan' })
    await old.getByRole('button', { name: 'Delete link' }).click()
    await expect.poll(() => old.count()).toBe(0)
    await page.getByTestId('trash-button').click()
    const row = page.getByTestId('trash-row').filter({ hasText: 'Old plan' })
    await expect.poll(() => row.innerText()).toContain('Deleted by Alice')
    await shots(page, 'trash', 'The Trash panel, a deleted link in it (its Undo toast showing)', page.getByTestId('trash').getByRole('heading', { name: 'Trash' }))
    // The toast would cover the screens that follow.
    // (It may go by itself meanwhile: after 10 s.)
    for (const t of await page.getByTestId('toast').all()) await t.getByRole('button', { name: 'Dismiss' }).click({ timeout: 2000 }).catch(() => undefined)
    await expect.poll(() => page.getByTestId('toast').count()).toBe(0)
    await page.getByTestId('trash-button').click()
  })

  it('the History panel with a snapshot viewed', async () => {
    const { page } = a
    await page.getByTestId('history-button').click()
    await page.getByTestId('history').waitFor()
    // "Not caught up yet" is a fair answer right after an edit: ask again until a snapshot is stored.
    await expect.poll(async () => {
      if (await page.getByTestId('history-seal').isEnabled()) await page.getByTestId('history-seal').click()
      await page.waitForTimeout(300)
      return page.getByTestId('history-row').count()
    }, { timeout: 30_000, interval: 500 }).toBeGreaterThanOrEqual(1)
    await page.getByTestId('history-row').first().click()
    await page.getByTestId('snapshot-view').waitFor()
    expect(await page.getByTestId('history-title').innerText()).toBe('Weekend at the lake')
    await shots(page, 'history', 'The History panel, a snapshot viewed', page.getByTestId('snapshot-view'), { phoneTop: true })
    await page.getByTestId('history-button').click()
    await expect.poll(() => page.getByTestId('history').count()).toBe(0)
  })

  it('the Photos grid and the photo viewer', async () => {
    const { page } = a
    await page.getByTestId('photos-button').click()
    await expect.poll(() => page.getByTestId('photo-tile').count()).toBe(3)
    await imagesLoaded(page.locator('[data-testid=photo-tile] img'), 3)
    await expect.poll(() => page.locator('.photo-badge').count(), { timeout: 30_000 }).toBe(0)
    await shots(page, 'photos', 'The Photos grid', page.getByTestId('photos'))
    await page.getByTestId('photo-tile').first().click()
    await page.getByTestId('photo-viewer').waitFor()
    await expect.poll(() => page.getByTestId('viewer-img').evaluate((i: HTMLImageElement) => i.dataset['state'] === 'full' && i.complete ? i.naturalWidth : 0), { timeout: 15_000 }).toBe(480)
    expect(await page.getByTestId('viewer-position').innerText()).toBe('1 of 3')
    await shots(page, 'photo-viewer', 'The photo viewer', page.getByTestId('viewer-img'))
    await page.keyboard.press('Escape')
    await expect.poll(() => page.getByTestId('photo-viewer').count()).toBe(0)
    await page.getByTestId('photos-button').click()
    await page.locator('[data-testid=item-note] .cm-md-h1').waitFor()
  })

  it('search results, the quick switcher and the shortcuts sheet', async () => {
    const { page } = a
    await page.keyboard.press('Control+K')
    await expect.poll(() => page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset['testid'])).toBe('search')
    await page.keyboard.type('stove')
    await expect.poll(() => page.locator('[data-testid=search-hit] mark').allInnerTexts()).toContain('stove')
    await shots(page, 'search', 'Search results (Ctrl/Cmd+K, “stove”)', page.getByTestId('search-results'))
    await page.getByTestId('search').fill('')
    await page.getByTestId('search').blur()

    await page.keyboard.press('Control+p')
    const sw = page.getByTestId('switcher')
    await sw.waitFor({ state: 'visible' })
    await expect.poll(() => sw.getByRole('option').allInnerTexts()).toEqual(['Garden', 'Weekend at the lake'])
    await shots(page, 'switcher', 'The quick switcher (Ctrl/Cmd+P)', sw.getByRole('option').first())
    await page.keyboard.press('Escape')
    await sw.waitFor({ state: 'hidden' })

    // "?" opens the sheet only when no field has the focus: take it away until the key lands (the
    // closed switcher hands the focus back to what had it, which can come after a first blur).
    const sheet = page.getByTestId('shortcuts')
    await expect.poll(async () => {
      if (!await sheet.isVisible()) { await blur(page); await page.keyboard.press('Shift+?') }
      return sheet.isVisible()
    }, { timeout: 15_000, interval: 300 }).toBe(true)
    expect(await page.getByTestId('space-title').inputValue()).toBe('Weekend at the lake')
    expect(await page.getByTestId('search').inputValue()).toBe('')
    expect(await sheet.innerText()).toMatch(/Ctrl\+P/)
    await shots(page, 'shortcuts', 'The keyboard shortcuts sheet (?)', sheet.getByRole('heading', { name: 'Keyboard shortcuts' }))
    await page.keyboard.press('Escape')
    await sheet.waitFor({ state: 'hidden' })
  })

  it('the phone drawer, and the spaces list with spaces', async () => {
    const { page } = a
    await page.setViewportSize(PHONE)
    await page.getByTestId('drawer-toggle').click()
    await page.getByTestId('sidebar').waitFor({ state: 'visible' })
    expect(await page.getByTestId('sidebar-space').allInnerTexts()).toEqual(['Garden', 'Weekend at the lake'])
    await shots(page, 'drawer', 'The spaces drawer on a phone', page.getByTestId('sidebar-space').first(), { sizes: ['phone'] })
    await page.setViewportSize(PHONE)
    await page.locator('.drawer-backdrop').click({ position: { x: 370, y: 400 } })
    await page.getByTestId('sidebar').waitFor({ state: 'hidden' })
    await page.setViewportSize(DESKTOP)

    await page.locator('a.brand').click()
    await expect.poll(() => page.getByTestId('spaces').locator('li').count()).toBe(2)
    await shots(page, 'list', 'The spaces list with two spaces', page.getByTestId('spaces'))
    await page.getByTestId('spaces').getByRole('button', { name: 'Weekend at the lake' }).click()
    await page.locator('[data-testid=item-note] .cm-md-h1').waitFor()
  })

  it('a view-only member\'s view', async () => {
    const { page } = c
    await page.goto(viewLink)
    await setName(page, 'Cleo', 6)
    await page.getByTestId('view-only').waitFor()
    await expect.poll(() => noteText(page), { timeout: 20_000 }).toContain('buy gas for the stove')
    expect(await page.getByTestId('add-note').count()).toBe(0)
    await imagesLoaded(page.locator('img.thumb'), 3)
    await expect.poll(() => page.getByTestId('peer').allInnerTexts(), { timeout: 15_000 }).toEqual(expect.arrayContaining(['Alice', 'Bob']))
    await expect.poll(() => a.page.locator('[data-testid=peer].viewer').count(), { timeout: 15_000 }).toBe(1)
    await shots(page, 'view-only', 'A view-only member’s view', page.getByTestId('view-only'))
  })

  it('the relay unreachable, and offline', async () => {
    // The relay stops while the network is up (Bob's screen); then Alice's network goes too.
    for (const p of [a.page, b.page]) await expect.poll(() => status(p)).toMatch(/Online/)
    await app.close()
    relayUp = false
    await expect.poll(() => status(b.page), { timeout: 15_000 }).toContain('Relay unreachable')
    expect(await status(b.page)).not.toMatch(/offline|no network/i)
    await blur(b.page)
    await shots(b.page, 'relay-unreachable', 'The relay unreachable, the network up', b.page.getByTestId('status'))

    await a.context.setOffline(true)
    await expect.poll(() => status(a.page), { timeout: 15_000 }).toMatch(/no network/i)
    await a.page.locator('[data-testid=item-note] .cm-content').click()
    await a.page.keyboard.press('Control+End')
    await a.page.keyboard.type(' (and a torch)')
    await expect.poll(() => status(a.page)).toMatch(/\d+ changes? not yet on the relay/)
    await blur(a.page)
    await shots(a.page, 'offline', 'Offline: no network, changes kept on this device', a.page.getByTestId('status'))
  })

  it('saved every screen at both sizes, and left no page errors', () => {
    const names = new Set(taken.map(s => s.name))
    for (const n of ['list-empty', 'list', 'space', 'share', 'security', 'trash', 'history', 'photos', 'photo-viewer', 'search', 'switcher', 'shortcuts', 'view-only', 'offline', 'relay-unreachable']) {
      for (const size of ['desktop', 'phone']) expect(names.has(`${n}-${size}`), `${n}-${size}`).toBe(true)
    }
    expect(names.has('drawer-phone')).toBe(true)
    for (const s of taken) expect(fs.statSync(path.join(DIR, s.file)).size, s.file).toBeGreaterThan(1000)
    expect(traffic.errors.filter(e => !/Failed to load resource|WebSocket|ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_REFUSED/.test(e))).toEqual([])
  })
})
