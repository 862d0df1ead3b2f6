import solid from 'vite-plugin-solid'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Relay, durability and convergence tests spawn processes and open real sockets: two cores, so keep parallelism low.
    maxWorkers: 2,
    minWorkers: 1,
    projects: [
      {
        extends: true,
        test: { name: 'node', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**', '**/node_modules/**'] }
      },
      {
        // Component tests must run Solid's browser build: under Node the default export is the
        // server build, where effects never re-run (STYLE.md §Solid).
        extends: true,
        plugins: [solid()],
        resolve: { conditions: ['browser', 'development'] },
        test: {
          name: 'ui',
          include: ['test/ui/**/*.test.tsx'],
          environment: 'happy-dom',
          server: { deps: { inline: [/solid-js/] } }
        }
      },
      {
        // Real Chromium against a real relay; one file at a time (each starts a browser or a relay
        // process, and the keystroke timings must not compete with another file for the two cores).
        extends: true,
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], poolOptions: { forks: { singleFork: true } }, testTimeout: 180_000, hookTimeout: 180_000 }
      }
    ]
  }
})
