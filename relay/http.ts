import fs from 'node:fs'
import type http from 'node:http'
import path from 'node:path'
import zlib from 'node:zlib'
import { handleBlob, isBlobPath, type BlobOptions } from './blobs.js'

/**
 * The relay's plain-HTTP face (issue 3): the built web app and the encrypted blob endpoints, on
 * the same origin as the WebSocket so the app's CSP can say `connect-src 'self'`.
 *
 * Every response carries the security headers: the page loads nothing from third parties, sends
 * no Referer (the invite key lives in the URL fragment; a Referer would not carry the fragment,
 * but `no-referrer` also hides which space page linked out), and cannot be framed.
 *
 * Hashed assets under `/assets/` never change and are cached for a year; `index.html` must be
 * revalidated so a new release is picked up at once.
 */
export const CSP = [
  "default-src 'self'",
  // libsodium instantiates its WebAssembly from bytes, which needs exactly this and no 'unsafe-eval'.
  "script-src 'self' 'wasm-unsafe-eval'",
  // Same-origin WebSocket only. CSP3 browsers match ws(s) to the page's own host under 'self';
  // `cspFor` adds the explicit ws://host and wss://host for older ones (never bare `ws:`, which
  // would allow every host).
  "connect-src 'self'",
  "img-src 'self' blob: data:",
  "style-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "worker-src 'self'",
  "manifest-src 'self'"
].join('; ')

/** The CSP for a request to `host` (the Host header, used only if it is a plain host[:port]). */
export function cspFor (host: string | undefined): string {
  if (host === undefined || !/^[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i.test(host)) return CSP
  return CSP.replace("connect-src 'self'", `connect-src 'self' ws://${host} wss://${host}`)
}

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CSP,
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), interest-cohort=()'
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8'
}
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.svg', '.webmanifest', '.txt'])

interface StaticFile {
  readonly body: Buffer
  readonly gzip: Buffer | undefined
  readonly type: string
  readonly cache: string
  readonly etag: string
}

/** The app is a few hundred KB: it is read (and gzipped) once at start, never per request. */
export function loadApp (dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>()
  const walk = (rel: string): void => {
    for (const ent of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel === '' ? ent.name : `${rel}/${ent.name}`
      if (ent.isDirectory()) { walk(r); continue }
      if (!ent.isFile()) continue
      const ext = path.extname(ent.name)
      const body = fs.readFileSync(path.join(dir, r))
      const hashed = r.startsWith('assets/')
      files.set('/' + r, {
        body,
        gzip: COMPRESSIBLE.has(ext) && body.length > 512 ? zlib.gzipSync(body, { level: 9 }) : undefined,
        type: TYPES[ext] ?? 'application/octet-stream',
        cache: hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
        etag: `"${body.length.toString(36)}-${fnv(body)}"`
      })
    }
  }
  walk('')
  if (!files.has('/index.html')) throw new Error(`no index.html in ${dir}: run npm run build`)
  return files
}

function fnv (b: Buffer): string {
  let h = 0x811c9dc5
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193)
  return (h >>> 0).toString(36)
}

export interface HttpOptions {
  /** Built app directory (vite's dist/); without it only blobs are served. */
  readonly appDir?: string
  readonly blobs?: BlobOptions
  readonly log?: (line: string) => void
}

/** The request listener handed to `startRelay({ onRequest })`; WebSocket upgrades never reach it. */
export function createHttpHandler (opts: HttpOptions): http.RequestListener {
  const app = opts.appDir === undefined ? undefined : loadApp(opts.appDir)
  const log = opts.log ?? ((): void => {})
  return (req, res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v)
    res.setHeader('content-security-policy', cspFor(req.headers.host))
    // Parse only the path: a query string is ignored and never logged (nothing secret should be
    // there, but a mistaken link must not end up in a log either).
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/'
    try {
      if (opts.blobs !== undefined && isBlobPath(rawPath)) {
        handleBlob(opts.blobs, req, res, rawPath).catch(e => {
          log(`blob ${req.method ?? '?'} failed: ${e instanceof Error ? e.message : String(e)}`)
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
          res.end()
        })
        return
      }
      if (app === undefined) return void res.writeHead(426, { 'content-type': 'text/plain' }).end('Cove relay: connect with a WebSocket\n')
      serveStatic(app, req, res, rawPath)
    } catch (e) {
      log(`http failed: ${e instanceof Error ? e.message : String(e)}`)
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end()
    }
  }
}

function serveStatic (app: Map<string, StaticFile>, req: http.IncomingMessage, res: http.ServerResponse, rawPath: string): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n')
    return
  }
  // Only names present in the build are served: no path is ever joined onto the file system here.
  const f = app.get(rawPath === '/' ? '/index.html' : rawPath)
  if (f === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-cache' }).end('not found\n')
    return
  }
  const headers: Record<string, string> = { 'content-type': f.type, 'cache-control': f.cache, etag: f.etag, vary: 'accept-encoding' }
  if (req.headers['if-none-match'] === f.etag) {
    res.writeHead(304, headers).end()
    return
  }
  const gz = f.gzip !== undefined && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))
  const body = gz ? f.gzip! : f.body
  if (gz) headers['content-encoding'] = 'gzip'
  headers['content-length'] = String(body.length)
  res.writeHead(200, headers)
  res.end(req.method === 'HEAD' ? undefined : body)
}
