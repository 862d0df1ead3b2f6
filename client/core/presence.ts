import { toHex } from '../../shared/bytes.js'
import { open } from '../../shared/envelope.js'
import { MsgType, STREAM_BYTES } from '../../shared/header.js'
import { randomBytes, type Sodium } from '../../shared/sodium.js'
import { Emitter } from './events.js'
import type { Space } from './space.js'

/**
 * Presence (DESIGN.md §8): who is in the space and where their cursor is.
 *
 * Each state is sealed with the presence subkey and signed by the device, like any envelope, and
 * carries a counter and a timestamp *inside* the ciphertext. The relay forwards it and stores
 * nothing. A receiver drops an envelope whose counter is not above the last one it took from that
 * (device, presence stream), or whose timestamp is more than `staleMs` from its own clock: a replay
 * of an old envelope (this session's or an earlier one's) shows no one.
 *
 * People disappear on the relay's `peerLeft` (their socket closed or they left the space) and,
 * should that be lost, when they have not been heard from for `expireMs` (states are re-sent every
 * `heartbeatMs`).
 *
 * View-only sessions hold no write certificate, so they cannot seal an envelope any member (or the
 * relay) accepts: readers see everyone but publish nothing, and nobody sees them. Making readers
 * visible would mean letting uncertified keys speak, which is exactly what read-only forbids.
 */
export interface PresenceCursor {
  /** The item (note) the cursor is in. */
  readonly item: string
  /** Yjs relative positions, as JSON (`Y.relativePositionToJSON`). */
  readonly anchor: unknown
  readonly head: unknown
}

export interface PresenceState {
  readonly name: string
  /** Index into the app's fixed palette (the CSP allows no inline styles, so colours are classes). */
  readonly color: number
  readonly cursor: PresenceCursor | null
}

export interface PresencePeer {
  /** `authorHex:streamHex`: one session of one device. */
  readonly key: string
  readonly author: string
  readonly state: PresenceState
  readonly seenAt: number
}

export interface PresenceOptions {
  readonly now?: () => number
  readonly staleMs?: number
  readonly expireMs?: number
  readonly heartbeatMs?: number
  /** Cursor moves are sent at most this often. */
  readonly throttleMs?: number
}

export type PresencePort = Pick<Space, 'events' | 'keys' | 'readOnly' | 'status' | 'sealPresence' | 'sendPresence' | 'devicePublicKey'>

export const PALETTE_SIZE = 8
const MAX_NAME = 64
const MAX_PLAINTEXT = 4096

export interface Presence {
  readonly local: PresenceState
  setLocal (patch: Partial<PresenceState>): void
  peers (): PresencePeer[]
  /** Fired whenever a peer appears, changes or leaves. */
  onChange (fn: () => void): () => void
  close (): void
}

/** Validates a decrypted state: members are trusted to read, not to be well-formed. */
export function parseState (plain: Uint8Array): { n: number; t: number; state: PresenceState } | undefined {
  if (plain.length > MAX_PLAINTEXT) return undefined
  let v: unknown
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain))
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const o = v as Record<string, unknown>
  if (o.v !== 1 || !Number.isSafeInteger(o.n) || typeof o.t !== 'number' || typeof o.name !== 'string') return undefined
  if (!Number.isInteger(o.color) || (o.color as number) < 0 || (o.color as number) >= PALETTE_SIZE) return undefined
  let cursor: PresenceCursor | null = null
  if (o.cursor !== null && o.cursor !== undefined) {
    const c = o.cursor as Record<string, unknown>
    if (typeof c !== 'object' || typeof c.item !== 'string' || c.item.length > 64 || c.anchor === undefined || c.head === undefined) return undefined
    cursor = { item: c.item, anchor: c.anchor, head: c.head }
  }
  return { n: o.n as number, t: o.t, state: { name: o.name.slice(0, MAX_NAME), color: o.color as number, cursor } }
}

export function createPresence (space: PresencePort, sodium: Sodium, initial: PresenceState, opts: PresenceOptions = {}): Presence {
  const now = opts.now ?? Date.now
  const staleMs = opts.staleMs ?? 30_000
  const expireMs = opts.expireMs ?? 15_000
  const heartbeatMs = opts.heartbeatMs ?? 5_000
  const throttleMs = opts.throttleMs ?? 50
  const changes = new Emitter<{ change: undefined }>()
  const peers = new Map<string, PresencePeer>()
  const lastCounter = new Map<string, number>()
  const stream = randomBytes(STREAM_BYTES)
  const ownHex = toHex(space.devicePublicKey)
  let local = initial
  let counter = 0
  let sendTimer: ReturnType<typeof setTimeout> | undefined
  let lastSent = 0
  let closed = false

  const changed = (): void => changes.emit('change', undefined)

  const send = (): void => {
    sendTimer = undefined
    if (closed || space.readOnly || space.status.connection !== 'online') return
    counter++
    const t = now()
    const body = new TextEncoder().encode(JSON.stringify({ v: 1, n: counter, t, name: local.name.slice(0, MAX_NAME), color: local.color, cursor: local.cursor }))
    if (body.length > MAX_PLAINTEXT) return
    const env = space.sealPresence(body, stream, counter)
    if (env !== undefined && space.sendPresence(env)) lastSent = t
  }
  const schedule = (): void => {
    if (sendTimer !== undefined) return
    sendTimer = setTimeout(send, Math.max(0, lastSent + throttleMs - now()))
  }

  const receive = (env: Uint8Array): void => {
    const o = open(sodium, space.keys, env, { types: [MsgType.presence] })
    if (!o.ok) return
    const h = o.value.header
    const author = toHex(h.author)
    if (author === ownHex) return
    const parsed = parseState(o.value.plaintext)
    if (parsed === undefined || parsed.n !== h.seq) return
    const key = `${author}:${toHex(h.stream)}`
    const t = now()
    if (parsed.n <= (lastCounter.get(key) ?? 0) || Math.abs(t - parsed.t) > staleMs) return
    lastCounter.set(key, parsed.n)
    const isNew = !peers.has(key)
    peers.set(key, { key, author, state: parsed.state, seenAt: t })
    changed()
    // A newcomer learns we are here without waiting for our next heartbeat.
    if (isNew) schedule()
  }

  const offPresence = space.events.on('presence', f => {
    if (f.type === 'presenceOut') return receive(f.envelope)
    const gone = toHex(f.author)
    let any = false
    for (const [k, p] of peers) if (p.author === gone) { peers.delete(k); any = true }
    if (any) changed()
  })
  const offStatus = space.events.on('status', s => {
    if (s.connection === 'online') schedule()
    else if (peers.size > 0) { peers.clear(); changed() }
  })
  const tick = setInterval(() => {
    const t = now()
    let any = false
    for (const [k, p] of peers) if (t - p.seenAt > expireMs) { peers.delete(k); any = true }
    if (any) changed()
    if (t - lastSent >= heartbeatMs) schedule()
  }, Math.min(heartbeatMs, 1000))
  schedule()

  return {
    get local () { return local },
    setLocal (patch) {
      local = { ...local, ...patch }
      schedule()
    },
    peers: () => [...peers.values()],
    onChange: fn => changes.on('change', fn),
    close () {
      closed = true
      clearInterval(tick)
      if (sendTimer !== undefined) clearTimeout(sendTimer)
      offPresence()
      offStatus()
      peers.clear()
    }
  }
}
