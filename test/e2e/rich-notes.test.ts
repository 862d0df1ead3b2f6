import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Block } from '../../client/core/markdown.js'
import { bundleCli, cove, type CliRunner } from '../support/cli.js'
import { tempDir } from '../support/relay.js'
import { ARTIFACTS, buildApp, editorText, hasChromium, launch, makePng, newPage, newTraffic, startAppRelay, type AppRelay, type Traffic } from './support.js'

/**
 * Issue 9, rich notes: notes are Markdown with live preview, and the round trip browser → CLI →
 * browser holds. Alice types a heading, bold text and a task in the browser; `cove cat` (the real
 * CLI, a child process on the same relay) prints that Markdown and its structure; the CLI adds a
 * Markdown note, which both browsers draw (heading styled, checkboxes); ticking a box in one
 * browser edits the text, which the other browser and the CLI see. A plain-text note, made the
 * way every note was made before (a plain Y.Text), opens unchanged and still edits. A pasted
 * image becomes a file of the space and shows inline for both.
 */
interface NoteJSON { id: string; kind: string; text: string; blocks: Block[] }

describe.skipIf(!hasChromium)('Rich notes: Markdown with live preview (issue 9)', () => {
  let app: AppRelay
  let browser: Browser
  let cli: CliRunner
  const home = tempDir('cove-rich-notes-')
  const traffic: Traffic = newTraffic()
  let a: { context: BrowserContext; page: Page }
  let b: { context: BrowserContext; page: Page }
  let editLink = ''
  let plainId = ''
  let cliNoteId = ''

  const shot = (p: Page, name: string): Promise<Buffer> => p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true })
  const note = (p: Page, id: string): Locator => p.locator(`[data-item-id="${id}"]`)
  const content = (p: Page, id: string): Locator => note(p, id).locator('.cm-content')
  const run = async (args: string[], stdin?: string): Promise<string> => {
    const r = await cove(cli, home, [...args, '--relay', app.relay.url], stdin === undefined ? {} : { stdin })
    expect(r.code, r.stderr).toBe(0)
    return r.stdout
  }
  /** Takes focus from whatever has it (an editor lives in a shadow root): the note shows fully rendered. */
  const blur = (p: Page): Promise<void> => p.evaluate(() => {
    const host = document.activeElement
    ;(host?.shadowRoot?.activeElement as HTMLElement | null | undefined)?.blur()
    ;(host as HTMLElement | null)?.blur()
  })
  const catNotes = async (): Promise<NoteJSON[]> => (JSON.parse(await run(['cat', editLink])) as { items: NoteJSON[] }).items.filter(i => i.kind === 'note')

  beforeAll(async () => {
    buildApp()
    fs.mkdirSync(ARTIFACTS, { recursive: true })
    app = await startAppRelay()
    browser = await launch()
    cli = await bundleCli()
    a = await newPage(browser, traffic)
    b = await newPage(browser, traffic)
  }, 180_000)

  afterAll(async () => {
    cli?.dispose()
    await browser?.close()
    await app?.close()
  })

  it('a note made before rich notes (plain Y.Text) opens unchanged and still edits', async () => {
    const { page } = a
    await page.goto(app.origin + '/')
    await page.getByTestId('profile-name').fill('Alice')
    await page.getByTestId('profile-name').press('Enter')
    await page.getByTestId('new-space-title').fill('Trip')
    await page.getByTestId('create-space').click()
    await page.getByTestId('share-button').click()
    editLink = await page.getByTestId('edit-link').inputValue()
    await page.getByTestId('share-button').click()
    // model.addNote is how every note was made before: a Y.Text holding the typed text, no format mark.
    plainId = (await run(['add-note', editLink, 'Bring the tent\nand 2 pegs per corner'])).trim()
    await content(page, plainId).waitFor({ timeout: 20_000 })
    await expect.poll(() => content(page, plainId).evaluate(editorText)).toBe('Bring the tent\nand 2 pegs per corner')
    expect(await note(page, plainId).locator('.cm-md-h, .cm-md-task, .cm-md-strong').count()).toBe(0)
    await content(page, plainId).click()
    await page.keyboard.press('Control+End')
    await page.keyboard.type(', plus spares')
    await expect.poll(async () => (await catNotes()).find(n => n.id === plainId)?.text, { timeout: 20_000 }).toBe('Bring the tent\nand 2 pegs per corner, plus spares')
  })

  it('Alice types a heading, bold text and a task; cove cat prints the Markdown and its structure', async () => {
    const { page } = a
    await page.getByTestId('add-note').click()
    const id = await page.getByTestId('item-note').first().getAttribute('data-item-id') ?? ''
    expect(id).not.toBe(plainId)
    await content(page, id).click()
    await page.keyboard.type('# Packing')
    await page.keyboard.press('Enter')
    await page.keyboard.press('Control+b')
    await page.keyboard.type('tent')
    await page.keyboard.press('Control+b')
    await page.keyboard.type(' and *stove*')
    await page.keyboard.press('Enter')
    await page.keyboard.type('- [ ] matches')
    // Enter continues the task list (the Markdown keymap), so the next task is just typed.
    await page.keyboard.press('Enter')
    await page.keyboard.type('rope')
    const md = '# Packing\n**tent** and *stove*\n- [ ] matches\n- [ ] rope'
    await expect.poll(async () => (await catNotes()).find(n => n.id === id)?.text, { timeout: 20_000 }).toBe(md)
    const rich = (await catNotes()).find(n => n.id === id)!
    expect(rich.blocks).toEqual([
      { type: 'heading', level: 1, text: 'Packing' },
      { type: 'paragraph', text: 'tent and stove' },
      { type: 'list-item', ordered: false, depth: 0, text: 'matches', checked: false },
      { type: 'list-item', ordered: false, depth: 0, text: 'rope', checked: false }
    ])
    expect(await run(['cat', editLink, '--md'])).toContain(`<!-- note ${id} -->\n${md}\n`)
    // Drawn, not just typed: the heading is larger, the bold is bold, the task is a checkbox.
    await expect.poll(() => note(page, id).locator('.cm-md-h1').count()).toBe(1)
    expect(await note(page, id).locator('.cm-md-strong').innerText()).toContain('tent')
    expect(await note(page, id).locator('input.cm-md-task').count()).toBe(2)
    const h1 = await note(page, id).locator('.cm-md-h1').evaluate(el => parseFloat(getComputedStyle(el).fontSize))
    const body = await note(page, id).locator('.cm-line').nth(1).evaluate(el => parseFloat(getComputedStyle(el).fontSize))
    expect(h1).toBeGreaterThan(body * 1.3)
    // Off the cursor's line the heading's # is hidden.
    await blur(page)
    await expect.poll(() => note(page, id).locator('.cm-md-h1').innerText()).toBe('Packing')
  })

  it('the CLI adds a Markdown note; both browsers draw it; a tick in one reaches the other and the CLI', async () => {
    await b.page.goto(editLink)
    await b.page.getByTestId('profile-name').fill('Bob')
    await b.page.getByTestId('profile-name').press('Enter')
    cliNoteId = (await run(['add-note', editLink, '-'], '## From the terminal\n\n- [x] written by cove\n- [ ] ticked in a browser\n\nSee [Cove](https://example.org/cove) and `code`.\n')).trim()
    for (const p of [a.page, b.page]) {
      await content(p, cliNoteId).waitFor({ timeout: 20_000 })
      await expect.poll(() => note(p, cliNoteId).locator('.cm-md-h2').innerText()).toBe('From the terminal')
      await expect.poll(() => note(p, cliNoteId).locator('input.cm-md-task').evaluateAll((els: HTMLInputElement[]) => els.map(e => e.checked))).toEqual([true, false])
      expect(await note(p, cliNoteId).locator('.cm-md-code').innerText()).toBe('code')
    }
    await note(b.page, cliNoteId).locator('input.cm-md-task').nth(1).click()
    await expect.poll(() => note(a.page, cliNoteId).locator('input.cm-md-task').evaluateAll((els: HTMLInputElement[]) => els.map(e => e.checked)), { timeout: 20_000 }).toEqual([true, true])
    await expect.poll(async () => (await catNotes()).find(n => n.id === cliNoteId)?.text, { timeout: 20_000 }).toContain('- [x] ticked in a browser')
    // And back: Alice unticks the first one.
    await note(a.page, cliNoteId).locator('input.cm-md-task').nth(0).click()
    await expect.poll(() => note(b.page, cliNoteId).locator('input.cm-md-task').evaluateAll((els: HTMLInputElement[]) => els.map(e => e.checked)), { timeout: 20_000 }).toEqual([false, true])
    const blocks = (await catNotes()).find(n => n.id === cliNoteId)!.blocks
    expect(blocks.filter(x => x.type === 'list-item')).toEqual([
      { type: 'list-item', ordered: false, depth: 0, text: 'written by cove', checked: false },
      { type: 'list-item', ordered: false, depth: 0, text: 'ticked in a browser', checked: true }
    ])
  })

  it('Ctrl+click on a link opens it in a new tab', async () => {
    await a.context.route('https://example.org/**', r => r.fulfill({ status: 200, contentType: 'text/plain', body: 'ok' }))
    const popup = a.context.waitForEvent('page')
    await note(a.page, cliNoteId).locator('.cm-md-link[data-href]').click({ modifiers: ['Control'] })
    const tab = await popup
    await tab.waitForLoadState()
    expect(tab.url()).toBe('https://example.org/cove')
    await tab.close()
  })

  it('a pasted image becomes a file of the space and shows inline for both', async () => {
    const png = makePng(120, 80).toString('base64')
    await content(a.page, cliNoteId).click()
    await a.page.keyboard.press('Control+End')
    await content(a.page, cliNoteId).evaluate((el, b64) => {
      const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0))
      const dt = new DataTransfer()
      dt.items.add(new File([bytes], 'camp.png', { type: 'image/png' }))
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
    }, png)
    await expect.poll(async () => (await catNotes()).find(n => n.id === cliNoteId)?.text, { timeout: 20_000 }).toMatch(/!\[camp\.png\]\(cove-file:[a-z0-9]+\)$/)
    const text = (await catNotes()).find(n => n.id === cliNoteId)!.text
    const fileId = /cove-file:([a-z0-9]+)\)$/.exec(text)![1]!
    const space = JSON.parse(await run(['cat', editLink])) as { items: Array<{ id: string; kind: string; name?: string }> }
    expect(space.items.find(i => i.id === fileId)).toMatchObject({ kind: 'file', name: 'camp.png' })
    await blur(a.page)
    for (const p of [a.page, b.page]) {
      const img = note(p, cliNoteId).locator(`.cm-md-img[data-file="${fileId}"] img`)
      await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete ? el.naturalWidth : 0).catch(() => 0), { timeout: 30_000 }).toBeGreaterThan(0)
    }
  })

  it('the export has each note as a readable <title>.md beside space.json', async () => {
    const [download] = await Promise.all([a.page.waitForEvent('download'), a.page.getByRole('button', { name: 'Export' }).click()])
    // Read with a standard ZIP reader (Python's zipfile checks every CRC).
    const zip = JSON.parse(execFileSync('python3', ['-c', `
import sys, zipfile, json
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps({n: z.read(n).decode('utf8', 'replace') for n in z.namelist() if not n.startswith('files/')}))
`, (await download.path())!], { encoding: 'utf8' })) as Record<string, string>
    expect(Object.keys(zip).sort()).toEqual(['Bring the tent.md', 'From the terminal.md', 'Packing.md', 'space.json'])
    expect(zip['Packing.md']).toBe('# Packing\n**tent** and *stove*\n- [ ] matches\n- [ ] rope')
    expect(zip['From the terminal.md']).toMatch(/!\[camp\.png\]\(<files\/[a-z0-9]+-camp\.png>\)$/)
    const json = JSON.parse(zip['space.json']!) as { items: Array<{ kind: string; file?: string }> }
    expect(json.items.filter(i => i.kind === 'note').map(i => i.file).sort()).toEqual(['Bring the tent.md', 'From the terminal.md', 'Packing.md'])
  })

  it('screenshots of a rich note, desktop and phone', async () => {
    await blur(a.page)
    await shot(a.page, 'rich-notes-desktop')
    await b.page.setViewportSize({ width: 390, height: 844 })
    await blur(b.page)
    await shot(b.page, 'rich-notes-phone')
    expect(traffic.errors.filter(e => !/favicon|ERR_INTERNET_DISCONNECTED/.test(e))).toEqual([])
  })
})
