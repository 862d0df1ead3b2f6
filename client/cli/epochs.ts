import type { Client } from '../core/client.js'
import type { EpochEvent } from '../core/epoch-sync.js'
import type { Space } from '../core/space.js'

/**
 * The CLI's side of epochs (issue 11): a command's session that ends with a key change is opened
 * again in the new epoch (or the command stops if this device was removed), and `cove remove` /
 * `cove rotate` move the space themselves.
 */
export type Opened = { readonly space: Space; readonly online: boolean } | { readonly space: Space; readonly removed: string }

/** Online, offline after `ms`, or the session ended with a key change first. */
function settle (space: Space, ms: number): Promise<'online' | 'timeout' | EpochEvent> {
  return new Promise(resolve => {
    const done = (v: 'online' | 'timeout' | EpochEvent): void => { off(); offEpoch(); offAlert(); clearTimeout(timer); resolve(v) }
    const off = space.events.on('status', s => { if (s.connection === 'online') done('online') })
    const offEpoch = space.events.on('epoch', e => done(e))
    const offAlert = space.events.on('alert', a => { if (a.code === 'sync/create-refused') done('timeout') })
    const timer = setTimeout(() => done('timeout'), ms)
    if (space.status.connection === 'online') done('online')
  })
}

/**
 * Waits for `space` to join, following key changes: a session moved to a new epoch is opened
 * again (at most a few times in a row); a removed device gets the words of its alert back.
 */
export async function joinCurrent (client: Client, first: Space, ms: number): Promise<Opened> {
  let space = first
  for (let i = 0; i < 4; i++) {
    const r = await settle(space, ms)
    if (r === 'online') {
      await space.whenCaughtUp(ms).catch(() => {})
      return { space, online: true }
    }
    if (r === 'timeout') return { space, online: false }
    if (typeof r === 'object' && r.kind === 'removed') return { space, removed: wordsOf(space) }
    space = await client.reopen(space)
  }
  return { space, online: space.status.connection === 'online' }
}

function wordsOf (space: Space): string {
  const a = space.alerts.find(x => x.code === 'space/removed') ?? space.alerts.find(x => x.code === 'link/replaced')
  return a === undefined ? 'this device is no longer a member of this space' : `${a.message} (${a.code})`
}

/** Resolves with the session's next key change event. */
function nextEpoch (space: Space, ms: number): Promise<EpochEvent | undefined> {
  return new Promise(resolve => {
    const off = space.events.on('epoch', e => { off(); clearTimeout(t); resolve(e) })
    const t = setTimeout(() => { off(); resolve(undefined) }, ms)
  })
}

/**
 * `cove remove` / `cove rotate`: moves the space to a new epoch without `remove` (or keeping only
 * `keep`), follows its own key change into the new epoch and seals the new epoch's snapshot. A
 * rival rotation that came first is followed, then this one is made again on top of it.
 */
export async function rotate (client: Client, space: Space, opts: { remove?: readonly string[]; keep?: readonly string[] }, ms: number): Promise<{ space: Space; result: 'stored' | 'offline' | 'read-only' | 'removed' }> {
  let s = space
  for (let i = 0; i < 3; i++) {
    const moved = nextEpoch(s, ms)
    const r = await s.epochs.rotate(opts)
    if (r === 'offline' || r === 'read-only') return { space: s, result: r }
    const e = await moved
    if (e === undefined) return { space: s, result: 'offline' }
    if (e.kind === 'removed') return { space: s, result: 'removed' }
    s = await client.reopen(s)
    const j = await joinCurrent(client, s, ms)
    s = j.space
    if ('removed' in j) return { space: s, result: 'removed' }
    if (r === 'stored') {
      await s.snapshot().catch(() => 'skipped')
      return { space: s, result: 'stored' }
    }
    // 'conflict': another editor's rotation won; do this one again if it is still needed.
    const still = s.members.list().some(m => opts.remove?.includes(m.device) === true)
    if (opts.keep === undefined && !still) return { space: s, result: 'stored' }
  }
  return { space: s, result: 'offline' }
}
