import { createSignal, type Accessor } from 'solid-js'
import * as Y from 'yjs'
import type { Checkpoint } from '../../shared/checkpoint.js'
import { deriveKeys, formatLink, parseLink, type SpaceKeys, type SpaceSecrets } from '../../shared/keys.js'
import type { Sodium } from '../../shared/sodium.js'
import { createIdbSpaceStore } from '../core/idb-store.js'
import type { RelayLink } from '../core/link.js'
import * as model from '../core/model.js'
import { createPresence, type Presence, type PresenceCursor, type PresencePeer } from '../core/presence.js'
import type { Member } from '../core/members.js'
import { Space, type Alert, type SnapshotInfo, type SpaceStatus } from '../core/space.js'
import { stateCode } from './fingerprint.js'
import type { Profile } from './profile.js'
import type { SpaceEntry } from './registry.js'

/**
 * One space open in this tab, whichever tab does the syncing.
 *
 * Several tabs may show the same space. Each space has exactly one **leader** tab, chosen with
 * the Web Locks API (`navigator.locks`, lock `cove-space-<id>`): the leader runs the sync
 * session (its device key, its update stream, its IndexedDB writes). Other tabs are
 * **followers**: they load the stored replica once (read-only), then exchange Yjs updates with
 * the leader over a BroadcastChannel; their edits reach the relay through the leader's stream.
 *
 * Why a leader and not "every tab writes": the session state (this device's stream, its next seq
 * and previous hash, the outbox) is one per device and space. Two tabs sealing from it would
 * sign two different envelopes for the same seq, which every member rightly reports as
 * equivocation. With one writer, storage is never fought over. When the leader closes, the
 * browser hands the lock to a waiting follower, which opens the session from IndexedDB and merges
 * in its own document state (covering whatever the old leader had not yet stored).
 *
 * Followers do not publish presence of their own (the leader's device speaks for the space);
 * they see everyone else's, and learn the device key from the leader. A view-only session
 * publishes too, and others show it as an unverified viewer (client/core/presence.ts).
 */
export type Role = 'starting' | 'leader' | 'follower'

export interface SpaceSession {
  readonly id: string
  readonly secrets: SpaceSecrets
  readonly keys: SpaceKeys
  readonly readOnly: boolean
  /** Changes once, when a follower becomes leader (the view remounts on the new doc). */
  readonly doc: Accessor<Y.Doc>
  readonly role: Accessor<Role>
  readonly status: Accessor<SpaceStatus>
  readonly alerts: Accessor<readonly Alert[]>
  readonly peers: Accessor<readonly PresencePeer[]>
  /** This device's key in the space (hex), which peers know it by; undefined until the leader says. */
  readonly device: Accessor<string | undefined>
  /** Who is in the space (issue 11, client/core/members.ts): every device with its name, role and last seen. */
  readonly members: Accessor<readonly Member[]>
  /** Set when a key change removed this device (or replaced its link): the words to show. */
  readonly removed: Accessor<string | undefined>
  /** Removes a member device (issue 11): the space moves to a new epoch without it. Leader tab only. */
  removeMember (device: string): Promise<'stored' | 'conflict' | 'offline' | 'read-only'>
  readonly stateCode: Accessor<string>
  /** What the leader's session verified, for the links the share panel makes (refreshed with the state code). */
  readonly checkpoint: Accessor<Checkpoint | undefined>
  setCursor (c: PresenceCursor | null): void
  setProfile (p: Profile): void
  /**
   * The snapshots the relay keeps, newest first, verified as `cove history` does (History panel).
   * A follower tab asks the leader, which holds the connection. Rejects when the relay cannot be
   * reached, with the session's error code (`sync/offline`, `sync/timeout`) in the message.
   */
  history (limit?: number): Promise<SnapshotInfo[]>
  /** Seals a snapshot now, as `cove snapshot` does ('skipped' while not caught up); writers only. */
  snapshot (): Promise<'stored' | 'conflict' | 'skipped'>
  /** Seals pending edits now (page hide). */
  flush (): void
  close (): Promise<void>
}

export interface SessionDeps {
  readonly sodium: Sodium
  readonly link: RelayLink
  /** The page origin: the relay serving the app. */
  readonly origin: string
  readonly profile: Profile
  /** Register a new space on the relay (first open after "create"). */
  readonly create?: boolean
  /**
   * Publish presence (default true). A session opened only to sync before an export (export-sync.ts)
   * does not: nobody is there to be shown as here.
   */
  readonly presence?: boolean
  /** The space moved to a new epoch (issue 11): its new link, for the registry; the page then reopens it. */
  readonly onEpoch?: (link: string) => Promise<void> | void
}

type Msg =
  | { t: 'hello'; from: string; sv: Uint8Array }
  | { t: 'sync'; to: string; u: Uint8Array; sv: Uint8Array }
  | { t: 'update'; u: Uint8Array }
  | { t: 'state'; status: SpaceStatus; alerts: Alert[]; peers: PresencePeer[]; code: string; device: string | undefined; checkpoint?: Checkpoint | undefined; members?: Member[] }
  | { t: 'who' }
  | { t: 'ask'; from: string; req: number; q: Ask }
  | { t: 'answer'; to: string; req: number; ok: boolean; value: unknown }

/** What a follower tab asks the leader to do with the relay for it (the History panel). */
type Ask = { q: 'history'; limit: number } | { q: 'snapshot' }
/** How long a follower waits for the leader's answer: the leader itself waits up to 30 s for the relay. */
const ASK_MS = 35_000

/** Transaction origin of updates that came from another tab: never echoed back to the channel. */
const TAB = Symbol('cove-tab')
const OFFLINE: SpaceStatus = { connection: 'connecting', unsynced: 0, caughtUp: false, lastSyncedAt: undefined }

const closing = new Map<string, Promise<void>>()

export async function openSession (entry: SpaceEntry, deps: SessionDeps): Promise<SpaceSession> {
  await closing.get(entry.id)
  const parsed = parseLink(deps.sodium, `${deps.origin}/#${entry.link}`)
  if (!parsed.ok) throw new Error(`the stored link of this space is damaged (${parsed.message})`)
  const secrets = parsed.value.secrets
  const keys = deriveKeys(deps.sodium, secrets)
  const tabId = Math.random().toString(36).slice(2)
  const lockName = `cove-space-${entry.id}`

  const [doc, setDoc] = createSignal<Y.Doc>(new Y.Doc(), { equals: false })
  const [role, setRole] = createSignal<Role>('starting')
  const [status, setStatus] = createSignal<SpaceStatus>(OFFLINE)
  const [alerts, setAlerts] = createSignal<readonly Alert[]>([])
  const [peers, setPeers] = createSignal<readonly PresencePeer[]>([])
  const [device, setDevice] = createSignal<string | undefined>()
  const [members, setMembers] = createSignal<readonly Member[]>([])
  const [removed, setRemoved] = createSignal<string | undefined>()
  const [code, setCode] = createSignal('')
  const [checkpoint, setCheckpoint] = createSignal<Checkpoint | undefined>()

  const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(lockName) : undefined
  const post = (m: Msg): void => { try { channel?.postMessage(m) } catch {} }
  let space: Space | undefined
  let presence: Presence | undefined
  let profile = deps.profile
  let closed = false
  let closing$: Promise<void> | undefined
  let release: () => void = () => {}
  const held = new Promise<void>(resolve => { release = resolve })
  const abort = new AbortController()
  const cleanups: (() => void)[] = []

  // Requests a follower tab sent the leader, by request number.
  const asked = new Map<number, (ok: boolean, value: unknown) => void>()
  let nextReq = 1
  const perform = async (a: Ask): Promise<unknown> => {
    if (space === undefined) throw new Error('sync/offline: the space is still opening')
    if (a.q === 'history') return await space.history(a.limit)
    if (space.readOnly) throw new Error('a view-only link cannot seal snapshots')
    await space.whenStored(5000).catch(() => {})
    return await space.snapshot()
  }
  const ask = (a: Ask): Promise<unknown> => {
    if (role() === 'leader') return perform(a)
    return new Promise((resolve, reject) => {
      const req = nextReq++
      const timer = setTimeout(() => { asked.delete(req); reject(new Error('sync/timeout: the tab that syncs this space did not answer')) }, ASK_MS)
      asked.set(req, (ok, value) => { clearTimeout(timer); if (ok) resolve(value); else reject(new Error(String(value))) })
      post({ t: 'ask', from: tabId, req, q: a })
    })
  }

  const shareState = (): void => {
    if (space === undefined) return
    post({ t: 'state', status: space.status, alerts: [...space.alerts], peers: presence?.peers() ?? [], code: code(), device: presence?.device, checkpoint: checkpoint(), members: [...members()] })
  }

  // ---- follower ------------------------------------------------------------------------------
  const follow = async (): Promise<void> => {
    setRole('follower')
    const d = new Y.Doc()
    const store = createIdbSpaceStore(entry.id)
    const stored = await store.load()
    // Read once, then let go: only the leader keeps the database open and writes to it.
    await store.close()
    Y.transact(d, () => { for (const u of stored.updates) { try { Y.applyUpdate(d, u, TAB) } catch {} } }, TAB)
    const onUpdate = (u: Uint8Array, origin: unknown): void => { if (origin !== TAB) post({ t: 'update', u }) }
    d.on('update', onUpdate)
    cleanups.push(() => d.off('update', onUpdate))
    setDoc(d)
    post({ t: 'hello', from: tabId, sv: Y.encodeStateVector(d) })
  }

  // ---- leader --------------------------------------------------------------------------------
  const lead = async (): Promise<void> => {
    const previous = role() === 'follower' ? doc() : undefined
    const s = await Space.open({
      sodium: deps.sodium,
      store: createIdbSpaceStore(entry.id),
      link: deps.link,
      secrets,
      // The link's checkpoint stays in the stored entry: judged on every open until reached (a reload halfway included).
      ...(parsed.value.checkpoint === undefined ? {} : { checkpoint: parsed.value.checkpoint }),
      ...(deps.create === true ? { create: true } : {})
    })
    if (closed) { await s.close(); return }
    space = s
    // Whatever the previous leader had not stored yet, this tab still has: merge it in as a local
    // edit. First catch up with the relay, so that only this device's unsent edits remain to merge:
    // others' content merged here would be sealed under this device, and every member refuses an
    // envelope that writes another device's clientIDs (apply/clientid-taken), with ours inside it.
    if (previous !== undefined) {
      await s.whenCaughtUp(5000).catch(() => {})
      Y.applyUpdate(s.doc, Y.encodeStateAsUpdate(previous), 'promote')
      previous.destroy()
    }
    // A view-only session publishes too, signed by its device key alone: others see an unverified viewer.
    if (deps.presence !== false) {
      const p = createPresence(s, deps.sodium, { name: profile.name, color: profile.color, cursor: null })
      presence = p
      setDevice(p.device)
      cleanups.push(p.onChange(() => { setPeers(p.peers()); shareState() }))
    }
    // The member record carries the same profile as presence, sealed (issue 11).
    s.members.setProfile({ name: profile.name, colour: profile.color })
    setMembers(s.members.list())
    let codeTimer: ReturnType<typeof setTimeout> | undefined
    const refreshCode = (): void => {
      codeTimer ??= setTimeout(() => { codeTimer = undefined; setCode(stateCode(deps.sodium, s.streamHeads())); setCheckpoint(s.checkpoint()); shareState() }, 200)
    }
    setCode(stateCode(deps.sodium, s.streamHeads()))
    setCheckpoint(s.checkpoint())
    cleanups.push(
      s.events.on('status', st => { setStatus(st); refreshCode(); shareState() }),
      s.events.on('alert', () => { setAlerts([...s.alerts]); shareState() }),
      s.events.on('cleared', () => { setAlerts([...s.alerts]); shareState() }),
      s.events.on('remote', refreshCode),
      s.events.on('members', () => { setMembers(s.members.list()); shareState() }),
      s.events.on('epoch', e => {
        if (e.kind === 'removed') { setRemoved(s.alerts.find(a => a.code === 'space/removed' || a.code === 'link/replaced')?.message ?? 'This device is no longer a member of this space.'); return }
        // Moved to a new epoch (issue 11): the stored link follows it, and the page opens the space
        // again from its stored state, now in the new epoch (every part re-keyed at once).
        void deps.onEpoch?.(formatLink(deps.origin, e.secrets, secrets.writeSeed === undefined ? 'view' : 'edit'))
      }),
      () => { if (codeTimer !== undefined) clearTimeout(codeTimer) }
    )
    const onUpdate = (u: Uint8Array, origin: unknown): void => { if (origin !== TAB) post({ t: 'update', u }) }
    s.doc.on('update', onUpdate)
    cleanups.push(() => s.doc.off('update', onUpdate))
    setStatus(s.status)
    setAlerts([...s.alerts])
    setRole('leader')
    setDoc(s.doc)
    if (deps.create === true && entry.title !== '' && model.title(s.doc).length === 0) model.setTitle(s.doc, entry.title)
    post({ t: 'who' })
    shareState()
  }

  if (channel !== undefined) {
    channel.onmessage = (ev: MessageEvent<Msg>) => {
      const m = ev.data
      if (closed || typeof m !== 'object' || m === null) return
      const d = doc()
      switch (m.t) {
        case 'hello':
          if (role() !== 'leader') return
          post({ t: 'sync', to: m.from, u: Y.encodeStateAsUpdate(d, m.sv), sv: Y.encodeStateVector(d) })
          shareState()
          return
        case 'who':
          // A new leader: say hello again so it sends what we miss and we send what it misses.
          if (role() === 'follower') post({ t: 'hello', from: tabId, sv: Y.encodeStateVector(d) })
          return
        case 'sync':
          if (m.to !== tabId) return
          Y.applyUpdate(d, m.u, TAB)
          {
            const mine = Y.encodeStateAsUpdate(d, m.sv)
            // An empty update is 2 bytes (no structs, no deletes).
            if (mine.length > 2) post({ t: 'update', u: mine })
          }
          return
        case 'update':
          Y.applyUpdate(d, m.u, TAB)
          return
        case 'ask':
          if (role() !== 'leader') return
          perform(m.q).then(
            value => post({ t: 'answer', to: m.from, req: m.req, ok: true, value }),
            (e: unknown) => post({ t: 'answer', to: m.from, req: m.req, ok: false, value: e instanceof Error ? e.message : String(e) })
          )
          return
        case 'answer':
          if (m.to !== tabId) return
          asked.get(m.req)?.(m.ok, m.value)
          asked.delete(m.req)
          return
        case 'state':
          if (role() !== 'follower') return
          setStatus(m.status); setAlerts(m.alerts); setPeers(m.peers); setCode(m.code); setDevice(m.device); setCheckpoint(m.checkpoint); setMembers(m.members ?? [])
      }
    }
  }

  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
  if (locks === undefined) {
    // No Web Locks (an insecure origin): this tab assumes it is the only one.
    await lead()
  } else {
    const got = await new Promise<boolean>(resolve => {
      locks.request(lockName, { ifAvailable: true }, async lock => {
        resolve(lock !== null)
        if (lock !== null) await held
      }).catch(() => resolve(false))
    })
    if (got) {
      await lead()
    } else {
      await follow()
      // Queue for the lock: granted when the leader tab closes or leaves the space.
      locks.request(lockName, { signal: abort.signal }, async () => {
        if (closed) return
        try { await lead() } catch (e) { console.error('cove: taking over the space failed', e) }
        await held
      }).catch(() => {})
    }
  }

  return {
    id: entry.id,
    secrets,
    keys,
    readOnly: secrets.writeSeed === undefined,
    doc,
    role,
    status,
    alerts,
    peers,
    device,
    members,
    removed,
    removeMember: async device => space === undefined ? 'offline' : await space.epochs.rotate({ remove: [device] }),
    stateCode: code,
    checkpoint,
    setCursor (c) { if (space !== undefined && !space.readOnly) presence?.setLocal({ cursor: c }) },
    setProfile (p) {
      profile = p
      presence?.setLocal({ name: p.name, color: p.color })
      space?.members.setProfile({ name: p.name, colour: p.color })
    },
    history: limit => ask({ q: 'history', limit: limit ?? 64 }) as Promise<SnapshotInfo[]>,
    snapshot: () => ask({ q: 'snapshot' }) as Promise<'stored' | 'conflict' | 'skipped'>,
    flush () { void space?.flush() },
    close () {
      // A second caller (leaving the space while the route change already closes it) waits for
      // the same close, so nothing deletes the local database under a write still in flight.
      if (closing$ !== undefined) return closing$
      closed = true
      const done = (async () => {
        abort.abort()
        for (const c of cleanups.splice(0)) c()
        presence?.close()
        channel?.close()
        try {
          if (space !== undefined) await space.close()
        } finally {
          release()
        }
      })()
      closing.set(entry.id, done.catch(() => {}))
      closing$ = done
      return done
    }
  }
}

