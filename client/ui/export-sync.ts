import { createEffect, createRoot, type Accessor } from 'solid-js'
import type * as Y from 'yjs'
import type { SpaceKeys } from '../../shared/keys.js'
import type { SpaceStatus } from '../core/space.js'
import { formatAge, formatTime } from './format.js'
import { networkUp } from './network.js'
import type { SpaceEntry } from './registry.js'
import { openSession, type SessionDeps } from './session.js'

/**
 * Export from the spaces list (issue 9.3). The copy stored in this browser is as old as the last
 * time the space was open here, so an export read straight from it silently lacked every edit made
 * since. Instead the space's session is opened (the same session the space page runs, without
 * presence), given a bounded time to catch up with the relay, and then exported; when it cannot
 * catch up (no network, relay down, too slow) the export still happens, from the local copy, and
 * the person is told plainly how old that copy is.
 */
export interface ExportCopy {
  readonly doc: Y.Doc
  readonly keys: SpaceKeys
  /** The copy holds everything the relay had when the session joined. */
  readonly synced: boolean
  /** When this replica last held everything the relay had (persisted across reloads). */
  readonly lastSyncedAt: number | undefined
  /** Why it is not synced. */
  readonly reason?: 'no network' | 'relay unreachable' | 'too slow'
  close (): Promise<void>
}

/** Longest wait for the relay to deliver what the space missed. */
export const SYNC_BOUND_MS = 8000
/** A connection that has failed this long (retrying meanwhile) counts as a relay down. */
export const UNREACHABLE_AFTER_MS = 2000

/** Opens `entry`'s session and waits (within the bounds above) until it has caught up. */
export async function openForExport (entry: SpaceEntry, deps: SessionDeps, bounds = { syncMs: SYNC_BOUND_MS, unreachableMs: UNREACHABLE_AFTER_MS }): Promise<ExportCopy> {
  const s = await openSession(entry, { ...deps, presence: false })
  try {
    const outcome = await waitCaughtUp(s.status, bounds.syncMs, bounds.unreachableMs)
    const st = s.status()
    return {
      doc: s.doc(),
      keys: s.keys,
      synced: outcome === 'synced',
      lastSyncedAt: st.lastSyncedAt,
      ...(outcome === 'synced' ? {} : { reason: outcome }),
      close: () => s.close()
    }
  } catch (e) {
    await s.close()
    throw e
  }
}

export type CatchUpOutcome = 'synced' | 'no network' | 'relay unreachable' | 'too slow'
type Outcome = CatchUpOutcome

/**
 * Resolves as soon as `status` says caught up, or with why it will not be soon: no network (at
 * once), a connection still failing after `unreachableMs`, or nothing by `syncMs`. A relay that is
 * down costs the person two seconds, not the whole bound.
 */
export function waitCaughtUp (status: Accessor<SpaceStatus>, syncMs: number, unreachableMs: number): Promise<Outcome> {
  return new Promise(resolve => {
    createRoot(dispose => {
      let settled = false
      const timers: ReturnType<typeof setTimeout>[] = []
      const done = (o: Outcome): void => {
        if (settled) return
        settled = true
        for (const t of timers) clearTimeout(t)
        queueMicrotask(dispose)
        resolve(o)
      }
      const check = (late: boolean): void => {
        const st = status()
        if (st.caughtUp) done('synced')
        else if (!networkUp()) done('no network')
        else if (late && st.connection === 'offline') done('relay unreachable')
      }
      timers.push(setTimeout(() => check(true), unreachableMs))
      timers.push(setTimeout(() => { check(true); done(status().connection === 'offline' ? 'relay unreachable' : 'too slow') }, syncMs))
      const start = Date.now()
      createEffect(() => check(Date.now() - start >= unreachableMs))
    })
  })
}

/** What the list says once the export is written: whether it is current, or how old it is. */
export function exportNote (c: Pick<ExportCopy, 'synced' | 'lastSyncedAt' | 'reason'>, now = Date.now()): string {
  if (c.synced) return `Exported: up to date with the relay (synced ${formatTime(c.lastSyncedAt, now)})`
  const why = c.reason === 'no network' ? 'No network' : c.reason === 'too slow' ? 'The relay did not answer in time' : 'Relay unreachable'
  const age = c.lastSyncedAt === undefined ? 'never synced with the relay' : `last synced ${formatTime(c.lastSyncedAt, now)} (${formatAge(c.lastSyncedAt, now)})`
  return `${why}: exported this browser's copy, ${age}. It may lack recent changes by others.`
}
