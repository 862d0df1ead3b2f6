/**
 * First load of the web app to interactive, in real Chromium (issue 9's numbers; measured here, not
 * timed in a test): cold (a new browser profile: nothing cached, no service worker), warm with the
 * service worker controlling the page, and warm offline (the service worker alone serves it). Also
 * a space opened from its link cold (fetched, decrypted, rendered) and on a reload (IndexedDB).
 * "Interactive" is the page's own clock (`performance.now()`, from navigation start) when the
 * control a person uses first is in the DOM and enabled: the Create button on the spaces list, the
 * space title field in a space.
 *
 *   npx tsx bench/app-load.ts [--reps N]
 */
import { parseArgs } from 'node:util'
import type { Page } from 'playwright-core'
import { appJsSize, buildApp, hasChromium, launch, startAppRelay } from '../test/e2e/support.js'

const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' } } })
const REPS = Number(values.reps)

/** Time from navigation start until `selector` is present and enabled (and shows `text`), by the page's clock. */
async function readyAt (page: Page, selector: string, text?: string): Promise<number> {
  const h = await page.waitForFunction(([sel, want]: [string, string | undefined]) => {
    const el = document.querySelector(sel) as HTMLButtonElement | HTMLInputElement | null
    if (el === null || el.disabled === true) return false
    const shown = el instanceof HTMLInputElement ? el.value : el.textContent ?? ''
    return want === undefined || shown.includes(want) ? performance.now() : false
  }, [selector, text] as [string, string | undefined], { polling: 'raf', timeout: 30_000 })
  return await h.jsonValue() as number
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function main (): Promise<void> {
  if (!hasChromium) throw new Error('needs /usr/bin/chromium (apt-get install -y chromium)')
  buildApp()
  const relay = await startAppRelay()
  const browser = await launch()
  const runs: Record<string, number[]> = { cold: [], sw: [], swOffline: [], spaceCold: [], spaceReload: [] }
  try {
    for (let i = 0; i < REPS; i++) {
      const context = await browser.newContext({ viewport: { width: 1100, height: 900 } })
      const page = await context.newPage()
      await page.goto(relay.origin + '/')
      runs.cold!.push(await readyAt(page, '[data-testid="create-space"]'))
      await page.evaluate(async () => { await navigator.serviceWorker.ready })
      // The first visit's page is not controlled yet; once it is, a load comes from the worker.
      for (let k = 0; k < 3 && !(await page.evaluate(() => navigator.serviceWorker.controller !== null)); k++) await page.reload()
      await page.reload()
      runs.sw!.push(await readyAt(page, '[data-testid="create-space"]'))
      await context.setOffline(true)
      await page.reload()
      runs.swOffline!.push(await readyAt(page, '[data-testid="create-space"]'))
      await context.setOffline(false)
      // A space with some content, opened by its link in a fresh profile, then reloaded.
      await page.fill('[data-testid="new-space-title"]', `Load test ${i}`)
      await page.click('[data-testid="create-space"]')
      await page.waitForURL(/#/)
      await page.waitForFunction(() => document.querySelector('[data-testid="unsynced"]')?.textContent === 'All changes on the relay' && document.querySelector('[data-testid="connection"]')?.textContent === 'Online', undefined, { timeout: 30_000 })
      await page.getByTestId('share-button').click()
      const link = await page.getByTestId('edit-link').inputValue()
      await context.close()
      const other = await browser.newContext({ viewport: { width: 1100, height: 900 } })
      const p2 = await other.newPage()
      await p2.goto(link)
      runs.spaceCold!.push(await readyAt(p2, '[data-testid="space-title"]', `Load test ${i}`))
      await p2.reload()
      runs.spaceReload!.push(await readyAt(p2, '[data-testid="space-title"]', `Load test ${i}`))
      await other.close()
    }
  } finally {
    await browser.close()
    await relay.close()
  }
  const js = appJsSize()
  console.log(`app JS: ${(js.raw / 1024).toFixed(0)} KB raw, ${(js.gzip / 1024).toFixed(0)} KB gzipped`)
  console.log(`first load to interactive, median of ${REPS} (ms, page clock from navigation start):`)
  for (const [k, xs] of Object.entries(runs)) console.log(`  ${k.padEnd(12)} ${median(xs).toFixed(0).padStart(6)}   (${xs.map(x => x.toFixed(0)).join(', ')})`)
}

await main()
