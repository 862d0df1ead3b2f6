import { err, ok, type Result } from '../../shared/errors.js'

/**
 * The sealed plaintext of a presence envelope, version 2 (PROTOCOL.md "Presence").
 *
 * Version 1 carried the sender's clock as its only freshness proof, and a relay may hold a sealed
 * envelope back and deliver it later: within the 30 s clock window it showed a member who had left
 * to a peer that had just restarted (a ghost). Version 2 proves freshness in the *receiver's* clock
 * instead: every state echoes, for each presence session its sender heard lately, the last counter
 * it took from it (`seen`). A receiver shows a state only if it echoes a counter the receiver itself
 * sent recently, which nobody can have sealed before hearing it (client/core/presence-gate.ts).
 *
 * Members are trusted to read, not to be well-formed: everything here is bounded and checked.
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

/** "I last took counter `n` from presence session `stream`": the receiver's proof of freshness. */
export interface Echo {
  /** Hex of the 8-byte presence stream id of the session heard. */
  readonly stream: string
  readonly n: number
}

export interface PresenceMessage {
  /** Counter within the session, from 1; equal to the envelope's `seq`. */
  readonly n: number
  /**
   * When the session started, in the sender's clock (ms). Orders one device's sessions: a state of
   * an older session than one already heard from that device is stale (superseded).
   */
  readonly s: number
  readonly state: PresenceState
  readonly seen: readonly Echo[]
  /** The session's last word: the device left. Nothing of this session is shown after it. */
  readonly bye: boolean
}

export const PALETTE_SIZE = 8
export const MAX_NAME = 64
/** Echoes per state: a space with more live presence sessions than this is not fully visible. */
export const MAX_ECHOES = 64
export const MAX_PLAINTEXT = 8192
const MAX_ITEM_ID = 64
const MAX_SEQ = 0xffff_ffff
const STREAM_HEX = /^[0-9a-f]{16}$/

export type PresenceFormatError = 'presence/malformed'

/** Seals nothing: the bytes `Space.sealPresence` encrypts. Throws only on a caller's bug. */
export function encodeMessage (m: PresenceMessage): Uint8Array {
  const o: Record<string, unknown> = {
    v: 2,
    n: m.n,
    s: m.s,
    name: m.state.name.slice(0, MAX_NAME),
    color: m.state.color,
    cursor: m.state.cursor,
    seen: m.seen.slice(0, MAX_ECHOES).map(e => [e.stream, e.n])
  }
  if (m.bye) o.bye = true
  return new TextEncoder().encode(JSON.stringify(o))
}

const isCount = (x: unknown, min: number): x is number => Number.isSafeInteger(x) && (x as number) >= min && (x as number) <= MAX_SEQ

/** Validates a decrypted state; a malformed one is refused whole. */
export function parseMessage (plain: Uint8Array): Result<PresenceMessage, PresenceFormatError> {
  const bad = (why: string): Result<PresenceMessage, PresenceFormatError> => err('presence/malformed', why)
  if (plain.length > MAX_PLAINTEXT) return bad('presence state too large')
  let v: unknown
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain))
  } catch {
    return bad('presence state is not UTF-8 JSON')
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('presence state is not an object')
  const o = v as Record<string, unknown>
  if (o.v !== 2) return bad('unknown presence version')
  if (!isCount(o.n, 1)) return bad('bad counter')
  if (!Number.isSafeInteger(o.s) || (o.s as number) < 0) return bad('bad session start')
  if (typeof o.name !== 'string' || o.name.length > MAX_NAME) return bad('bad name')
  if (!Number.isInteger(o.color) || (o.color as number) < 0 || (o.color as number) >= PALETTE_SIZE) return bad('bad colour')
  if (o.bye !== undefined && o.bye !== true) return bad('bad bye flag')
  let cursor: PresenceCursor | null = null
  if (o.cursor !== null && o.cursor !== undefined) {
    if (typeof o.cursor !== 'object') return bad('bad cursor')
    const c = o.cursor as Record<string, unknown>
    if (typeof c.item !== 'string' || c.item.length > MAX_ITEM_ID || c.anchor === undefined || c.head === undefined) return bad('bad cursor')
    cursor = { item: c.item, anchor: c.anchor, head: c.head }
  }
  if (!Array.isArray(o.seen) || o.seen.length > MAX_ECHOES) return bad('bad echo list')
  const seen: Echo[] = []
  for (const e of o.seen as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || !STREAM_HEX.test(e[0]) || !isCount(e[1], 1)) return bad('bad echo')
    seen.push({ stream: e[0], n: e[1] })
  }
  return ok({ n: o.n, s: o.s as number, state: { name: o.name, color: o.color as number, cursor }, seen, bye: o.bye === true })
}
