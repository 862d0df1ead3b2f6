import { defineConfig } from 'vite'
import solid from 'vite-plugin-solid'

/**
 * The web app build (issue 3): `npm run build` writes dist/, which the relay serves itself
 * (`--app dist`). Everything is bundled into hashed files under dist/assets/ so the relay can
 * cache them forever, and nothing is inlined into index.html so the CSP needs no 'unsafe-inline'.
 */
export default defineConfig({
  plugins: [solid()],
  build: {
    outDir: 'dist',
    target: 'es2022',
    // The module-preload polyfill would be injected as an inline script; every supported browser has modulepreload.
    modulePreload: { polyfill: false },
    // Keep small assets as files rather than data: URLs in CSS/JS.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1024
  },
  server: { port: 5173 }
})
