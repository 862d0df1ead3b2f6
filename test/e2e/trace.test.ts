import fs from 'node:fs'
import path from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { applyOp, finalText, loadTrace } from '../../bench/trace.js'
import * as model from '../../client/core/model.js'
import { testClient } from '../support/relay.js'
import { ARTIFACTS, buildApp, hasChromium, launch, newPage, newTraffic, startAppRelay, type AppRelay } from './support.js'

/**
 * Opening a big space in the browser: the whole standard editing trace (259,778 keystrokes,
 * bench/data) as one note, written by a Node client through the relay. Measures the time until
 * the note is on screen, first from the relay (a fresh browser profile), then from local storage
 * (a reload of the same profile).
 */
describe.skipIf(!hasChromium)('a space holding the editing trace', () => {
  let app: AppRelay
  let browser: Browser

  beforeAll(async () => {
    buildApp()
    app = await startAppRelay()
    browser = await launch()
  })
  afterAll(async () => {
    await browser?.close()
    await app?.close()
  })

  it('opens from the relay and from local storage', async () => {
    const ops = loadTrace()
    const expected = finalText(ops)
    const client = await testClient()
    const { space, editLink } = await client.createSpace(app.relay.url, 'Editing trace')
    const id = model.addNote(space.doc, '')
    const text = model.findItem(space.doc, id)!.get('text') as import('yjs').Text
    space.doc.transact(() => { for (const op of ops) applyOp(text, op) })
    expect(text.toString()).toBe(expected)
    await space.whenStored(60_000)
    await client.close()
    const link = editLink.replace(/^ws/, 'http')

    const p = await newPage(browser, newTraffic())
    const head = expected.slice(0, 60).split('\n')[0]!
    const visible = async (): Promise<void> => {
      await p.page.locator('[data-testid=item-note] .cm-content').filter({ hasText: head }).waitFor({ timeout: 60_000 })
    }
    let t0 = Date.now()
    await p.page.goto(link)
    await visible()
    const fromRelay = Date.now() - t0
    // Wait until the replica is stored (the leader writes it as received) before measuring a reload.
    await p.page.waitForTimeout(1500)
    t0 = Date.now()
    await p.page.reload()
    await visible()
    const fromLocal = Date.now() - t0
    const metrics = { traceOps: ops.length, textChars: expected.length, openFromRelayMs: fromRelay, openFromLocalStorageMs: fromLocal }
    console.log('trace open:', JSON.stringify(metrics))
    fs.mkdirSync(ARTIFACTS, { recursive: true })
    fs.writeFileSync(path.join(ARTIFACTS, 'trace-open.json'), JSON.stringify(metrics, null, 2) + '\n')
    await p.page.screenshot({ path: path.join(ARTIFACTS, '9-trace.png') })
    await p.context.close()
  })
})
