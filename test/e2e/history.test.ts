import path from 'node:path'
import type { Browser, BrowserContext, Dialog, Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { ARTIFACTS, hasChromium, newPage, newTraffic, noteText, twoPeople, type AppRelay, type Traffic } from './support.js'

/**
 * Issue 9, History in the browser: Alice writes a note and a checklist, saves a snapshot, then
 * rewrites the note and deletes the checklist. In the History panel she sees the snapshot, views
 * the space as it was (the live space untouched), restores the note's text and the checklist as
 * new edits, and Bob, in another browser, sees them arrive. A viewer sees the history without any
 * restore button; with no relay, the panel says history cannot be reached.
 */
describe.skipIf(!hasChromium)('History: snapshots in the browser (issue 9)', () => {
  let app: AppRelay
  let browser: Browser
  const traffic: Traffic = newTraffic()
  let a: { context: BrowserContext; page: Page }
  let b: { context: BrowserContext; page: Page }
  let viewLink = ''

  const shot = (p: Page, name: string): Promise<Buffer> => p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true })
  const connection = (p: Page): Promise<string> => p.getByTestId('connection').innerText()
  const entryTexts = (p: Page): Promise<string[]> => p.locator('[data-testid=item-checklist] .entry-text').evaluateAll((els: HTMLInputElement[]) => els.map(e => e.value))
  const named = async (p: Page, name: string): Promise<void> => {
    await p.getByTestId('profile-name').fill(name)
    await p.getByTestId('profile-name').press('Enter')
  }
  const addEntry = async (p: Page, text: string): Promise<void> => {
    await p.getByTestId('todo-input').fill(text)
    await p.getByTestId('todo-input').press('Enter')
  }
  const openHistory = async (p: Page): Promise<void> => {
    const button = p.getByTestId('history-button')
    if (await button.getAttribute('aria-expanded') !== 'true') await button.click()
    await p.getByTestId('history').waitFor()
  }
  const historyItem = (p: Page, kind: string) => p.locator(`[data-testid=history-item][data-kind=${kind}]`)

  twoPeople(traffic, e => { ({ app, browser, a, b } = e) })

  it('Alice writes a note and a checklist; Bob joins', async () => {
    const { page } = a
    await page.goto(app.origin + '/')
    await named(page, 'Alice')
    await page.getByTestId('new-space-title').fill('Camping')
    await page.getByTestId('create-space').click()
    await page.getByTestId('add-checklist').click()
    await page.getByLabel('Checklist title').fill('Trip')
    await addEntry(page, 'tent')
    await addEntry(page, 'stove')
    await page.getByTestId('todo').first().getByRole('checkbox').check()
    await page.getByTestId('add-note').click()
    await page.locator('[data-testid=item-note] .cm-content').click()
    await page.keyboard.type('Bring the tent\nand the stove')
    await page.getByTestId('share-button').click()
    const editLink = await page.getByTestId('edit-link').inputValue()
    viewLink = await page.getByTestId('view-link').inputValue()
    await page.getByTestId('share-button').click()
    await b.page.goto(editLink)
    await named(b.page, 'Bob')
    await expect.poll(() => noteText(b.page), { timeout: 15_000 }).toBe('Bring the tent\nand the stove')
    expect(await entryTexts(b.page)).toEqual(['tent', 'stove'])
  })

  it('Alice saves a snapshot; the timeline lists it, by her device, with its item count', async () => {
    await openHistory(a.page)
    // "Not caught up yet" is a fair answer right after typing: ask again until a snapshot is stored.
    await expect.poll(async () => {
      if (await a.page.getByTestId('history-seal').isEnabled()) await a.page.getByTestId('history-seal').click()
      await a.page.waitForTimeout(300)
      return a.page.getByTestId('history-row').count()
    }, { timeout: 30_000, interval: 500 }).toBeGreaterThanOrEqual(1)
    const row = a.page.getByTestId('history-row').first()
    expect(await row.innerText()).toMatch(/#\d+ · by this device · 2 items/)
    await a.page.getByTestId('history-button').click()
  })

  it('Alice rewrites the note and deletes the checklist; Bob sees both', async () => {
    await a.page.locator('[data-testid=item-note] .cm-content').click()
    await a.page.keyboard.press('Control+a')
    await a.page.keyboard.type('Bring nothing')
    const accept = (d: Dialog): void => void d.accept()
    a.page.on('dialog', accept)
    await a.page.getByTestId('item-checklist').getByRole('button', { name: 'Delete checklist' }).click()
    a.page.off('dialog', accept)
    await expect.poll(() => noteText(b.page), { timeout: 15_000 }).toBe('Bring nothing')
    await expect.poll(() => b.page.getByTestId('item-checklist').count(), { timeout: 15_000 }).toBe(0)
  })

  it('viewing the snapshot shows the space as it was, read-only, and leaves the live space alone', async () => {
    const { page } = a
    await openHistory(page)
    await page.getByTestId('history-row').first().click()
    await page.getByTestId('snapshot-view').waitFor()
    expect(await page.getByTestId('history-as-of').innerText()).toMatch(/^As of /)
    // The heading takes the focus, so a keyboard user lands on what was chosen.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('snapshot-as-of')
    expect(await page.getByTestId('history-title').innerText()).toBe('Camping')
    expect(await page.getByTestId('history-note-text').innerText()).toBe('Bring the tent\nand the stove')
    expect(await historyItem(page, 'note').getByTestId('history-standing').innerText()).toBe('Changed since')
    expect(await historyItem(page, 'checklist').getByTestId('history-standing').innerText()).toBe('In the Trash now')
    const entries = historyItem(page, 'checklist').getByTestId('history-entry')
    expect(await entries.allInnerTexts()).toEqual([expect.stringContaining('tent'), expect.stringContaining('stove')])
    expect(await entries.evaluateAll(els => els.map(e => e.getAttribute('data-done')))).toEqual(['true', 'false'])
    // Looking changed nothing: the live note and the (empty of checklists) space are as they were.
    expect(await noteText(page)).toBe('Bring nothing')
    expect(await page.getByTestId('item-checklist').count()).toBe(0)
    await shot(page, 'history-desktop')
    await page.setViewportSize({ width: 390, height: 844 })
    await page.getByTestId('history').scrollIntoViewIfNeeded()
    await shot(page, 'history-phone')
    await page.setViewportSize({ width: 1100, height: 900 })
    // Escape goes back to the list, the focus on the row; Enter opens it again.
    await page.keyboard.press('Escape')
    await expect.poll(() => page.getByTestId('snapshot-view').count()).toBe(0)
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('history-row')
    await page.keyboard.press('Enter')
    await page.getByTestId('snapshot-view').waitFor()
  })

  it('restoring the note\'s text and the checklist are new edits that reach Bob', async () => {
    const { page } = a
    const note = historyItem(page, 'note').getByTestId('history-restore')
    expect(await note.innerText()).toBe('Restore this text')
    await note.click()
    await historyItem(page, 'checklist').getByTestId('history-restore').click()
    for (const p of [a.page, b.page]) {
      await expect.poll(() => noteText(p), { timeout: 15_000 }).toBe('Bring the tent\nand the stove')
      await expect.poll(() => entryTexts(p), { timeout: 15_000 }).toEqual(['tent', 'stove'])
      expect(await p.getByTestId('todo').first().getByRole('checkbox').isChecked()).toBe(true)
    }
    // Nothing differs any more: no restore buttons left, and the toast offers Undo.
    await expect.poll(() => page.getByTestId('history-restore').count()).toBe(0)
    await expect.poll(() => historyItem(page, 'note').getByTestId('history-standing').innerText()).toBe('Unchanged since')
    // Undo takes the restore back, for both; restoring again brings it back.
    await page.getByTestId('toast').filter({ hasText: 'Restored “Trip”' }).getByRole('button', { name: 'Undo' }).click()
    for (const p of [a.page, b.page]) await expect.poll(() => p.getByTestId('item-checklist').count(), { timeout: 15_000 }).toBe(0)
    await expect.poll(() => historyItem(page, 'checklist').getByTestId('history-standing').innerText()).toBe('In the Trash now')
    await historyItem(page, 'checklist').getByTestId('history-restore').click()
    for (const p of [a.page, b.page]) await expect.poll(() => entryTexts(p), { timeout: 15_000 }).toEqual(['tent', 'stove'])
  })

  it('a second tab of Alice\'s, which does not hold the connection, gets the history through the one that does', async () => {
    const tab = await a.context.newPage()
    tab.on('pageerror', e => traffic.errors.push(e.message))
    await tab.goto(app.origin + '/')
    await tab.getByTestId('sidebar-space').filter({ hasText: 'Camping' }).click()
    await expect.poll(() => tab.getByTestId('status').innerText(), { timeout: 15_000 }).toContain('through another tab')
    await openHistory(tab)
    await expect.poll(() => tab.getByTestId('history-row').count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(1)
    await tab.getByTestId('history-row').first().click()
    expect(await tab.getByTestId('history-note-text').innerText()).toBe('Bring the tent\nand the stove')
    await tab.close()
  })

  it('a viewer sees the timeline and the old state, with no restore or save buttons', async () => {
    const c = await newPage(browser, traffic)
    await c.page.goto(viewLink)
    await c.page.getByTestId('view-only').waitFor()
    await openHistory(c.page)
    await expect.poll(() => c.page.getByTestId('history-row').count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(1)
    await c.page.getByTestId('history-row').first().click()
    await c.page.getByTestId('snapshot-view').waitFor()
    expect(await c.page.getByTestId('history-note-text').innerText()).toBe('Bring the tent\nand the stove')
    // Bob changes the title live, so an editor would get a button; the viewer must not.
    await b.page.getByTestId('space-title').fill('Camping 2')
    await expect.poll(() => c.page.getByTestId('space-title').inputValue(), { timeout: 15_000 }).toBe('Camping 2')
    expect(await c.page.getByTestId('history-restore').count()).toBe(0)
    expect(await c.page.getByTestId('history-restore-title').count()).toBe(0)
    expect(await c.page.getByTestId('history-seal').count()).toBe(0)
    await c.context.close()
  })

  it('with no relay the panel says so, and lists the snapshots once it is back', async () => {
    const { page, context } = b
    await context.setOffline(true)
    await expect.poll(() => connection(page), { timeout: 15_000 }).not.toBe('Online')
    await openHistory(page)
    expect(await page.getByTestId('history-unreachable').innerText()).toBe('History lives on the relay; it can\'t be reached now.')
    expect(await page.getByTestId('history-row').count()).toBe(0)
    await context.setOffline(false)
    await expect.poll(() => page.getByTestId('history-row').count(), { timeout: 20_000 }).toBeGreaterThanOrEqual(1)
    expect(await page.getByTestId('history-unreachable').count()).toBe(0)
    // Bob was not there when Alice sealed it, and she is: her name, as the presence bar says it.
    expect(await page.getByTestId('history-row').first().innerText()).toContain('by Alice')
  })

  it('left no page errors', () => {
    expect(traffic.errors.filter(e => !/Failed to load resource|WebSocket|ERR_INTERNET_DISCONNECTED/.test(e))).toEqual([])
  })
})
