import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import type { Browser, BrowserContext, Download, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ARTIFACTS, buildApp, hasChromium, launch, newPage, newTraffic, noteText, startAppRelay, type AppRelay, type Traffic } from './support.js'

/**
 * Issue 9, items 3 and 6: what a person is told about how current their copy is. Real Chromium,
 * real relay, two members. The steps build on each other: the relay is stopped half-way (the
 * network stays up), then Alice's network goes too.
 *
 * Before the fix (run on 6c55c95), 4 of 5 failed:
 *
 *   (3) export from the list   space.json held ['alice-first'] only: it was read from the copy
 *                              stored when Alice last opened the space, without Bob's later edit
 *   (6) relay stopped          status read 'Offline · All changes on the relay · Last synced …'
 *                              (no word of the relay), expected 'Relay unreachable'
 *   (3) export, relay down     no `syncedAt` in space.json and no [data-testid=export-status]:
 *                              nothing said how old the exported copy was
 *   (6) no network + reload    status read 'Offline · … · Last synced never' (nothing said there
 *                              was no network; a session opened with the relay down, or reloaded
 *                              offline, knew no last sync)
 *
 * After: 5 of 5 pass.
 */
describe.skipIf(!hasChromium)('how current a copy is: export from the list, relay vs network, last synced (issue 9)', () => {
  let app: AppRelay
  let relayUp = true
  let browser: Browser
  const traffic: Traffic = newTraffic()
  let a: { context: BrowserContext; page: Page }
  let b: { context: BrowserContext; page: Page }
  const TITLE = 'Export test'

  const status = (p: Page): Promise<string> => p.locator('[data-testid=status]').innerText()
  const shot = (p: Page, name: string): Promise<Buffer> => p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true })
  /** A screenshot at desktop size and at 390×844, then back. */
  const shots = async (p: Page, name: string): Promise<void> => {
    const size = p.viewportSize()
    await shot(p, `${name}-desktop`)
    await p.setViewportSize({ width: 390, height: 844 })
    await shot(p, `${name}-phone`)
    if (size !== null) await p.setViewportSize(size)
  }
  const row = (p: Page) => p.getByTestId('spaces').locator('li', { hasText: TITLE })
  const toList = async (p: Page): Promise<void> => {
    await p.locator('a.brand').click()
    await p.getByTestId('create-space').waitFor()
  }
  /** space.json of an exported ZIP, read with Python's zipfile (checks every CRC). */
  const spaceJson = async (d: Download): Promise<{ items: { kind: string; text?: string }[]; syncedAt?: string | null }> =>
    JSON.parse(execFileSync('python3', ['-c', 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read("space.json").decode())', (await d.path())!], { encoding: 'utf8' })) as { items: { kind: string; text?: string }[] }

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
    if (relayUp) await app?.close()
  })

  it('(3) export from the spaces list syncs first: it includes an edit Bob made after Alice last opened the space', async () => {
    const { page } = a
    await page.goto(app.origin + '/')
    await page.getByTestId('new-space-title').fill(TITLE)
    await page.getByTestId('create-space').click()
    await page.getByTestId('add-note').click()
    await page.locator('.cm-content').first().click()
    await page.keyboard.type('alice-first')
    await expect.poll(() => status(page)).toContain('All changes on the relay')
    await page.getByTestId('share-button').click()
    const editLink = await page.getByTestId('edit-link').inputValue()
    await b.page.goto(editLink)
    await expect.poll(() => noteText(b.page)).toBe('alice-first')
    // The offline steps below reload from the service worker: it must hold the app shell by then.
    for (const p of [page, b.page]) await p.evaluate(() => navigator.serviceWorker.ready.then(() => undefined))

    await toList(page)
    await b.page.getByTestId('add-note').click()
    await b.page.locator('.cm-content').first().click()
    await b.page.keyboard.type('bob-late-edit')
    await expect.poll(() => status(b.page)).toMatch(/Online[\s\S]*All changes on the relay/)

    const [download] = await Promise.all([page.waitForEvent('download'), row(page).getByRole('button', { name: 'Export', exact: true }).click()])
    const json = await spaceJson(download)
    expect(json.items.filter(i => i.kind === 'note').map(i => i.text).sort()).toEqual(['alice-first', 'bob-late-edit'])
    expect(typeof json.syncedAt).toBe('string')
    await expect.poll(() => row(page).getByTestId('export-status').innerText()).toMatch(/up to date/i)
    await shots(page, 'sync-1-export-synced')
  })

  it('(6) the relay stopped while the network is up: the status says the relay is unreachable, not offline', async () => {
    const { page } = a
    await row(page).getByRole('button', { name: TITLE }).click()
    await expect.poll(() => noteText(page, 0)).toBe('bob-late-edit')
    await expect.poll(() => status(page)).toMatch(/Online[\s\S]*Last synced \d/)
    await app.close()
    relayUp = false
    for (const p of [page, b.page]) await expect.poll(() => status(p), { timeout: 15_000 }).toContain('Relay unreachable')
    expect(await status(page)).not.toMatch(/offline|no network/i)
    await shots(page, 'sync-2-relay-unreachable')
  })

  it('(3) export from the list with the relay down says how old the copy is', async () => {
    const { page } = a
    await toList(page)
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 20_000 }),
      row(page).getByRole('button', { name: 'Export', exact: true }).click()
    ])
    const json = await spaceJson(download)
    expect(json.items.filter(i => i.kind === 'note').map(i => i.text).sort()).toEqual(['alice-first', 'bob-late-edit'])
    expect(typeof json.syncedAt).toBe('string')
    const said = await row(page).getByTestId('export-status').innerText()
    expect(said).toMatch(/relay unreachable/i)
    expect(said).toMatch(/last synced (at )?\d{1,2}:\d{2}/i)
    await shots(page, 'sync-3-export-stale')
  })

  it('(6) no network: the status says so; after a reload with no network, "Last synced" keeps the real time', async () => {
    const { page, context } = a
    await row(page).getByRole('button', { name: TITLE }).click()
    await expect.poll(() => noteText(page, 0)).toBe('bob-late-edit')
    await context.setOffline(true)
    await expect.poll(() => status(page), { timeout: 15_000 }).toMatch(/no network/i)
    await page.waitForTimeout(300)
    await page.reload()
    await page.locator('[data-testid=item-note] .cm-content').first().waitFor({ timeout: 20_000 })
    // Debian's Chromium 150 with playwright-core 1.65 keeps the context offline across the reload
    // (the page came from the service worker, nothing reached the relay) but the new document's
    // navigator.onLine says true until the emulation is applied again; a device with no network
    // says false from the start, as it does once applied.
    if (await page.evaluate(() => navigator.onLine)) {
      await context.setOffline(false)
      await context.setOffline(true)
    }
    await expect.poll(() => status(page)).toMatch(/no network/i)
    const s = await status(page)
    expect(s).not.toContain('Last synced never')
    expect(s).toMatch(/Last synced (at )?\d{1,2}:\d{2}/)
    await shots(page, 'sync-4-no-network')
  })

  it('left no page errors', () => {
    expect(traffic.errors.filter(e => !/ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_REFUSED|Failed to load resource|WebSocket/.test(e))).toEqual([])
  })
})
