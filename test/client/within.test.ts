import { describe, expect, it, vi } from 'vitest'
import { within } from '../../client/core/within.js'

describe('within (client/core/within.ts)', () => {
  it('resolves when the promise settles, either way, and clears its timer', async () => {
    const spy = vi.spyOn(globalThis, 'clearTimeout')
    try {
      await within(Promise.resolve(1), 60_000)
      await within(Promise.reject(new Error('refused')), 60_000)
      expect(spy).toHaveBeenCalledTimes(2)
    } finally {
      spy.mockRestore()
    }
  })

  it('resolves after the bound when the promise never settles; nothing to wait for resolves at once', async () => {
    const t0 = Date.now()
    await within(new Promise(() => {}), 50)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45)
    await within(undefined, 60_000)
  })
})
