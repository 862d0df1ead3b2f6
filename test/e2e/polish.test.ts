import fs from 'node:fs'
import path from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ARTIFACTS, buildApp, editorText, hasChromium, launch, newPage, newTraffic, noteText, startAppRelay, type AppRelay, type Traffic } from './support.js'

/**
 * Issue 9, item 7: the small things a new user trips over, each checked as it renders in real
 * Chromium against a real relay (Alice edits, Bob edits, Carol has a view-only link).
 *
 * Before the fix (run on 6c55c95), 7 of its 9 checks failed (the setup and the page-error check
 * passed; the README picture step came later):
 *
 *   banner            2 "Unknown space" banners when the address changes inside the running app
 *                     (popstate and hashchange each opened the space), expected 1
 *   tab title         'Cove' in a space titled 'Looks', expected 'Looks — Cove'
 *   new note          focus stayed outside the editor after "+ Note"; typed keys went nowhere
 *   name label        the name input had no <label> (aria-label only): `labels` was []
 *   read-only fields  Carol's link URL: background rgb(255, 255, 255), border rgb(222, 223, 227)
 *   tap targets       at 390×844, 52 controls in the space and 15 on the list under 44 px
 *                     (swatches 22×22, row buttons 27×26, Undo 54×27, checkboxes 13×13,
 *                     buttons 38 high, the "Open Campsite" link 23 high)
 *   remote cursor     Bob's label on the first line stuck out 5 px above the editor's scroller
 *                     ({"top":-5,…}), cut off there
 *
 * After: 10 of 10 pass (the README's docs/screenshot.png is the picture step's screenshot).
 */
describe.skipIf(!hasChromium)('polish: banner, tab title, focus, labels, read-only look, tap targets, cursor labels (issue 9.7)', () => {
  let app: AppRelay
  let browser: Browser
  const traffic: Traffic = newTraffic()
  let a: { context: BrowserContext; page: Page }
  let b: { context: BrowserContext; page: Page }
  let c: { context: BrowserContext; page: Page }
  let editLink = ''
  let viewLink = ''
  let noteId = ''

  const status = (p: Page): Promise<string> => p.locator('[data-testid=status]').innerText()
  const shot = (p: Page, name: string): Promise<Buffer> => p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true })
  const shots = async (p: Page, name: string): Promise<void> => {
    const size = p.viewportSize()
    await shot(p, `${name}-desktop`)
    await p.setViewportSize({ width: 390, height: 844 })
    await shot(p, `${name}-phone`)
    if (size !== null) await p.setViewportSize(size)
  }

  beforeAll(async () => {
    buildApp()
    fs.mkdirSync(ARTIFACTS, { recursive: true })
    app = await startAppRelay()
    browser = await launch()
    a = await newPage(browser, traffic)
    b = await newPage(browser, traffic)
  })

  afterAll(async () => {
    await browser?.close()
    await app?.close()
  })

  it('an address naming an unknown space shows one "Unknown space" banner, not two', async () => {
    const p = await newPage(browser, traffic)
    await p.page.goto(`${app.origin}/#/s/${'ab'.repeat(16)}`)
    await p.page.getByTestId('create-space').waitFor()
    await p.page.waitForTimeout(1000)
    expect(await p.page.locator('.errors .error', { hasText: 'Unknown space' }).count()).toBe(1)
    await p.page.getByRole('button', { name: 'Dismiss' }).click()
    // The same address reached from inside the running app (pasted, or back and forward).
    await p.page.evaluate(() => { location.hash = `#/s/${'cd'.repeat(16)}` })
    await p.page.getByTestId('create-space').waitFor()
    await p.page.waitForTimeout(1000)
    expect(await p.page.locator('.errors .error', { hasText: 'Unknown space' }).count()).toBe(1)
    await p.context.close()
  })

  it('the tab is titled after the space ("Looks — Cove"), and "Cove" on the list', async () => {
    const { page } = a
    await page.goto(app.origin + '/')
    await page.getByTestId('create-space').waitFor()
    expect(await page.title()).toBe('Cove')
    await page.getByTestId('new-space-title').fill('Looks')
    await page.getByTestId('create-space').click()
    await page.getByTestId('space-title').waitFor()
    await expect.poll(() => page.title()).toBe('Looks — Cove')
    await page.getByTestId('space-title').click()
    await page.keyboard.press('End')
    await page.keyboard.type(' good')
    await expect.poll(() => page.title()).toBe('Looks good — Cove')
  })

  it('(setup) Alice adds a two-line note, a checklist and a link', async () => {
    const { page } = a
    await page.getByTestId('add-note').click()
    await page.locator('.cm-content').first().click()
    await page.keyboard.type('first line')
    await page.keyboard.press('Enter')
    await page.keyboard.type('second line')
    noteId = (await page.getByTestId('item-note').first().getAttribute('data-item-id')) ?? ''
    await page.getByTestId('add-checklist').click()
    await page.getByTestId('todo-input').fill('Buy gas')
    await page.keyboard.press('Enter')
    await page.getByTestId('add-link').click()
    await page.getByLabel('Link URL').fill('https://example.org/')
    await page.getByLabel('Link title').fill('Campsite')
    await page.getByRole('button', { name: 'Add link' }).click()
    await expect.poll(() => status(page)).toContain('All changes on the relay')
    await page.getByTestId('share-button').click()
    editLink = await page.getByTestId('edit-link').inputValue()
    viewLink = await page.getByTestId('view-link').inputValue()
    await page.getByTestId('share-button').click()
  })

  it('a new note is focused: typing right after "+ Note" goes into it', async () => {
    const { page } = a
    await page.getByTestId('add-note').click()
    await expect.poll(() => page.evaluate(() => document.activeElement?.shadowRoot?.activeElement?.classList.contains('cm-content') === true), { timeout: 3000 }).toBe(true)
    await page.keyboard.type('typed at once')
    await expect.poll(() => noteText(page, 0)).toBe('typed at once')
  })

  it('the name box has a visible label', async () => {
    const labels = await a.page.getByTestId('profile-name').evaluate((el: HTMLInputElement) =>
      Array.from(el.labels ?? []).map(l => ({ text: l.textContent?.trim(), visible: l.getBoundingClientRect().width > 0 })))
    expect(labels).toContainEqual({ text: 'Your name', visible: true })
    expect(await a.page.getByLabel('Your name', { exact: true }).count()).toBe(1)
  })

  it('view-only fields read as plain text, not as editable white boxes', async () => {
    c = await newPage(browser, traffic)
    await c.page.goto(viewLink)
    await c.page.getByTestId('view-only').waitFor()
    await c.page.getByTestId('item-link').waitFor()
    // The search box is the one field a viewer types in (it searches, it edits nothing).
    const looks = await c.page.locator('main.space').locator('input:not([type=checkbox]):not([type=search]), textarea').evaluateAll(els => els.map(el => {
      const s = getComputedStyle(el)
      return { field: el.getAttribute('aria-label') ?? el.closest('label')?.firstChild?.textContent?.trim() ?? el.className, readOnly: (el as HTMLInputElement).readOnly, background: s.backgroundColor, border: s.borderTopColor, resize: s.resize }
    }))
    expect(looks.length).toBeGreaterThanOrEqual(5)
    for (const l of looks) expect(l).toMatchObject({ readOnly: true, background: 'rgba(0, 0, 0, 0)', border: 'rgba(0, 0, 0, 0)' })
    for (const l of looks.filter(x => x.field === 'Note')) expect(l.resize).toBe('none')
    await shots(c.page, 'polish-view-only')
  })

  it('at 390×844 every control is at least 44 px in both directions', async () => {
    const small = async (p: Page): Promise<string[]> => p.locator('button, a[href], input:not([type=file]), textarea, select, label.button, [role=button]').evaluateAll(els => els.flatMap(el => {
      const r = el.getBoundingClientRect()
      if (r.width === 0 && r.height === 0) return []
      if (el.closest('.visually-hidden') !== null || el.classList.contains('visually-hidden')) return []
      return Math.min(r.width, r.height) < 44 ? [`${el.tagName.toLowerCase()} "${el.getAttribute('aria-label') ?? el.textContent?.trim() ?? ''}" ${Math.round(r.width)}×${Math.round(r.height)}`] : []
    }))
    const p = await newPage(browser, traffic, { width: 390, height: 844 })
    await p.page.goto(editLink)
    await p.page.getByTestId('item-link').waitFor()
    await p.page.getByTestId('share-button').click()
    await p.page.getByTestId('add-link').click()
    const inSpace = await small(p.page)
    await p.page.getByTestId('share-button').click()
    await p.page.getByTestId('add-link').click()
    await shot(p.page, 'polish-space-phone')
    await p.page.locator('a.brand').click()
    await p.page.getByTestId('spaces').waitFor()
    const onList = await small(p.page)
    await shot(p.page, 'polish-list-phone')
    expect({ inSpace, onList }).toEqual({ inSpace: [], onList: [] })
    const overflow = await p.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(overflow).toBeLessThanOrEqual(0)
    await p.context.close()
  })

  it('a remote cursor on a note\'s first line shows its whole label, inside the editor', async () => {
    await b.page.goto(editLink)
    await b.page.getByTestId('profile-name').fill('Bea')
    await b.page.getByTestId('profile-name').press('Enter')
    const note = (p: Page) => p.locator(`[data-item-id="${noteId}"]`)
    await expect.poll(() => note(b.page).locator('.cm-content').evaluate(editorText)).toBe('first line\nsecond line')
    await note(b.page).locator('.cm-content').click()
    await b.page.keyboard.press('Control+Home')
    await b.page.keyboard.press('ArrowRight')
    const label = note(a.page).locator('.cm-remote-name')
    await expect.poll(() => label.innerText(), { timeout: 15_000 }).toBe('Bea')
    // The label is redrawn when the note's decorations are (a widget replaced mid-read is detached
    // from the editor): measured once it sits in the editor.
    const measure = (): Promise<{ top: number; bottom: number; left: number; right: number } | null> => label.evaluate(el => {
      const sc = el.closest('.cm-scroller')
      if (sc === null) return null
      const r = el.getBoundingClientRect()
      const s = sc.getBoundingClientRect()
      return { top: r.top - s.top, bottom: s.bottom - r.bottom, left: r.left - s.left, right: s.right - r.right }
    })
    await expect.poll(measure).not.toBeNull()
    const fit = (await measure())!
    expect(Math.min(fit.top, fit.bottom, fit.left, fit.right), JSON.stringify(fit)).toBeGreaterThanOrEqual(0)
    await shots(a.page, 'polish-space-cursor')
  })

  it('(picture) a space as the README shows it', async () => {
    const { page } = a
    await page.setViewportSize({ width: 900, height: 1160 })
    await page.getByTestId('profile-name').fill('Alex')
    await page.getByTestId('profile-name').press('Enter')
    await page.getByRole('button', { name: 'Colour 4' }).click()
    await page.locator('a.brand').click()
    await page.getByTestId('new-space-title').fill('Trip to the lake')
    await page.getByTestId('create-space').click()
    await page.getByTestId('add-note').click()
    await page.keyboard.type('Leave Friday 8:00 from the station.')
    await page.keyboard.press('Enter')
    await page.keyboard.type('Bring the tent, the stove and warm socks. And a map!')
    await page.getByTestId('add-checklist').click()
    for (const e of ['Buy gas', 'Book the campsite', 'Charge the lamps']) {
      await page.getByTestId('todo-input').fill(e)
      await page.keyboard.press('Enter')
    }
    await page.getByTestId('todo').nth(1).getByRole('checkbox').check()
    await page.getByTestId('add-link').click()
    await page.getByLabel('Link URL').fill('https://example.org/campsite')
    await page.getByLabel('Link title').fill('Campsite')
    await page.getByRole('button', { name: 'Add link' }).click()
    await page.getByTestId('share-button').click()
    const link = await page.getByTestId('edit-link').inputValue()
    await page.getByTestId('share-button').click()
    await b.page.goto(link)
    await b.page.getByTestId('profile-name').fill('Sam')
    await b.page.getByTestId('profile-name').press('Enter')
    await b.page.getByRole('button', { name: 'Colour 3' }).click()
    await b.page.locator('[data-testid=item-note] .cm-content').click()
    await b.page.keyboard.press('Control+End')
    await expect.poll(() => page.locator('.cm-remote-name').allInnerTexts(), { timeout: 15_000 }).toContain('Sam')
    await expect.poll(() => status(page)).toMatch(/Online[\s\S]*All changes on the relay/)
    await page.locator('a.brand').focus()
    await page.locator('a.brand').blur()
    await page.screenshot({ path: path.join(ARTIFACTS, 'readme-screenshot.png') })
  })

  it('left no page errors', async () => {
    await c?.context.close()
    expect(traffic.errors.filter(e => !/Failed to load resource|WebSocket|Unknown space/.test(e))).toEqual([])
  })
})
