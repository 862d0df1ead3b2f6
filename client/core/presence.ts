import { toHex } from '../../shared/bytes.js'
import { open } from '../../shared/envelope.js'
import { MsgType, STREAM_BYTES } from '../../shared/header.js'
import { isNoCert } from '../../shared/sign.js'
import { randomBytes, type Sodium } from '../../shared/sodium.js'
import { Emitter } from './events.js'
import { createPresenceGate, type PresencePeer } from './presence-gate.js'
import { encodeMessage, MAX_NAME, MAX_PLAINTEXT, parseMessage, type PresenceState } from './presence-format.js'
import type { Space } from './space.js'

export { PALETTE_SIZE, type PresenceCursor, type PresenceState } from './presence-format.js'
export type { PresencePeer } from './presence-gate.js'

/**
 * Presence (DESIGN.md §8): who is in the space and where their cursor is. This file does the IO;
 * what is shown, and for how long, is decided by presence-gate.ts, the format is presence-format.ts.
 *
 * Each state is sealed with the presence subkey and signed by the device, like any envelope; the
 * relay forwards it and stores nothing. A session draws a fresh presence stream id and counts its
 * states 1, 2, 3… in it (the counter is the envelope's `seq` and is sealed inside too). Every state
 * echoes the counters it last heard from the other sessions, which is how receivers know a state is
 * fresh (presence-gate.ts). States are re-sent every `heartbeatMs`; a session that closes while
 * online sends a signed goodbye first.
 *
 * Editors sign with a certified device key. A view-only session has no write certificate: it seals
 * its states with its device key alone (64 zero bytes in place of the certificate), and everyone
 * shows it as an unverified viewer, never as an editor, and without a cursor.
 */
export interface PresenceOptions {
  readonly now?: () => number
  /** A peer is shown at most this long after a counter of ours it echoed was sent. */
  readonly expireMs?: number
  readonly heartbeatMs?: number
  /** Cursor moves are sent at most this often. */
  readonly throttleMs?: number
}

export type PresencePort = Pick<Space, 'events' | 'keys' | 'readOnly' | 'status' | 'sealPresence' | 'sendPresence' | 'devicePublicKey'>

export interface Presence {
  readonly local: PresenceState
  /** This device's key (hex), the key peers know it by. */
  readonly device: string
  setLocal (patch: Partial<PresenceState>): void
  peers (): PresencePeer[]
  /** Fired whenever a peer appears, changes or leaves. */
  onChange (fn: () => void): () => void
  /** Says goodbye (when online) and stops. */
  close (): void
}

export function createPresence (space: PresencePort, sodium: Sodium, initial: PresenceState, opts: PresenceOptions = {}): Presence {
  const now = opts.now ?? Date.now
  const expireMs = opts.expireMs ?? 20_000
  const heartbeatMs = opts.heartbeatMs ?? 5_000
  const throttleMs = opts.throttleMs ?? 50
  const changes = new Emitter<{ change: undefined }>()
  const stream = randomBytes(STREAM_BYTES)
  const device = toHex(space.devicePublicKey)
  const gate = createPresenceGate({ device, stream: toHex(stream), expireMs })
  const session = now()
  let local = initial
  let counter = 0
  let sendTimer: ReturnType<typeof setTimeout> | undefined
  let lastSent = 0
  let closed = false

  const changed = (): void => changes.emit('change', undefined)

  const sendState = (bye: boolean): void => {
    if (space.status.connection !== 'online') return
    const t = now()
    const state = { name: local.name.slice(0, MAX_NAME), color: local.color, cursor: space.readOnly ? null : local.cursor }
    let body = encodeMessage({ n: counter + 1, s: session, state, seen: gate.echoes(t), bye })
    // A cursor too large to send is left out rather than the whole state.
    if (body.length > MAX_PLAINTEXT) body = encodeMessage({ n: counter + 1, s: session, state: { ...state, cursor: null }, seen: gate.echoes(t), bye })
    if (body.length > MAX_PLAINTEXT) return
    const env = space.sealPresence(body, stream, counter + 1)
    if (env === undefined) return
    counter++
    gate.sent(counter, t)
    if (space.sendPresence(env)) lastSent = t
  }
  const send = (): void => {
    sendTimer = undefined
    if (!closed) sendState(false)
  }
  const schedule = (): void => {
    if (sendTimer !== undefined || closed) return
    sendTimer = setTimeout(send, Math.max(0, lastSent + throttleMs - now()))
  }

  const receive = (env: Uint8Array): void => {
    const o = open(sodium, space.keys, env, { types: [MsgType.presence], uncertifiedPresence: true })
    if (!o.ok) return
    const h = o.value.header
    const parsed = parseMessage(o.value.plaintext)
    if (!parsed.ok) return
    const v = gate.receive({ device: toHex(h.author), certified: !isNoCert(h.cert), stream: toHex(h.stream), seq: h.seq, message: parsed.value }, now())
    if (v.ok) changed()
    if (v.prompt) schedule()
  }

  const offPresence = space.events.on('presence', f => {
    if (f.type === 'presenceOut') return receive(f.envelope)
    if (gate.peerLeft(toHex(f.author), now())) changed()
  })
  // Status is emitted on every change (unsynced counts too): act on the connection's transitions only.
  let online = space.status.connection === 'online'
  const offStatus = space.events.on('status', s => {
    const isOnline = s.connection === 'online'
    if (isOnline === online) return
    online = isOnline
    if (online) {
      gate.connected()
      schedule()
    } else if (gate.disconnected()) {
      changed()
    }
  })
  const tick = setInterval(() => {
    const t = now()
    if (gate.expire(t)) changed()
    if (t - lastSent >= heartbeatMs) schedule()
  }, Math.min(heartbeatMs, 1000))
  if (online) gate.connected()
  schedule()

  return {
    get local () { return local },
    device,
    setLocal (patch) {
      local = { ...local, ...patch }
      schedule()
    },
    peers: () => gate.peers(),
    onChange: fn => changes.on('change', fn),
    close () {
      if (closed) return
      closed = true
      clearInterval(tick)
      if (sendTimer !== undefined) clearTimeout(sendTimer)
      // The signed goodbye: everyone who gets it never shows this session again, whatever the
      // relay replays. If it is lost, the relay's peerLeft and the echo rule do the same job.
      sendState(true)
      offPresence()
      offStatus()
      gate.disconnected()
    }
  }
}
