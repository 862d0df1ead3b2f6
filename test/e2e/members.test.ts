import type { Browser, BrowserContext, Dialog, Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { hasChromium, newPage, newTraffic, noteText, twoPeople, type AppRelay, type Traffic } from './support.js'

/**
 * Issue 11 in the browser: Alice, Bob and Carol in one space; the Members panel lists all three
 * with their roles and marks this device. Alice removes Bob from the list: Bob's browser says he
 * was removed, Alice and Carol carry on in the new epoch without a new link, and what Alice writes
 * after never reaches Bob.
 */
describe.skipIf(!hasChromium)('Members: removing a member in the browser (issue 11)', () => {
  let app: AppRelay
  let browser: Browser
  const traffic: Traffic = newTraffic()
  let a: { context: BrowserContext; page: Page }
  let b: { context: BrowserContext; page: Page }
  let c: { context: BrowserContext; page: Page }
  const named = async (p: Page, name: string): Promise<void> => {
    await p.getByTestId('profile-name').fill(name)
    await p.getByTestId('profile-name').press('Enter')
  }
  const openMembers = async (p: Page): Promise<void> => {
    const button = p.getByTestId('members-button')
    if (await button.getAttribute('aria-expanded') !== 'true') await button.click()
    await p.getByTestId('members-panel').waitFor()
  }
  const memberNames = (p: Page): Promise<string[]> => p.getByTestId('member-name').allInnerTexts()

  twoPeople(traffic, e => { ({ app, browser, a, b } = e) })

  it('three people see each other in the Members panel', async () => {
    await a.page.goto(app.origin + '/')
    await named(a.page, 'Alice')
    await a.page.getByTestId('new-space-title').fill('Trip')
    await a.page.getByTestId('create-space').click()
    await a.page.getByTestId('add-note').click()
    await a.page.locator('[data-testid=item-note] .cm-content').click()
    await a.page.keyboard.type('before')
    await a.page.getByTestId('share-button').click()
    const editLink = await a.page.getByTestId('edit-link').inputValue()
    await a.page.getByTestId('share-button').click()
    c = await newPage(browser, traffic)
    for (const [p, n] of [[b.page, 'Bob'], [c.page, 'Carol']] as const) {
      await p.goto(app.origin + '/')
      await named(p, n)
      await p.goto(editLink)
      await expect.poll(() => noteText(p), { timeout: 15_000 }).toBe('before')
    }
    await openMembers(a.page)
    await expect.poll(async () => (await memberNames(a.page)).sort(), { timeout: 15_000 }).toEqual(['Alice', 'Bob', 'Carol'])
    const self = a.page.locator('[data-testid=member][data-self=true]')
    expect(await self.getByTestId('member-name').innerText()).toBe('Alice')
    expect(await self.getByTestId('member-role').innerText()).toBe('Edit')
  })

  it('Alice removes Bob: Bob is told, Alice and Carol go on without a new link', async () => {
    const accept = (d: Dialog): void => void d.accept()
    a.page.on('dialog', accept)
    const oldLink = await a.page.evaluate(() => location.href)
    await a.page.locator('[data-testid=member]', { hasText: 'Bob' }).getByTestId('member-remove').click()
    await b.page.getByTestId('removed-banner').waitFor({ timeout: 20_000 })
    expect(await b.page.getByTestId('removed-banner').innerText()).toMatch(/You were removed from this space/)
    a.page.off('dialog', accept)
    // Alice's and Carol's pages reopen the space in the new epoch by themselves.
    await a.page.waitForLoadState('load')
    await expect.poll(() => noteText(a.page), { timeout: 20_000 }).toBe('before')
    await expect.poll(() => noteText(c.page), { timeout: 20_000 }).toBe('before')
    await a.page.locator('[data-testid=item-note] .cm-content').click()
    await a.page.keyboard.press('End')
    await a.page.keyboard.type(' and after')
    await expect.poll(() => noteText(c.page), { timeout: 20_000 }).toBe('before and after')
    await b.page.waitForTimeout(1000)
    expect(await noteText(b.page)).toBe('before')
    await openMembers(a.page)
    await expect.poll(async () => (await memberNames(a.page)).sort(), { timeout: 15_000 }).toEqual(['Alice', 'Carol'])
    expect(oldLink).toBeDefined()
  })
})
