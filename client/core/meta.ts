import { fromB64u, toB64u } from '../../shared/bytes.js'
import type { SpaceSecrets } from '../../shared/keys.js'
import type { Sodium } from '../../shared/sodium.js'
import type { StreamHead } from './reader.js'
import type { HeldSnapshot } from './snapshot.js'

/**
 * The small per-space session state a replica keeps beside its updates (client/core/store.ts):
 * keys, the resume cursor, stream heads, clientID bindings, the snapshot it holds.
 *
 * Stored as JSON, version 1. This session's own stream is not in it: every session opens a fresh
 * stream (writer.ts), so nothing here can make two sessions seal the same position. Bindings are
 * grouped by device (`{ deviceHex: [clientID…] }`); the older flat form (`{ clientID: deviceHex }`)
 * and its `stream` field are still read.
 */
export interface Meta {
  secrets: SpaceSecrets
  device: { readonly pk: string; readonly sk: string }
  cursor: number
  registered: boolean
  heads: ReadonlyMap<string, StreamHead>
  stuck: ReadonlyMap<string, number>
  bindings: ReadonlyMap<number, string>
  snapshot: HeldSnapshot | undefined
  /**
   * When this replica last held everything the relay had (ms since the epoch). Kept so that a
   * reload with no network still says how old the copy is, not "never" (issue 9.6).
   */
  lastSyncedAt?: number | undefined
  /**
   * After a key change (issue 11): the epoch before this one, the frontier the key change named
   * in it (stream key → last seq; entries within it are still read) and who sealed it.
   */
  previous?: { readonly secrets: SpaceSecrets; readonly frontier: ReadonlyMap<string, number>; readonly by: string; readonly members?: readonly KeptMember[] } | undefined
  /** Own Yjs updates sealed in the old epoch and not within the frontier: sealed again in this one by the next session. */
  carry?: readonly Uint8Array[] | undefined
  /**
   * Authors this replica caught (reader.ts `forked`, `equivocated`, `malformed`). Kept across
   * sessions: replicas may hold different versions of what they wrote, so a snapshot that differs
   * for their sake is not its maker's fault, after a restart as before it.
   */
  suspects?: Suspects | undefined
}

/** Device keys (hex) by what this replica caught them doing. */
export interface Suspects {
  readonly forked: readonly string[]
  readonly equivocated: readonly string[]
  readonly malformed: readonly string[]
}

/** A member the key change kept, as the old epoch knew it: the new epoch's list starts from these (members.ts). */
export interface KeptMember { readonly device: string; readonly name: string; readonly colour: number; readonly role: 'edit' | 'view' }

/** [seq, hash ('' when folded), cursor] or, for a snapshot's claim, [seq, hash, cursor, claimUpTo, claimedBy]; [seq, hash] is older. */
type HeadJson = [number, string] | [number, string, number] | [number, string, number, number, string]

interface MetaJson {
  v: 1
  secrets: { spaceId: string; epoch: number; secret: string; writeSeed?: string; writePk: string }
  device: { pk: string; sk: string }
  cursor: number
  registered: boolean
  heads: Record<string, HeadJson>
  stuck?: Record<string, number>
  bindings: Record<string, string | number[]>
  snapshot?: { seq: number; hash: string; heads: Record<string, number>; covers?: number }
  syncedAt?: number
  previous?: { secrets: MetaJson['secrets']; frontier: Record<string, number>; by: string; members?: KeptMember[] }
  carry?: string[]
  suspects?: { forked?: string[]; equivocated?: string[]; malformed?: string[] }
}

const DAMAGED = 'the local state of this space is damaged (unreadable meta record); remove it and open the link again to download the space'
const b64 = toB64u
function unb64 (s: unknown): Uint8Array {
  const b = typeof s === 'string' ? fromB64u(s) : undefined
  if (b === undefined) throw new Error(DAMAGED)
  return b
}

export function freshMeta (sodium: Sodium, secrets: SpaceSecrets, create: boolean): Meta {
  const kp = sodium.crypto_sign_keypair()
  return {
    secrets,
    device: { pk: b64(kp.publicKey), sk: b64(kp.privateKey) },
    cursor: 0,
    registered: !create,
    heads: new Map(),
    stuck: new Map(),
    bindings: new Map(),
    snapshot: undefined
  }
}

export function encodeMeta (m: Meta, cursor: number): Uint8Array {
  const s = m.secrets
  const secretsJson = (x: SpaceSecrets): MetaJson['secrets'] => ({ spaceId: b64(x.spaceId), epoch: x.epoch, secret: b64(x.secret), ...(x.writeSeed === undefined ? {} : { writeSeed: b64(x.writeSeed) }), writePk: b64(x.writePk) })
  const heads: Record<string, HeadJson> = {}
  for (const [k, h] of m.heads) {
    const hash = h.hash.length === 0 ? '' : b64(h.hash)
    heads[k] = h.claimUpTo === undefined || h.claimedBy === undefined ? [h.seq, hash, h.cursor ?? 0] : [h.seq, hash, h.cursor ?? 0, h.claimUpTo, h.claimedBy]
  }
  const bindings: Record<string, number[]> = {}
  for (const [c, a] of m.bindings) (bindings[a] ??= []).push(c)
  const json: MetaJson = {
    v: 1,
    secrets: secretsJson(s),
    device: { ...m.device },
    cursor,
    registered: m.registered,
    heads,
    ...(m.stuck.size === 0 ? {} : { stuck: Object.fromEntries(m.stuck) }),
    bindings,
    ...(m.snapshot === undefined ? {} : { snapshot: { seq: m.snapshot.seq, hash: b64(m.snapshot.hash), heads: Object.fromEntries(m.snapshot.heads), covers: m.snapshot.covers ?? 0 } }),
    ...(m.lastSyncedAt === undefined ? {} : { syncedAt: m.lastSyncedAt }),
    ...(m.previous === undefined ? {} : { previous: { secrets: secretsJson(m.previous.secrets), frontier: Object.fromEntries(m.previous.frontier), by: m.previous.by, members: [...m.previous.members ?? []] } }),
    ...(m.carry === undefined || m.carry.length === 0 ? {} : { carry: m.carry.map(b64) }),
    ...(suspectsJson(m.suspects))
  }
  return new TextEncoder().encode(JSON.stringify(json))
}

/** Local meta comes from this device's own store, but a damaged file must fail with words, not a SyntaxError. */
export function decodeMeta (bytes: Uint8Array): Meta {
  try {
    return decodeUnchecked(bytes)
  } catch {
    throw new Error(DAMAGED)
  }
}

function decodeUnchecked (bytes: Uint8Array): Meta {
  let o: Partial<MetaJson> | undefined
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Partial<MetaJson>
  } catch {
    o = undefined
  }
  if (o?.v !== 1 || typeof o.secrets?.secret !== 'string' || typeof o.device?.sk !== 'string' || typeof o.heads !== 'object' || typeof o.bindings !== 'object') {
    throw new Error(DAMAGED)
  }
  const secretsOf = (s: MetaJson['secrets']): SpaceSecrets => ({
    spaceId: unb64(s.spaceId), epoch: s.epoch, secret: unb64(s.secret), writePk: unb64(s.writePk),
    ...(s.writeSeed === undefined ? {} : { writeSeed: unb64(s.writeSeed) })
  })
  const secrets = secretsOf(o.secrets)
  const prev = o.previous
  const heads = new Map<string, StreamHead>()
  for (const [k, h] of Object.entries(o.heads ?? {})) {
    const hash = h[1] === '' ? new Uint8Array(0) : unb64(h[1])
    if (typeof h[0] !== 'number') throw new Error(DAMAGED)
    heads.set(k, h.length === 5 ? { seq: h[0], hash, cursor: h[2], claimUpTo: h[3], claimedBy: h[4] } : { seq: h[0], hash, cursor: h[2] ?? 0 })
  }
  const bindings = new Map<number, string>()
  for (const [k, v] of Object.entries(o.bindings ?? {})) {
    if (Array.isArray(v)) for (const c of v) bindings.set(c, k)
    else bindings.set(Number(k), v)
  }
  const snap = o.snapshot
  return {
    secrets,
    device: { pk: o.device.pk ?? '', sk: o.device.sk },
    cursor: typeof o.cursor === 'number' ? o.cursor : 0,
    registered: o.registered !== false,
    heads,
    stuck: new Map(Object.entries(o.stuck ?? {})),
    bindings,
    snapshot: snap === undefined ? undefined : { seq: snap.seq, hash: unb64(snap.hash), heads: new Map(Object.entries(snap.heads)), covers: snap.covers ?? 0 },
    // Only shown to this person, never trusted for anything: a bad value is dropped, not fatal.
    ...(typeof o.syncedAt === 'number' && Number.isFinite(o.syncedAt) && o.syncedAt > 0 ? { lastSyncedAt: o.syncedAt } : {}),
    ...(prev === undefined ? {} : { previous: { secrets: secretsOf(prev.secrets), frontier: new Map(Object.entries(prev.frontier)), by: prev.by, members: Array.isArray(prev.members) ? prev.members : [] } }),
    ...(o.carry === undefined ? {} : { carry: o.carry.map(unb64) }),
    ...(o.suspects === undefined ? {} : { suspects: suspectsOf(o.suspects) })
  }
}

/**
 * Suspects kept per kind: the newest ones. A member with an edit link mints device keys at will,
 * and every meta write (one per envelope sealed) carries this record; past the cap, a device caught
 * long ago is forgotten at a restart, so at worst an honest snapshot maker is blamed for it.
 */
export const MAX_SUSPECTS = 256

function suspectsJson (s: Suspects | undefined): Pick<MetaJson, 'suspects'> {
  if (s === undefined) return {}
  const out: NonNullable<MetaJson['suspects']> = {}
  if (s.forked.length > 0) out.forked = s.forked.slice(-MAX_SUSPECTS)
  if (s.equivocated.length > 0) out.equivocated = s.equivocated.slice(-MAX_SUSPECTS)
  if (s.malformed.length > 0) out.malformed = s.malformed.slice(-MAX_SUSPECTS)
  return Object.keys(out).length === 0 ? {} : { suspects: out }
}

/** Only device keys are kept: anything else in the record is dropped (a name that is no key names nobody). */
function suspectsOf (j: NonNullable<MetaJson['suspects']>): Suspects {
  const keys = (x: unknown): string[] => Array.isArray(x) ? x.filter((a): a is string => typeof a === 'string' && /^[0-9a-f]{64}$/.test(a)) : []
  return { forked: keys(j.forked), equivocated: keys(j.equivocated), malformed: keys(j.malformed) }
}

/**
 * `heads` plus this session's own stored heads (writer.storedHeads), as ordinary stream heads for
 * the next session of this device: it reads those streams as anyone else's from where they stood.
 */
export function withOwnHeads (heads: ReadonlyMap<string, StreamHead>, deviceHex: string, own: readonly { stream: string; seq: number; hash: Uint8Array; cursor: number }[], needed: ReadonlySet<string> = new Set()): ReadonlyMap<string, StreamHead> {
  const out = new Map(heads)
  for (const h of own) {
    const k = `${deviceHex}:${h.stream}`
    if ((out.get(k)?.seq ?? -1) < h.seq) out.set(k, { seq: h.seq, hash: h.hash, cursor: h.cursor })
  }
  // Streams of this device's earlier sessions: those with envelopes still in the outbox (`needed`)
  // and the newest OWN_KEPT. Every session opens one, so keeping them all made the state (written
  // with every change) grow with the sessions ever run: 75 KB and 300 ms a session at 500.
  const prefix = deviceHex + ':'
  const older = [...out].filter(([k]) => k.startsWith(prefix) && !needed.has(k.slice(prefix.length)) && !own.some(h => prefix + h.stream === k))
  older.sort((a, b) => (b[1].cursor ?? 0) - (a[1].cursor ?? 0))
  for (const [k] of older.slice(OWN_KEPT)) out.delete(k)
  return out
}

/** Earlier sessions' streams of this device kept in the session state beyond those still needed. */
const OWN_KEPT = 8

/** This device's streams among `heads` (stream hex → seq): what earlier sessions had acknowledged. */
export function ownHeadsOf (heads: ReadonlyMap<string, StreamHead>, deviceHex: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const [k, h] of heads) if (k.startsWith(deviceHex + ':')) out.set(k.slice(deviceHex.length + 1), h.seq)
  return out
}
