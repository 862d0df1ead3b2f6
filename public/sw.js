// Cove's service worker: makes the app shell load with no network, so a space opens offline
// (its content comes from IndexedDB). It caches only the app's own static files: never /blobs/
// (encrypted files, fetched on demand) and never anything cross-origin (the CSP allows none).
// Page: network first (a new release is picked up at once), cached copy when offline.
// /assets/*: content-hashed and immutable, so cache first.
const CACHE = 'cove-shell-v2'
// Unhashed files of the shell: the tab icon, and what an installed app asks for (its manifest, icons).
const SHELL_FILES = ['/favicon.svg', '/manifest.webmanifest', '/icon.svg', '/icon-192.png', '/icon-512.png']

self.addEventListener('install', event => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE)
    const res = await fetch('/', { cache: 'no-cache' })
    const html = await res.clone().text()
    const assets = [...new Set(html.match(/\/assets\/[A-Za-z0-9._-]+/g) ?? [])]
    await cache.put('/', res)
    await cache.addAll([...assets, ...SHELL_FILES])
    await self.skipWaiting()
  })())
})

self.addEventListener('activate', event => {
  event.waitUntil((async () => {
    for (const k of await caches.keys()) if (k !== CACHE) await caches.delete(k)
    await self.clients.claim()
  })())
})

self.addEventListener('fetch', event => {
  const req = event.request
  const url = new URL(req.url)
  if (req.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/blobs/')) return
  if (req.mode === 'navigate') {
    event.respondWith((async () => {
      try {
        const res = await fetch(req)
        if (res.ok && url.pathname === '/') (await caches.open(CACHE)).put('/', res.clone())
        return res
      } catch {
        return (await caches.match('/')) ?? Response.error()
      }
    })())
    return
  }
  if (url.pathname.startsWith('/assets/') || SHELL_FILES.includes(url.pathname)) {
    event.respondWith((async () => {
      const hit = await caches.match(req)
      if (hit !== undefined) return hit
      const res = await fetch(req)
      if (res.ok) (await caches.open(CACHE)).put(req, res.clone())
      return res
    })())
  }
})
