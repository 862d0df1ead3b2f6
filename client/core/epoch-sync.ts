import { fromHex, toHex } from '../../shared/bytes.js'
import { open as openEnvelope } from '../../shared/envelope.js'
import type { Frame, FrameOf } from '../../shared/frame.js'
import { MsgType, parseEnvelope } from '../../shared/header.js'
import { deriveKeys, nextEpochSecrets, publicKeysOf, type SpaceKeys, type SpaceSecrets } from '../../shared/keys.js'
import { signRotate } from '../../shared/rotate-proof.js'
import { hash } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'
import { readBatch } from './apply.js'
import { acceptKeyChange, makeKeyChange, winner, type Accepted } from './key-change.js'
import type { Member } from './members.js'
import type { Meta } from './meta.js'
import type { StreamHeadRef } from './snapshot.js'
import type { WriteBatch } from './store.js'

/**
 * Moving a space to a new epoch, on this device (issue 11, parts 2 and 3).
 *
 * - **Taking a key change.** A `keyChanges` frame (pushed at a rotation, or answered to an old
 *   access key) is judged by key-change.ts under the current epoch's keys: only a certified
 *   editor's key change for exactly the next epoch counts, never the relay's word. Of rivals for one
 *   epoch the lowest envelope hash wins. If this device is kept, it flushes, takes its own
 *   envelopes that the key change's frontier does not cover (offline edits, unacknowledged ones)
 *   out of the outbox as plain updates to be sealed again in the new epoch (`carry`), stores the
 *   new secrets with the old ones and the frontier (`previous`), and says `moved`: the owner opens
 *   the space again (client.ts `reopen`). If it was removed, it keeps what it has, says so, and
 *   stops syncing.
 * - **Making one** (`rotate`): the remaining devices are the members list (members.ts, roles as
 *   their certificates prove) minus those removed, or exactly those kept; the relay is told the
 *   new public keys signed with the current write key. The relay pushes the key change to every
 *   joined device, this one included, which then takes it as above.
 * - **No rollback.** A device never goes back to an older epoch: the stored secrets only move
 *   forward, and the reader refuses older-epoch entries beyond the frontier (reader.ts).
 */
export type EpochEvent =
  | { readonly kind: 'moved'; readonly epoch: number; readonly secrets: SpaceSecrets }
  | { readonly kind: 'removed'; readonly by: string; readonly kept: number }

export interface EpochHost {
  readonly sodium: Sodium
  readonly keys: SpaceKeys
  readonly secrets: SpaceSecrets
  readonly devicePkHex: string
  readonly device: { readonly publicKey: Uint8Array; readonly privateKey: Uint8Array; readonly cert: Uint8Array | undefined }
  meta (): Meta
  encodeMeta (m: Meta): Uint8Array
  /** Own envelopes in the outbox (acknowledged or not). */
  outbox (): readonly Uint8Array[]
  flush (): Promise<void>
  whenStored (timeoutMs: number): Promise<void>
  write (b: WriteBatch): Promise<void>
  members (): readonly Member[]
  headRefs (): StreamHeadRef[]
  request (make: (reqId: number) => Frame): Promise<Frame>
  alert (code: string, message: string, extra?: { author?: string }): void
  /** The switch is stored (or this device was removed): stop syncing this session, then say `e`. */
  done (e: EpochEvent): void
}

export const REPLACED_MESSAGE = 'this link was replaced; ask a member for a new one'
export const REMOVED_MESSAGE = 'You were removed from this space: what this device had stays here, nothing added after reaches it.'

/** The Yjs updates inside own envelopes sealed under `keys` (not yet covered by `frontier`): what a new epoch seals again. */
export function carryOf (sodium: Sodium, keys: SpaceKeys, envelopes: readonly Uint8Array[], frontier: ReadonlyMap<string, number> = new Map()): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const env of envelopes) {
    const p = parseEnvelope(env)
    if (!p.ok || p.value.header.epoch !== keys.epoch) continue
    if (p.value.header.seq <= (frontier.get(`${toHex(p.value.header.author)}:${toHex(p.value.header.stream)}`) ?? -1)) continue
    const o = openEnvelope(sodium, keys, env, { types: [MsgType.update], certOk: true })
    const b = o.ok ? readBatch(o.value.plaintext) : undefined
    if (b?.ok === true) out.push(...b.value)
  }
  return out
}

/**
 * The keys a session opens with, given the stored state and the link it was opened with (issue
 * 11): a view link on a device holding the edit secret keeps the edit secret; a link of a newer
 * epoch (a new invitation after a rotation this device missed) replaces the keys, and the own
 * envelopes of the old epoch leave the outbox (the relay would refuse them) to be sealed again;
 * a link of an older epoch changes nothing (no rollback). Mutates `meta`; returns the outbox to use.
 */
export function adoptLink (sodium: Sodium, meta: Meta, given: SpaceSecrets | undefined, outbox: Uint8Array[]): { outbox: Uint8Array[]; drop: Uint8Array[] } {
  if (given !== undefined && given.epoch > meta.secrets.epoch) {
    meta.carry = [...meta.carry ?? [], ...carryOf(sodium, deriveKeys(sodium, meta.secrets), outbox)]
    meta.secrets = given
    // Read again from the start: the relay then serves the new epoch's snapshot (this device has
    // no frontier to read the old epoch's entries it missed with).
    meta.cursor = 0
    return { outbox: [], drop: outbox }
  }
  if (given?.epoch === meta.secrets.epoch && meta.secrets.writeSeed === undefined && given.writeSeed !== undefined) meta.secrets = { ...meta.secrets, writeSeed: given.writeSeed }
  return { outbox, drop: [] }
}

export class EpochSync {
  private switching = false
  private replacedSaid = false
  private markMoved: () => void = () => {}
  /** Resolves when this session starts moving (or is removed): a rotation in progress stops waiting. */
  private readonly moving = new Promise<void>(resolve => { this.markMoved = resolve })

  constructor (private readonly h: EpochHost) {}

  /** Once moved or removed, nothing more is sealed or sent by this session. */
  get over (): boolean { return this.switching }

  async onKeyChanges (f: FrameOf<'keyChanges'>): Promise<void> {
    if (this.switching) return
    let best: { env: Uint8Array; a: Accepted } | undefined
    for (const env of f.envelopes) {
      const p = parseEnvelope(env)
      if (p.ok && p.value.header.epoch < this.h.keys.epoch) {
        // A key change this device is past: the relay replays it (a rollback attempt). Nothing changes.
        this.h.alert('sync/old-epoch', `the relay sent a key change of epoch ${p.value.header.epoch} again; this device is in epoch ${this.h.keys.epoch} and stays there`)
        continue
      }
      if (!p.ok || p.value.header.epoch !== this.h.keys.epoch) continue
      const r = acceptKeyChange(this.h.sodium, this.h.keys, env, this.h.device)
      if (!r.ok) { this.h.alert('keychange/invalid', `a key change did not verify (${r.code}); ignored`); continue }
      if (best === undefined || winner(this.h.sodium, best.env, env) === env) best = { env, a: r.value }
    }
    if (best === undefined) return
    this.switching = true
    this.markMoved()
    const a = best.a
    if (a.kind === 'removed') {
      // Named as removed: this device was a member. Not named at all: it came with a link the
      // key change replaced (a new device, or one nobody knew was there).
      const named = a.body.removed.some(d => toHex(d) === this.h.devicePkHex)
      if (named) this.h.alert('space/removed', REMOVED_MESSAGE, { author: a.author })
      else this.replaced(REPLACED_MESSAGE)
      this.h.done({ kind: 'removed', by: a.author, kept: this.h.outbox().length })
      return
    }
    await this.h.flush().catch(() => {})
    const frontier = new Map(a.body.frontier.map(x => [`${toHex(x.author)}:${toHex(x.stream)}`, x.seq]))
    const outbox = [...this.h.outbox()]
    const carry = [...this.h.meta().carry ?? [], ...carryOf(this.h.sodium, this.h.keys, outbox, frontier)]
    // The session's own meta object: every later write of this session (its close included) carries the new epoch.
    const meta = this.h.meta()
    meta.secrets = a.secrets
    // Who stays, as this epoch knew them (name, colour, role): the new epoch's list starts from it,
    // so a member that has not joined the new epoch yet is still kept by the next rotation.
    const keptKeys = new Set(a.body.kept.map(k => toHex(k.device)))
    const members = this.h.members().filter(m => keptKeys.has(m.device)).map(m => ({ device: m.device, name: m.name, colour: m.colour, role: m.role }))
    meta.previous = { secrets: this.h.secrets, frontier, by: a.author, members }
    meta.carry = carry
    await this.h.write({ outboxDrop: outbox, meta: this.h.encodeMeta(meta) })
    this.h.done({ kind: 'moved', epoch: a.secrets.epoch, secrets: a.secrets })
  }

  /**
   * Joined and caught up in a new epoch this device moved the space to: it seals the snapshot of
   * the new epoch at once (joiners with a new link start from it), once.
   */
  async afterJoin (snapshot: () => Promise<string>): Promise<void> {
    const m = this.h.meta()
    if (m.previous === undefined || m.previous.by !== this.h.devicePkHex) return
    if (await snapshot() === 'stored') m.previous = { ...m.previous, by: '' }
  }

  /** The relay refused our access key as replaced; the key changes it sent came first (or it sent none we could take). */
  replaced (message: string): void {
    if (this.replacedSaid || (this.switching && message !== REPLACED_MESSAGE)) return
    this.replacedSaid = true
    this.h.alert('link/replaced', message)
  }

  /**
   * Moves the space to the next epoch without `remove` (device hex keys), or keeping exactly
   * `keep` (and this device). 'stored': the relay took it (the key change then arrives here like
   * everywhere); 'conflict': another editor's rotation from this epoch came first (take theirs,
   * then rotate again if a removal is still wanted).
   */
  async rotate (opts: { remove?: readonly string[]; keep?: readonly string[] }): Promise<'stored' | 'conflict' | 'offline' | 'read-only'> {
    const write = this.h.keys.write
    if (write === undefined || this.h.device.cert === undefined) return 'read-only'
    await Promise.race([this.h.whenStored(10_000).catch(() => {}), this.moving])
    if (this.switching) return 'conflict'
    const remove = new Set(opts.remove ?? [])
    const keep = opts.keep === undefined ? undefined : new Set([...opts.keep, this.h.devicePkHex])
    const all = this.h.members()
    const kept = all.filter(m => m.self || (keep === undefined ? !remove.has(m.device) : keep.has(m.device)))
    const removed = all.filter(m => !kept.includes(m)).map(m => m.device)
    const s = this.h.sodium
    const next = nextEpochSecrets(s, this.h.secrets)
    const hexBytes = (x: string): Uint8Array => fromHex(x) ?? new Uint8Array(0)
    const env = makeKeyChange(s, this.h.keys, { publicKey: this.h.device.publicKey, privateKey: this.h.device.privateKey, cert: this.h.device.cert },
      next, this.h.headRefs(), kept.map(m => ({ device: hexBytes(m.device), role: m.role })), removed.map(hexBytes), Date.now())
    const pub = publicKeysOf(s, next)
    const signature = signRotate(s, this.h.keys.spaceId, next.epoch, pub.accessPk, pub.writePk, hash(s, env), write.privateKey)
    if (this.switching) return 'conflict'
    const answer = await this.h.request(reqId => ({ type: 'rotate', reqId, spaceId: this.h.keys.spaceId, epoch: next.epoch, ...pub, signature, keyChange: env }))
    if (answer.type === 'ok') return 'stored'
    // Another editor's key change reached this session first (it moved on, and its requests ended with it).
    if (answer.type === 'error' && (answer.code === 'relay/epoch-conflict' || this.switching)) return 'conflict'
    return 'offline'
  }
}
