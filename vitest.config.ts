import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Relay, durability and convergence tests spawn processes and open real sockets: two cores, so keep parallelism low.
    maxWorkers: 2,
    minWorkers: 1
  }
})
