import { createSignal } from 'solid-js'
import { describe, expect, it } from 'vitest'
import type { SpaceStatus } from '../../client/core/space.js'
import { exportNote, waitCaughtUp } from '../../client/ui/export-sync.js'

/**
 * Export from the spaces list (issue 9.3): how long it waits for the relay, and what it says.
 * The browser test (test/e2e/sync-status.test.ts) runs the whole path against a real relay.
 */
const st = (s: Partial<SpaceStatus>): SpaceStatus => ({ connection: 'connecting', unsynced: 0, caughtUp: false, lastSyncedAt: undefined, ...s })

describe('export from the list', () => {
  it('waits for the catch-up, and no longer', async () => {
    const [status, setStatus] = createSignal(st({}))
    setTimeout(() => setStatus(st({ connection: 'online' })), 10)
    setTimeout(() => setStatus(st({ connection: 'online', caughtUp: true })), 30)
    const t0 = Date.now()
    expect(await waitCaughtUp(status, 2000, 1000)).toBe('synced')
    expect(Date.now() - t0).toBeLessThan(500)
    expect(await waitCaughtUp(() => st({ caughtUp: true }), 2000, 1000)).toBe('synced')
  })

  it('gives up early on a relay that keeps refusing, at the bound on one that is slow, at once with no network', async () => {
    const t0 = Date.now()
    expect(await waitCaughtUp(() => st({ connection: 'offline' }), 2000, 60)).toBe('relay unreachable')
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(await waitCaughtUp(() => st({ connection: 'online' }), 80, 20)).toBe('too slow')
    const [status] = createSignal(st({}))
    const p = waitCaughtUp(status, 2000, 1000)
    dispatchEvent(new Event('offline'))
    expect(await p).toBe('no network')
    dispatchEvent(new Event('online'))
  })

  it('says whether the export is current, and how old it is when not', () => {
    const now = new Date(2026, 4, 20, 15, 0).getTime()
    const t = now - 5 * 60_000
    expect(exportNote({ synced: true, lastSyncedAt: now }, now)).toMatch(/^Exported: up to date with the relay/)
    const stale = exportNote({ synced: false, lastSyncedAt: t, reason: 'relay unreachable' }, now)
    expect(stale).toContain(`Relay unreachable: exported this browser's copy, last synced ${new Date(t).toLocaleTimeString()} (5 min ago)`)
    expect(exportNote({ synced: false, lastSyncedAt: undefined, reason: 'no network' }, now)).toMatch(/^No network: .*never synced with the relay/)
  })
})
