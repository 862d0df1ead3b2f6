import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cipherSize } from '../../client/core/files.js'
import { ARTIFACTS, buildApp, hasChromium, launch, newPage, newTraffic, record, startAppRelay, type AppRelay, type Traffic } from './support.js'

/**
 * Issue 9, item 5: files are local-first. Alice's browser context goes offline (Chromium's network
 * emulation: every request and socket of the context fails, as with no network), she adds a file,
 * it is listed and opens at once, she reloads (still offline: the app shell comes from the service
 * worker, the space and the file's ciphertext from IndexedDB), and once the network is back the
 * upload queue sends it by itself; Bob downloads it byte-identical. Then: a file over the relay's
 * quota stays on Alice's device with words saying why (and Bob reads "not uploaded yet by Alice"),
 * and two tabs of one profile upload a queued file once.
 *
 * Before the fix (run on 6c55c95 with this file and this support.ts, the app as it was), 5 of 6
 * failed; only the setup passed:
 *   - added offline:   "expected +0 to be 1" item-file (poll timed out): the upload row said
 *                      "Failed offline.bin … the upload failed: no connection to the relay" with
 *                      only Dismiss, and no item was added to the space;
 *   - offline reload:  locator.waitFor item-file timed out (20 s): nothing was kept;
 *   - back online:     no upload row to hold ("locator.getAttribute: Timeout 30000ms"): nothing
 *                      was queued, so nothing uploaded by itself;
 *   - two tabs:        "expected +0 to be 2" item-file;
 *   - over the quota:  upload row data-state "expected null to be 'held'" (no queue states).
 *
 * Run with COVE_E2E_100MB=1 to also time a 100 MB file (encrypt + keep locally, upload, download
 * and decrypt) in the browser; the figures go to the console and test-artifacts/files-metrics.json.
 */
const MB = 1024 * 1024
const metrics: Record<string, unknown> = {}

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex')
const shot = (p: Page, name: string): Promise<Buffer> => p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true })
const status = (p: Page): Promise<string> => p.locator('[data-testid=status]').innerText()

/** Desktop and phone (390×844) screenshots of the page as it is now. */
async function shots (p: Page, name: string): Promise<void> {
  const size = p.viewportSize()
  await shot(p, `${name}-desktop`)
  await p.setViewportSize({ width: 390, height: 844 })
  await shot(p, `${name}-phone`)
  if (size !== null) await p.setViewportSize(size)
}

/** Clicks Download on the card of `name` and returns the bytes saved. */
async function download (p: Page, name: string): Promise<Buffer> {
  const card = p.getByTestId('item-file').filter({ hasText: name })
  const [d] = await Promise.all([p.waitForEvent('download'), card.getByTestId('download').click()])
  expect(d.suggestedFilename()).toBe(name)
  return fs.readFileSync((await d.path())!)
}

const fileStatus = (p: Page, name: string): Promise<string> => p.getByTestId('item-file').filter({ hasText: name }).getByTestId('file-status').innerText()

async function setName (p: Page, name: string): Promise<void> {
  await p.getByTestId('profile-name').fill(name)
  await p.getByTestId('profile-name').press('Enter')
}

describe.skipIf(!hasChromium)('files are local-first (issue 9.5)', () => {
  let app: AppRelay
  let browser: Browser
  const traffic: Traffic = newTraffic()
  let a: { context: BrowserContext; page: Page }
  let b: { context: BrowserContext; page: Page }
  const offlineFile = crypto.randomBytes(8 * MB + 12_345)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cove-files-'))
  /** PUTs the relay received whose body is a file of `size` plaintext bytes. */
  const putsOf = (size: number): string[] => app.requests.filter(r => r.startsWith('PUT /blobs/') && r.includes(`"content-length":"${cipherSize(size)}"`))

  beforeAll(async () => {
    buildApp()
    fs.mkdirSync(ARTIFACTS, { recursive: true })
    // Two blobs per space: the third file is over the quota.
    app = await startAppRelay({ blobQuota: { maxBytes: 1024 * MB, maxCount: 2 } })
    browser = await launch()
    a = await newPage(browser, traffic)
    b = await newPage(browser, traffic)
  })

  afterAll(async () => {
    await browser?.close()
    await app?.close()
    fs.rmSync(tmp, { recursive: true, force: true })
  })

  it('Alice makes a space, Bob joins', async () => {
    await a.page.goto(app.origin + '/')
    await setName(a.page, 'Alice')
    await a.page.getByTestId('new-space-title').fill('Files')
    await a.page.getByTestId('create-space').click()
    await expect.poll(() => status(a.page), { timeout: 15_000 }).toContain('All changes on the relay')
    await a.page.getByTestId('share-button').click()
    const editLink = await a.page.getByTestId('edit-link').inputValue()
    await a.page.getByTestId('share-button').click()
    await b.page.goto(editLink)
    await setName(b.page, 'Bob')
    await expect.poll(() => b.page.getByTestId('space-title').inputValue()).toBe('Files')
    // The service worker must hold the app shell before the network goes away.
    await a.page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined))
  })

  it('a file added offline is listed and opens at once, with words instead of an error', async () => {
    await a.context.setOffline(true)
    await expect.poll(() => status(a.page), { timeout: 15_000 }).toContain('Offline')
    // From a file on disk (kept until the end: the browser reads it as it encrypts); a buffer this
    // size takes Playwright ~10 s to pass in.
    fs.writeFileSync(path.join(tmp, 'offline.bin'), offlineFile)
    await a.page.getByTestId('file-input').setInputFiles(path.join(tmp, 'offline.bin'))
    await expect.poll(() => a.page.getByTestId('item-file').count(), { timeout: 10_000 }).toBe(1)
    expect(sha(await download(a.page, 'offline.bin'))).toBe(sha(offlineFile))
    const row = a.page.getByTestId('upload').filter({ hasText: 'offline.bin' })
    await expect.poll(() => row.getAttribute('data-state')).toBe('waiting')
    expect(await row.innerText()).toMatch(/kept on this device/i)
    expect(await fileStatus(a.page, 'offline.bin')).toMatch(/on this device/i)
    expect(await a.page.locator('body').innerText()).not.toContain('Failed to fetch')
    await shots(a.page, 'files-1-added-offline')
  })

  it('after an offline reload it is still there, still opens and is still queued', async () => {
    await a.page.reload()
    await a.page.getByTestId('item-file').waitFor({ timeout: 20_000 })
    const row = a.page.getByTestId('upload').filter({ hasText: 'offline.bin' })
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 10_000 }).toBe('waiting')
    expect(sha(await download(a.page, 'offline.bin'))).toBe(sha(offlineFile))
    expect(putsOf(offlineFile.length)).toHaveLength(0)
    expect(await b.page.getByTestId('item-file').count()).toBe(0)
  })

  it('back online, it uploads by itself (with progress) and arrives byte-identical at Bob', async () => {
    // The relay holds the upload's body for a moment, so the uploading state can be seen and pictured.
    const release = app.holdBlobPuts()
    await a.context.setOffline(false)
    const row = a.page.getByTestId('upload').filter({ hasText: 'offline.bin' })
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 20_000 }).toBe('uploading')
    await expect.poll(() => row.locator('progress').evaluate((p: HTMLProgressElement) => p.value)).toBeGreaterThan(0)
    expect(await row.innerText()).toMatch(/^Uploading offline\.bin: (\d+ %|all .* sent)/)
    await shots(a.page, 'files-2-uploading')
    // Meanwhile Bob already has it listed, as uploading from Alice's device, not yet downloadable.
    await expect.poll(() => b.page.getByTestId('item-file').count(), { timeout: 15_000 }).toBe(1)
    expect(await fileStatus(b.page, 'offline.bin')).toBe("Uploading from Alice's device · not uploaded yet by Alice")
    expect(await b.page.getByTestId('download').isDisabled()).toBe(true)
    await shots(b.page, 'files-2-uploading-seen-by-bob')
    release()
    await expect.poll(() => a.page.getByTestId('upload').count(), { timeout: 30_000 }).toBe(0)
    await expect.poll(() => b.page.getByTestId('item-file').count(), { timeout: 15_000 }).toBe(1)
    await expect.poll(() => fileStatus(b.page, 'offline.bin'), { timeout: 15_000 }).not.toMatch(/not uploaded/i)
    expect(sha(await download(b.page, 'offline.bin'))).toBe(sha(offlineFile))
    expect(putsOf(offlineFile.length)).toHaveLength(1)
  })

  it('two tabs of one profile upload a file queued offline once', async () => {
    const tab2 = await a.context.newPage()
    record(tab2, traffic)
    await tab2.goto(a.page.url())
    await expect.poll(() => status(tab2), { timeout: 15_000 }).toContain('through another tab')
    await a.context.setOffline(true)
    const tabsFile = crypto.randomBytes(200_000)
    await tab2.getByTestId('file-input').setInputFiles([{ name: 'tabs.bin', mimeType: 'application/octet-stream', buffer: tabsFile }])
    // Both tabs list it at once; both show it queued.
    for (const p of [a.page, tab2]) await expect.poll(() => p.getByTestId('item-file').count(), { timeout: 10_000 }).toBe(2)
    for (const p of [a.page, tab2]) await expect.poll(() => p.getByTestId('upload').filter({ hasText: 'tabs.bin' }).count(), { timeout: 10_000 }).toBe(1)
    await a.context.setOffline(false)
    await expect.poll(() => fileStatus(b.page, 'tabs.bin'), { timeout: 30_000 }).not.toMatch(/not uploaded/i)
    expect(sha(await download(b.page, 'tabs.bin'))).toBe(sha(tabsFile))
    // Give a second uploader time to show itself.
    await a.page.waitForTimeout(2000)
    expect(putsOf(tabsFile.length)).toHaveLength(1)
    for (const p of [a.page, tab2]) await expect.poll(() => p.getByTestId('upload').count()).toBe(0)
    await tab2.close()
  })

  it('over the quota it says so, keeps the file on the device, and Bob reads "not uploaded yet by Alice"', async () => {
    const big = crypto.randomBytes(300_000)
    await a.page.getByTestId('file-input').setInputFiles([{ name: 'third.bin', mimeType: 'application/octet-stream', buffer: big }])
    const row = a.page.getByTestId('upload').filter({ hasText: 'third.bin' })
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 15_000 }).toBe('held')
    expect(await row.innerText()).toMatch(/full/i)
    expect(await row.innerText()).toMatch(/stays on this device/i)
    expect(sha(await download(a.page, 'third.bin'))).toBe(sha(big))
    await expect.poll(() => b.page.getByTestId('item-file').count(), { timeout: 15_000 }).toBe(3)
    expect(await fileStatus(b.page, 'third.bin')).toMatch(/not uploaded yet by Alice/)
    await shots(a.page, 'files-3-over-quota')
    await shots(b.page, 'files-4-not-uploaded-yet')
    // Retry tries again at once (and is refused again, saying so).
    const before = putsOf(big.length).length
    expect(before).toBeGreaterThan(0)
    await row.getByRole('button', { name: 'Retry' }).click()
    await expect.poll(() => putsOf(big.length).length, { timeout: 10_000 }).toBe(before + 1)
    await expect.poll(() => row.getAttribute('data-state')).toBe('held')
    expect(traffic.errors.filter(e => !/Failed to load resource|ERR_INTERNET_DISCONNECTED|507/.test(e))).toEqual([])
    // Leaving would delete the only copy: the question says so (and is declined here).
    const asked = new Promise<string>(resolve => a.page.once('dialog', d => { resolve(d.message()); void d.dismiss() }))
    await a.page.getByRole('button', { name: 'Leave' }).click()
    expect(await asked).toMatch(/1 file added here is not on the relay yet and would be lost/)
    expect(await a.page.getByTestId('item-file').count()).toBe(3)
  })
})

describe.skipIf(!hasChromium || process.env.COVE_E2E_100MB !== '1')('a 100 MB file in the browser (COVE_E2E_100MB=1)', () => {
  let app: AppRelay
  let browser: Browser
  const traffic: Traffic = newTraffic()
  let a: { context: BrowserContext; page: Page }
  let b: { context: BrowserContext; page: Page }

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
    fs.writeFileSync(path.join(ARTIFACTS, 'files-metrics.json'), JSON.stringify(metrics, null, 2) + '\n')
    console.log('files metrics:', JSON.stringify(metrics, null, 2))
  })

  it('times encrypt + keep, upload, and download + decrypt of 100 MB', async () => {
    const size = 100 * MB
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cove-100mb-')), 'big.bin')
    const h = crypto.createHash('sha256')
    const fd = fs.openSync(file, 'w')
    for (let i = 0; i < size / MB; i++) { const c = crypto.randomBytes(MB); h.update(c); fs.writeSync(fd, c) }
    fs.closeSync(fd)
    const want = h.digest('hex')
    await a.page.goto(app.origin + '/')
    await a.page.getByTestId('new-space-title').fill('Big')
    await a.page.getByTestId('create-space').click()
    await expect.poll(() => status(a.page), { timeout: 15_000 }).toContain('All changes on the relay')
    await a.page.getByTestId('share-button').click()
    const editLink = await a.page.getByTestId('edit-link').inputValue()
    await b.page.goto(editLink)
    await expect.poll(() => b.page.getByTestId('space-title').inputValue()).toBe('Big')

    await a.page.getByTestId('file-input').setInputFiles(file)
    await expect.poll(() => b.page.getByTestId('item-file').count(), { timeout: 120_000 }).toBe(1)
    await expect.poll(() => fileStatus(b.page, 'big.bin'), { timeout: 180_000 }).not.toMatch(/not uploaded/i)
    // The adder opens it from the copy kept on the device.
    await Promise.all([a.page.waitForEvent('download', { timeout: 180_000 }), a.page.getByTestId('item-file').getByTestId('download').click()])
    const measures = await a.page.evaluate(() => performance.getEntriesByType('measure').filter(m => m.name.startsWith('cove:')).map(m => ({ name: m.name, ms: m.duration })))
    const t0 = Date.now()
    const [d] = await Promise.all([b.page.waitForEvent('download', { timeout: 180_000 }), b.page.getByTestId('item-file').getByTestId('download').click()])
    const downloadMs = Date.now() - t0
    const got = await d.path()
    const gh = crypto.createHash('sha256')
    for await (const c of fs.createReadStream(got!)) gh.update(c as Buffer)
    expect(gh.digest('hex')).toBe(want)
    const bMeasures = await b.page.evaluate(() => performance.getEntriesByType('measure').filter(m => m.name.startsWith('cove:')).map(m => ({ name: m.name, ms: m.duration })))
    const rate = (ms: number | undefined): number | undefined => ms === undefined ? undefined : +(100 / (ms / 1000)).toFixed(1)
    const of = (xs: { name: string; ms: number }[], n: string): number | undefined => xs.find(x => x.name === n)?.ms
    metrics.file100MB = {
      encryptMBps: rate(of(measures, 'cove:encrypt')),
      keepInIndexedDbMBps: rate(of(measures, 'cove:keep')),
      uploadMBps: rate(of(measures, 'cove:upload')),
      downloadAndDecryptMBps: rate(of(bMeasures, 'cove:download')),
      clickToSavedMBps: rate(downloadMs),
      openKeptCopyMBps: rate(of(measures, 'cove:open-kept'))
    }
    fs.rmSync(path.dirname(file), { recursive: true, force: true })
  })
})
