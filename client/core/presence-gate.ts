import { MAX_ECHOES, type Echo, type PresenceMessage, type PresenceState } from './presence-format.js'

/**
 * Which presence states are shown, and for how long (DESIGN.md §8, issue 8 item 8). Sans-IO: it is
 * fed decrypted, signature-checked states with the receiver's clock, and answers; presence.ts does
 * the sealing, sending and timers.
 *
 * A presence state is attributed to the device key that signed it, and nothing else: peers are
 * keyed by device, so a member who claims another's name and colour is still its own device
 * (the UI tells the two apart, client/ui/peer-labels.ts).
 *
 * No ghosts. The relay sees every sealed state and may replay any of them, to anyone, at any time;
 * it cannot seal new ones. So a state is shown only when all of these hold:
 *
 * 1. **Order.** Per device we keep its newest session (by the session start it signs, then stream
 *    id) and the highest counter taken from it. A state of that session at or below it is a
 *    replay; of an older session, superseded; of a session that said goodbye (`bye`), dead. A
 *    goodbye is a tombstone: nothing of that session is ever shown again.
 * 2. **Proof of freshness in our own clock.** The state must echo a counter of *this* session that
 *    we sent at most `expireMs` ago, and sent after we last (re)connected and after the relay last
 *    told us the device was gone (`peerLeft`). Nobody can seal an echo of a counter before hearing
 *    it, so a recorded state is worthless to a peer that restarted (new session: nothing recorded
 *    echoes it), to a peer that reconnected, and, after `expireMs`, to everyone. No clock of the
 *    sender's is trusted, so skew neither hides honest peers nor extends a replay's life.
 * 3. A shown peer stays shown while its newest proof is younger than `expireMs`: a relay that
 *    withholds a device's goodbye can keep it on screen at most `expireMs` after the last counter
 *    of ours the device really echoed.
 *
 * The price: a peer appears one round trip after it first hears us. A state that is authentic and
 * in order but does not (yet) prove freshness asks presence.ts to send ours soon (`prompt`), so
 * that the sender can echo it; prompts are limited per device, so a replaying relay cannot make us
 * chatter.
 *
 * Records are forgotten `2 × expireMs` after a device was last heard: by then any state they could
 * refuse would also fail rule 2 (it would have to echo a counter sent after it was sealed).
 */
export interface PresencePeer {
  /** The device's public key (hex): one entry per device, whichever session speaks for it. */
  readonly key: string
  readonly device: string
  /**
   * The device holds a write certificate of this space (an editor). False for a view-only device:
   * it signed with its device key only, and anyone holding a link can make such a key, so its
   * name is a claim nobody vouches for.
   */
  readonly certified: boolean
  readonly state: PresenceState
  /** When (receiver's clock) the shown state arrived. */
  readonly seenAt: number
}

/** A presence envelope that opened (signature checked), reduced to what the rules need. */
export interface Incoming {
  readonly device: string
  readonly certified: boolean
  /** Hex of the envelope's 8-byte stream: the sender's presence session. */
  readonly stream: string
  readonly seq: number
  readonly message: PresenceMessage
}

export type PresenceDropCode =
  | 'presence/own'
  | 'presence/seq-mismatch'
  | 'presence/replayed'
  | 'presence/superseded'
  | 'presence/left'
  | 'presence/unconfirmed'
  | 'presence/stale'

export type Verdict =
  | { readonly ok: true; readonly outcome: 'shown' | 'left'; readonly prompt: boolean }
  | { readonly ok: false; readonly code: PresenceDropCode; readonly message: string; readonly prompt: boolean }

export interface GateOptions {
  /** This device's key (hex): its own states are never shown. */
  readonly device: string
  /** This session's presence stream (hex), the one echoes must name. */
  readonly stream: string
  readonly expireMs: number
  /** At most one prompt per device per this many ms. */
  readonly promptMs?: number
}

export interface PresenceGate {
  /** Records a state this session sent: its counter and when (our clock). */
  sent (n: number, at: number): void
  /** The sessions heard lately, newest first: the `seen` of our next state. */
  echoes (now: number): Echo[]
  receive (m: Incoming, now: number): Verdict
  /** The relay says the device's connection closed. True if that hid someone. */
  peerLeft (device: string, now: number): boolean
  /** Joined the relay (again): only echoes of counters sent from now on prove freshness. */
  connected (): void
  /** Lost the relay: nobody is shown. True if that hid someone. */
  disconnected (): boolean
  /** Hides peers whose proof of freshness ran out and forgets old records. True if that hid someone. */
  expire (now: number): boolean
  peers (): PresencePeer[]
}

interface DeviceRecord {
  /** The newest session heard from the device (undefined: none yet, only a `peerLeft`). */
  stream: string | undefined
  s: number
  /** Highest counter taken from that session. */
  n: number
  left: boolean
  /** Lowest counter of ours an echo must name to count (raised by `peerLeft`). */
  notBefore: number
  /** When we sent the newest counter this session validly echoed (−∞: no proof). */
  freshAt: number
  certified: boolean
  state: PresenceState | undefined
  seenAt: number
  shown: boolean
  updatedAt: number
  promptedAt: number
}

export function createPresenceGate (opts: GateOptions): PresenceGate {
  const expireMs = opts.expireMs
  const promptMs = opts.promptMs ?? 1000
  const records = new Map<string, DeviceRecord>()
  /** Our own counters and when they left, oldest first, for the last `expireMs`. */
  const sentLog: { n: number; at: number }[] = []
  const heard = new Map<string, { n: number; at: number }>()
  let lastSent = 0
  let minEcho = 1

  const record = (device: string, now: number): DeviceRecord => {
    let r = records.get(device)
    if (r === undefined) {
      r = { stream: undefined, s: 0, n: 0, left: false, notBefore: 0, freshAt: -Infinity, certified: false, state: undefined, seenAt: 0, shown: false, updatedAt: now, promptedAt: -Infinity }
      records.set(device, r)
    }
    return r
  }
  const sentAt = (n: number): number | undefined => {
    for (let i = sentLog.length - 1; i >= 0; i--) {
      const e = sentLog[i]!
      if (e.n === n) return e.at
      if (e.n < n) return undefined
    }
    return undefined
  }
  const mayPrompt = (r: DeviceRecord, now: number): boolean => {
    if (now - r.promptedAt < promptMs) return false
    r.promptedAt = now
    return true
  }
  const drop = (code: PresenceDropCode, message: string, prompt = false): Verdict => ({ ok: false, code, message, prompt })

  return {
    sent (n, at) {
      sentLog.push({ n, at })
      lastSent = Math.max(lastSent, n)
    },

    echoes (now) {
      return [...heard.entries()]
        .filter(([, h]) => now - h.at <= expireMs)
        .sort((a, b) => b[1].at - a[1].at)
        .slice(0, MAX_ECHOES)
        .map(([stream, h]) => ({ stream, n: h.n }))
    },

    receive (m, now) {
      if (m.device === opts.device) return drop('presence/own', 'a state of this device')
      const msg = m.message
      if (msg.n !== m.seq) return drop('presence/seq-mismatch', 'sealed counter differs from the envelope seq')
      const r = records.get(m.device)
      let newSession = r === undefined || r.stream === undefined
      if (r !== undefined && r.stream !== undefined) {
        if (m.stream === r.stream) {
          if (r.left) return drop('presence/left', 'this session said goodbye')
          if (msg.n <= r.n) return drop('presence/replayed', `counter ${msg.n} not above ${r.n}`)
        } else if (msg.s < r.s || (msg.s === r.s && m.stream < r.stream)) {
          return drop('presence/superseded', 'an older session of a device heard in a newer one')
        } else {
          newSession = true
        }
      }
      const rec = r ?? record(m.device, now)
      if (newSession) {
        rec.stream = m.stream
        rec.s = msg.s
        rec.left = false
        rec.freshAt = -Infinity
      }
      rec.n = msg.n
      rec.updatedAt = now
      if (msg.bye) {
        rec.left = true
        rec.shown = false
        heard.delete(m.stream)
        return { ok: true, outcome: 'left', prompt: false }
      }
      heard.set(m.stream, { n: msg.n, at: now })
      const echo = msg.seen.find(e => e.stream === opts.stream)
      const counts = echo !== undefined && echo.n >= minEcho && echo.n >= rec.notBefore
      const at = counts ? sentAt(echo.n) : undefined
      if (at !== undefined && now - at <= expireMs) rec.freshAt = Math.max(rec.freshAt, at)
      rec.certified = m.certified
      // A view-only device edits nothing: a caret of its would sit in the text like a writer's.
      rec.state = m.certified ? msg.state : { ...msg.state, cursor: null }
      if (now - rec.freshAt <= expireMs) {
        const appeared = !rec.shown
        rec.shown = true
        rec.seenAt = now
        return { ok: true, outcome: 'shown', prompt: (newSession || appeared) && mayPrompt(rec, now) }
      }
      // Authentic and in order, but no proof that it was sealed lately: the sender has not heard
      // this session (since we last joined, or since the relay said it left), or not for a while.
      // Our next state lets it echo us, if it is really there.
      return counts
        ? drop('presence/stale', `echoes a counter not sent in the last ${expireMs} ms`, mayPrompt(rec, now))
        : drop('presence/unconfirmed', 'echoes no counter this session sent since it (re)joined', mayPrompt(rec, now))
    },

    peerLeft (device, now) {
      const r = record(device, now)
      const was = r.shown
      r.notBefore = lastSent + 1
      r.freshAt = -Infinity
      r.shown = false
      r.updatedAt = now
      return was
    },

    connected () {
      minEcho = lastSent + 1
      for (const r of records.values()) { r.freshAt = -Infinity; r.shown = false }
    },

    disconnected () {
      let any = false
      for (const r of records.values()) {
        if (r.shown) any = true
        r.shown = false
        r.freshAt = -Infinity
      }
      return any
    },

    expire (now) {
      let any = false
      for (const [k, r] of records) {
        if (r.shown && now - r.freshAt > expireMs) { r.shown = false; any = true }
        if (!r.shown && now - r.updatedAt > 2 * expireMs) records.delete(k)
      }
      while (sentLog.length > 0 && now - sentLog[0]!.at > expireMs) sentLog.shift()
      for (const [k, h] of heard) if (now - h.at > expireMs) heard.delete(k)
      return any
    },

    peers () {
      const out: PresencePeer[] = []
      for (const [device, r] of records) {
        if (r.shown && r.state !== undefined) out.push({ key: device, device, certified: r.certified, state: r.state, seenAt: r.seenAt })
      }
      return out
    }
  }
}
