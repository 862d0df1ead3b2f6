import fs from 'node:fs'
import path from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ARTIFACTS, buildApp, hasChromium, launch, newPage, newTraffic, startAppRelay, type AppRelay, type Traffic } from './support.js'

/**
 * Issue 9, search: Alice has a word in her search box; Bob types it in a note; Alice's results
 * show it, highlighted, within a second of the word arriving in her copy of the note. Both
 * moments are taken inside Alice's page (one clock), polling every animation frame.
 */
describe.skipIf(!hasChromium)('Search (issue 9)', () => {
  let app: AppRelay
  let browser: Browser
  const traffic: Traffic = newTraffic()
  let a: { context: BrowserContext; page: Page }
  let b: { context: BrowserContext; page: Page }
  const WORD = `quokka${Date.now() % 100000}`

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

  it('finds a word typed by the other member within a second of it arriving, highlighted', async () => {
    await a.page.goto(app.origin + '/')
    await a.page.getByTestId('new-space-title').fill('Zoo')
    await a.page.getByTestId('create-space').click()
    await a.page.getByTestId('share-button').click()
    const editLink = await a.page.getByTestId('edit-link').inputValue()
    await a.page.getByTestId('share-button').click()
    await b.page.goto(editLink)
    await b.page.getByTestId('add-note').click()
    await a.page.locator('[data-testid=item-note] .cm-content').waitFor()

    await a.page.keyboard.press('Control+K')
    expect(await a.page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.testid)).toBe('search')
    await a.page.keyboard.type(WORD)
    const timing = a.page.evaluate((word: string) => new Promise<{ arrived: number; found: number }>(resolve => {
      let arrived = 0
      const tick = (): void => {
        // CodeMirror lives in a shadow root inside the note's card.
        const card = document.querySelector('[data-testid=item-note]')
        const host = card === null ? undefined : [...card.querySelectorAll('*')].find(e => e.shadowRoot !== null)
        const note = host?.shadowRoot?.querySelector('.cm-content')?.textContent ?? ''
        if (arrived === 0 && note.includes(word)) arrived = performance.now()
        const hit = [...document.querySelectorAll('[data-testid=search-hit] mark')].some(m => m.textContent === word)
        if (hit && arrived !== 0) { resolve({ arrived, found: performance.now() }); return }
        requestAnimationFrame(tick)
      }
      tick()
    }), WORD)
    await b.page.locator('[data-testid=item-note] .cm-content').click()
    await b.page.keyboard.type(`Seen a ${WORD} today`)
    const t = await timing
    console.log(`search: hit ${(t.found - t.arrived).toFixed(0)} ms after the word arrived`)
    expect(t.found - t.arrived).toBeLessThan(1000)
    await expect.poll(() => a.page.getByTestId('search-hit').first().innerText()).toContain(`Seen a ${WORD}`)
    await a.page.screenshot({ path: path.join(ARTIFACTS, 'search.png'), fullPage: true })
  })

  it('finds words in the other spaces of this device, after a reload too (read from the local replica)', async () => {
    const zoo = a.page.url()
    await a.page.goto(app.origin + '/')
    await a.page.getByTestId('new-space-title').fill('Garden')
    await a.page.getByTestId('create-space').click()
    await a.page.getByTestId('add-note').click()
    await a.page.keyboard.type('Plant tulip bulbs')
    await expect.poll(() => a.page.getByTestId('connection').innerText()).toBe('Online')
    await a.page.waitForTimeout(500)
    const other = (): Promise<string[]> => a.page.getByTestId('search-hit-other').allInnerTexts()
    // Garden, never searched in: indexed from Zoo's search box on focus.
    await a.page.goto(zoo)
    await a.page.getByTestId('search').fill('tuli')
    await expect.poll(other).toEqual([expect.stringContaining('Garden · Note Plant tulip bulbs')])
    expect(await a.page.locator('[data-testid=search-hit-other] mark').allInnerTexts()).toEqual(['tuli'])
    // A new tab's worth of memory: Garden is read from this browser's replica, offline.
    await a.context.setOffline(true)
    await a.page.reload()
    await a.page.getByTestId('search').fill('tulip')
    await expect.poll(other).toEqual([expect.stringContaining('Plant tulip bulbs')])
    await a.context.setOffline(false)
  })
})
