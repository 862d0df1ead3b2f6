import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import type http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import zlib from 'node:zlib'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import type { BlobQuota } from '../../relay/blob-quota.js'
import { createHttpHandler } from '../../relay/http.js'
import { startRelay, type RelayServer } from '../../relay/server.js'
import { createSqliteStore } from '../../relay/storage/sqlite.js'
import { getSodium } from '../../shared/sodium.js'
import { afterAll, beforeAll } from 'vitest'
import { tempDir } from '../support/relay.js'

/**
 * Shared pieces of the browser tests: Debian's Chromium driven by playwright-core (no browser
 * download), and a real relay serving the built app from a fresh data directory, with every HTTP
 * request line and header and every relay log line recorded, so a test can prove what the relay
 * was and was not told.
 */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const CHROMIUM = process.env.COVE_CHROMIUM ?? '/usr/bin/chromium'
export const hasChromium = fs.existsSync(CHROMIUM)
export const ARTIFACTS = path.join(ROOT, 'test-artifacts')

export function buildApp (): void {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-if-needed.mjs')], { cwd: ROOT, stdio: 'inherit' })
}

export interface AppRelay {
  readonly relay: RelayServer
  readonly origin: string
  readonly dir: string
  /** Every log line of the relay and its HTTP handler. */
  readonly logs: string[]
  /** Every HTTP request the relay received: request line and headers, as the server saw them. */
  readonly requests: string[]
  /**
   * Holds every blob upload (the relay reads none of its body) until the returned function is
   * called: the browser then shows an upload in progress, as far as the socket buffers let it go.
   */
  holdBlobPuts (): () => void
  close (): Promise<void>
}

/** `blobQuota` caps each space's files on the relay (the over-quota tests). */
export async function startAppRelay (opts: { readonly blobQuota?: BlobQuota } = {}): Promise<AppRelay> {
  const dir = tempDir('cove-e2e-')
  const logs: string[] = []
  const requests: string[] = []
  const store = createSqliteStore(path.join(dir, 'relay.sqlite'))
  const handler = createHttpHandler({
    appDir: path.join(ROOT, 'dist'),
    blobs: { dir: path.join(dir, 'blobs'), store, sodium: await getSodium(), ...(opts.blobQuota === undefined ? {} : { quota: opts.blobQuota }) },
    log: line => logs.push(line)
  })
  let held: Promise<void> | undefined
  const onRequest: http.RequestListener = (req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''} ${JSON.stringify(req.headers)}`)
    if (held !== undefined && req.method === 'PUT' && req.url?.startsWith('/blobs/') === true) {
      req.pause()
      void held.then(() => handler(req, res))
      return
    }
    handler(req, res)
  }
  const relay = await startRelay({ store, onRequest, log: line => logs.push(line) })
  const origin = relay.url.replace(/^ws/, 'http')
  return {
    relay,
    origin,
    dir,
    logs,
    requests,
    holdBlobPuts () {
      let release: () => void = () => {}
      held = new Promise(resolve => { release = resolve })
      return () => { held = undefined; release() }
    },
    async close () {
      await relay.close()
    }
  }
}

export function launch (): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic']
  })
}

/** Everything a page sent: request lines, headers and bodies, WebSocket URLs and frames. */
export interface Traffic {
  readonly requests: string[]
  readonly wsUrls: string[]
  readonly framesSent: Buffer[]
  readonly framesReceived: Buffer[]
  readonly errors: string[]
}

export function record (page: Page, t: Traffic): void {
  page.on('request', r => {
    t.requests.push(`${r.method()} ${r.url()} ${JSON.stringify(r.headers())} ${r.postDataBuffer()?.toString('latin1') ?? ''}`)
  })
  page.on('websocket', ws => {
    t.wsUrls.push(ws.url())
    ws.on('framesent', f => t.framesSent.push(typeof f.payload === 'string' ? Buffer.from(f.payload) : f.payload))
    ws.on('framereceived', f => t.framesReceived.push(typeof f.payload === 'string' ? Buffer.from(f.payload) : f.payload))
  })
  page.on('pageerror', e => t.errors.push(e.message))
  page.on('console', m => { if (m.type() === 'error') t.errors.push(m.text()) })
}

export const newTraffic = (): Traffic => ({ requests: [], wsUrls: [], framesSent: [], framesReceived: [], errors: [] })

export async function newPage (browser: Browser, t: Traffic, viewport = { width: 1100, height: 900 }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, acceptDownloads: true })
  const page = await context.newPage()
  record(page, t)
  return { context, page }
}

/**
 * The document text of a CodeMirror content element (lines joined by newlines), without the
 * remote-caret widgets, whose name labels are not part of the text. Runs in the page.
 */
export function editorText (el: Element): string {
  return Array.from(el.querySelectorAll(':scope > .cm-line')).map(line => {
    const c = line.cloneNode(true) as Element
    for (const w of Array.from(c.querySelectorAll('.cm-remote-caret'))) w.remove()
    return c.textContent ?? ''
  }).join('\n')
}

/** The text of the n-th note editor (CodeMirror lives in a shadow root; Playwright's CSS pierces it). */
export function noteText (page: Page, n = 0): Promise<string> {
  return page.locator('[data-testid=item-note] .cm-content').nth(n).evaluate(editorText)
}

/** Every file (recursively) under `dir`, for scanning the relay's data. */
export function allFiles (dir: string): string[] {
  const out: string[] = []
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...allFiles(p))
    else out.push(p)
  }
  return out
}

export function percentile (xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p / 100 * s.length) - 1))]!
}

/** Total size of the built app's JavaScript, raw and gzipped (level 9, as the relay serves it). */
export function appJsSize (): { raw: number; gzip: number } {
  let raw = 0
  let gzip = 0
  const dir = path.join(ROOT, 'dist', 'assets')
  for (const f of fs.readdirSync(dir).filter(f => f.endsWith('.js'))) {
    const b = fs.readFileSync(path.join(dir, f))
    raw += b.length
    gzip += zlib.gzipSync(b, { level: 9 }).length
  }
  return { raw, gzip }
}

/**
 * A small valid PNG (RGB gradient), so the app has a real image to make a thumbnail of; with
 * `color`, a solid colour instead, so several images are told apart on screen.
 */
export function makePng (w = 64, h = 48, color?: readonly [number, number, number]): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (b: Buffer): number => {
    let c = 0xffffffff
    for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length)
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data])
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td))
    return Buffer.concat([len, td, c])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2
  const raw = Buffer.alloc((w * 3 + 1) * h)
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3
      if (color !== undefined) { raw[o] = color[0]; raw[o + 1] = color[1]; raw[o + 2] = color[2]; continue }
      raw[o] = (x * 4) & 255; raw[o + 1] = (y * 5) & 255; raw[o + 2] = 160
    }
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

/** What `twoPeople` opens for a test file: the relay serving the built app, Chromium, and two people's pages. */
export interface TwoPeople {
  readonly app: AppRelay
  readonly browser: Browser
  readonly a: { context: BrowserContext; page: Page }
  readonly b: { context: BrowserContext; page: Page }
}

/**
 * The set-up most browser tests share: before the file's tests, build the app, start a relay
 * serving it, launch Chromium and open two people's pages (their traffic recorded into `traffic`);
 * after them, close both. `use` receives what was opened.
 */
export function twoPeople (traffic: Traffic, use: (env: TwoPeople) => void): void {
  let env: TwoPeople | undefined
  beforeAll(async () => {
    buildApp()
    fs.mkdirSync(ARTIFACTS, { recursive: true })
    const app = await startAppRelay()
    const browser = await launch()
    env = { app, browser, a: await newPage(browser, traffic), b: await newPage(browser, traffic) }
    use(env)
  })
  afterAll(async () => {
    await env?.browser.close()
    await env?.app.close()
  })
}
